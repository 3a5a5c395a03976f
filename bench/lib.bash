# SPDX-License-Identifier: Apache-2.0
# Helpers the benchmark scripts share. Source from bash after defining
# log(), die() and the variable T (the script's temp dir).

# ensure_tools COMMAND:PACKAGE...: install with apt-get the packages
# whose commands are missing.
ensure_tools() {
	local missing=() t
	for t in "$@"; do
		command -v "${t%%:*}" >/dev/null || missing+=("${t#*:}")
	done
	if ((${#missing[@]})); then
		log "installing ${missing[*]}"
		DEBIAN_FRONTEND=noninteractive apt-get install -y -qq \
			--no-install-recommends "${missing[@]}" >/dev/null
	fi
}

# start_containerd: start a private containerd with its root, socket
# and log in $T. Its state goes to $CTRD_STATE, by default also in $T.
# Sets CTRD_PID and C, the ctr command line in namespace $NS.
start_containerd() {
	local sock=$T/containerd.sock i

	C="ctr -a $sock -n $NS"
	cat >"$T/config.toml" <<-CONF
		version = 2
		root = "$T/containerd-root"
		state = "${CTRD_STATE:-$T/containerd-state}"
		disabled_plugins = ["io.containerd.grpc.v1.cri"]
		[grpc]
		  address = "$sock"
		[ttrpc]
		  address = "$sock.ttrpc"
		[debug]
		  level = "warn"
	CONF
	log "starting containerd in $T"
	setsid containerd --config "$T/config.toml" >"$T/containerd.log" 2>&1 </dev/null &
	CTRD_PID=$!
	for ((i = 0; i < 100; i++)); do
		$C version >/dev/null 2>&1 && return
		kill -0 "$CTRD_PID" 2>/dev/null ||
			die "containerd exited: $(tail -3 "$T/containerd.log")"
		sleep 0.1
	done
	die "containerd did not respond within 10 s"
}
