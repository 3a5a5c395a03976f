# SPDX-License-Identifier: Apache-2.0
# Starts and stops Debian's docker-registry on a free port of 127.0.0.1,
# for the tests and for `make demo`.  Source it from bash.
#
# registry_start DIR   start it with config, storage and log in DIR and
#                      export REGISTRY=127.0.0.1:<port> and REGISTRY_PID
# registry_stop DIR    stop the registry started with DIR, by its PID

# Print a port that no socket on this host uses, or nothing.  The search
# starts at a random port below the ephemeral range, which outgoing
# connections take their ports from.
registry_free_port() {
	local low high port attempt

	read -r low high </proc/sys/net/ipv4/ip_local_port_range
	if ((low > 11024)); then
		high=$((low - 1))
		low=10000
	else
		low=$((high + 1))
		high=65535
	fi
	port=$(shuf -i "$low-$high" -n 1)
	for ((attempt = 0; attempt < 100; attempt++)); do
		if [[ -z $(ss -Htan "( sport = :$port )") ]]; then
			echo "$port"
			return
		fi
		port=$((port >= high ? low : port + 1))
	done
}

# Without a blob descriptor cache, docker-registry 2.8 stats the blob file
# on each request, so a blob file cut short on disk is served with its
# shorter Content-Length.
registry_write_config() {
	local dir=$1 port=$2

	cat >"$dir/config.yml" <<-EOF
		version: 0.1
		log:
		  level: info
		  formatter: text
		storage:
		  filesystem:
		    rootdirectory: $dir/storage
		  delete:
		    enabled: true
		  maintenance:
		    uploadpurging:
		      enabled: false
		http:
		  addr: 127.0.0.1:$port
		  secret: ckit-loopback-registry
	EOF
}

# Wait until registry PID returns 200 for GET /v2/ on PORT, for at most
# 10 s.  Fail if the process exits first or another process listens there.
registry_wait() {
	local pid=$1 port=$2 attempt

	for ((attempt = 0; attempt < 100; attempt++)); do
		if ! kill -0 "$pid" 2>/dev/null; then
			return 1
		fi
		if curl -fsS --noproxy '*' --max-time 1 -o /dev/null \
			"http://127.0.0.1:$port/v2/" 2>/dev/null; then
			[[ $(ss -Htlnp "( sport = :$port )") == *"pid=$pid,"* ]]
			return
		fi
		sleep 0.1
	done
	return 1
}

# Start docker-registry with its files in DIR on a free port.  If another
# process takes that port first, retry on a new one.
registry_start() {
	local dir=$1 attempt port pid

	command -v docker-registry >/dev/null ||
		{ echo "docker-registry not found; run scripts/install-deps" >&2; return 1; }
	mkdir -p "$dir/storage"
	for ((attempt = 0; attempt < 5; attempt++)); do
		port=$(registry_free_port)
		if [[ -z $port ]]; then
			continue
		fi
		registry_write_config "$dir" "$port"
		# Bats reads its output channel, fd 3, until every writer has
		# closed it, so the registry must not inherit it.  The parent
		# death signal stops the registry when bats is killed before
		# teardown_suite runs.
		setpriv --pdeathsig TERM -- docker-registry serve "$dir/config.yml" \
			>>"$dir/registry.log" 2>&1 </dev/null 3>&- &
		pid=$!
		if registry_wait "$pid" "$port"; then
			export REGISTRY=127.0.0.1:$port
			export REGISTRY_PID=$pid
			echo "$pid" >"$dir/registry.pid"
			return 0
		fi
		kill "$pid" 2>/dev/null || true
		wait "$pid" 2>/dev/null || true
		echo "docker-registry did not start on port $port" >&2
	done
	echo "docker-registry failed to start; last lines of $dir/registry.log:" >&2
	tail -n 20 "$dir/registry.log" >&2
	return 1
}

# Stop the registry of DIR, after checking that its PID still belongs to
# a docker-registry serving DIR's config.
registry_stop() {
	local dir=$1 pid

	pid=$(cat "$dir/registry.pid" 2>/dev/null) || return 0
	if [[ $(tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null) == *"$dir/config.yml"* ]]; then
		kill "$pid"
		wait "$pid" 2>/dev/null || true
	fi
	rm -f "$dir/registry.pid"
}
