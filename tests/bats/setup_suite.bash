# SPDX-License-Identifier: Apache-2.0
# Suite setup of the ckit bats tests, run once per bats run: builds the
# fixture images (cached in $CKIT_TEST_CACHE) and pushes them to one
# docker-registry on 127.0.0.1, which teardown_suite stops by its PID.
#
# Exported for the tests:
#   REGISTRY                    127.0.0.1:<port> of that registry (plain HTTP)
#   CKIT_TEST_CACHE             fixture cache, default /var/tmp/ckit-test-cache
#   CKIT_TEST_REGISTRY_DIR      its config.yml, registry.log and storage/
#   CKIT_TEST_REGISTRY_STORAGE  its storage root (blobs under docker/registry/v2)
#   CKIT_TEST_REGISTRY_LOG      its log, with one access log line per request
#   CKIT_TEST_REGISTRY_PID      its process id

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
# on each request, so the truncated test blob is served with its shorter
# Content-Length.
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
		  secret: ckit-bats-tests
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
			export CKIT_TEST_REGISTRY_PID=$pid
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

setup_suite() {
	local top

	top=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
	export CKIT_TEST_CACHE=${CKIT_TEST_CACHE:-/var/tmp/ckit-test-cache}
	export CKIT_TEST_REGISTRY_DIR=$BATS_SUITE_TMPDIR/registry
	export CKIT_TEST_REGISTRY_STORAGE=$CKIT_TEST_REGISTRY_DIR/storage
	export CKIT_TEST_REGISTRY_LOG=$CKIT_TEST_REGISTRY_DIR/registry.log

	"$top/tests/bats/fixtures/build-images" build
	registry_start "$CKIT_TEST_REGISTRY_DIR"
	"$top/tests/bats/fixtures/build-images" push
}

# Stop the registry, after checking that the PID still belongs to it.
teardown_suite() {
	local pid=${CKIT_TEST_REGISTRY_PID:-}

	if [[ -z $pid ]]; then
		return 0
	fi
	if [[ $(tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null) == *"$CKIT_TEST_REGISTRY_DIR/config.yml"* ]]; then
		kill "$pid"
		wait "$pid" 2>/dev/null || true
	fi
}
