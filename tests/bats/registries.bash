# SPDX-License-Identifier: Apache-2.0
# Extra registries for the registry client tests, all on 127.0.0.1: Debian's
# docker-registry with TLS (a CA made here with openssl), HTTP Basic auth
# (htpasswd) or token auth (fixtures/token-server.py), and the loopback
# fault server fixtures/fault-server.py.  Each is stopped by the PID it
# recorded.  Load it after helpers with `load registries`.

# shellcheck source=../../scripts/registry.bash
source "$TOP/scripts/registry.bash"

TEST_USER=ckit-user
TEST_PASSWORD='s3cret-Pa55:word'

# tls_make DIR: write a CA (ca.pem, ca.key), a server certificate for
# 127.0.0.1 and localhost (server.pem, server.key) and a client certificate
# (client.pem, client.key), all signed by that CA, into DIR.
tls_make() {
	local dir=$1

	mkdir -p "$dir"
	openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj /CN=ckit-test-ca \
		-keyout "$dir/ca.key" -out "$dir/ca.pem" 2>/dev/null
	openssl req -newkey rsa:2048 -nodes -subj /CN=127.0.0.1 \
		-keyout "$dir/server.key" -out "$dir/server.csr" 2>/dev/null
	printf 'subjectAltName=IP:127.0.0.1,DNS:localhost\n' >"$dir/san.ext"
	openssl x509 -req -in "$dir/server.csr" -CA "$dir/ca.pem" \
		-CAkey "$dir/ca.key" -CAcreateserial -days 2 \
		-extfile "$dir/san.ext" -out "$dir/server.pem" 2>/dev/null
	openssl req -newkey rsa:2048 -nodes -subj /CN=ckit-client \
		-keyout "$dir/client.key" -out "$dir/client.csr" 2>/dev/null
	printf 'extendedKeyUsage=clientAuth\n' >"$dir/client.ext"
	openssl x509 -req -in "$dir/client.csr" -CA "$dir/ca.pem" \
		-CAkey "$dir/ca.key" -CAcreateserial -days 2 \
		-extfile "$dir/client.ext" -out "$dir/client.pem" 2>/dev/null
}

# Wait until 127.0.0.1:PORT responds to GET /v2/ with any HTTP status, for at
# most 10 s, while PID lives.
wait_http() {
	local pid=$1 port=$2 scheme=${3:-http} attempt code cert=()

	# A registry that requests client certificates gets the test's.
	if [[ $scheme == https ]]; then
		cert=(--cert "$TLS_DIR/client.pem" --key "$TLS_DIR/client.key")
	fi
	for ((attempt = 0; attempt < 100; attempt++)); do
		kill -0 "$pid" 2>/dev/null || return 1
		code=$(curl -sk --noproxy '*' --max-time 1 -o /dev/null "${cert[@]}" \
			-w '%{http_code}' "$scheme://127.0.0.1:$port/v2/" || true)
		[[ $code != 000 && -n $code ]] && return 0
		sleep 0.1
	done
	return 1
}

# extra_registry_start DIR [tls] [htpasswd FILE] [token REALM CERT]
#                          [clientca FILE]
# Start docker-registry with storage, config and log in DIR.  Sets
# EXTRA_REGISTRY (127.0.0.1:port) and writes DIR/registry.pid.
extra_registry_start() {
	local dir=$1 tls=0 htpasswd='' realm='' tokencert='' clientca='' port pid
	local scheme=http
	shift
	while (($#)); do
		case $1 in
		tls) tls=1 scheme=https ;;
		htpasswd) htpasswd=$2; shift ;;
		token) realm=$2 tokencert=$3; shift 2 ;;
		clientca) clientca=$2; shift ;;
		*) echo "extra_registry_start: unknown option '$1'" >&2; return 1 ;;
		esac
		shift
	done

	mkdir -p "$dir/storage"
	port=$(registry_free_port)
	{
		printf 'version: 0.1\nlog:\n  level: info\n  formatter: text\n'
		printf 'storage:\n  filesystem:\n    rootdirectory: %s/storage\n' "$dir"
		printf '  delete:\n    enabled: true\n'
		printf 'http:\n  addr: 127.0.0.1:%s\n  secret: ckit-extra\n' "$port"
		if ((tls)); then
			printf '  tls:\n    certificate: %s\n    key: %s\n' \
				"$TLS_DIR/server.pem" "$TLS_DIR/server.key"
			[[ -n $clientca ]] && printf '    clientcas:\n      - %s\n' "$clientca"
		fi
		if [[ -n $htpasswd ]]; then
			printf 'auth:\n  htpasswd:\n    realm: ckit-test\n    path: %s\n' "$htpasswd"
		elif [[ -n $realm ]]; then
			printf 'auth:\n  token:\n    realm: %s\n    service: ckit-registry\n' "$realm"
			printf '    issuer: ckit-test-issuer\n    rootcertbundle: %s\n' "$tokencert"
		fi
	} >"$dir/config.yml"

	setpriv --pdeathsig TERM -- docker-registry serve "$dir/config.yml" \
		>>"$dir/registry.log" 2>&1 </dev/null 3>&- &
	pid=$!
	echo "$pid" >"$dir/registry.pid"
	if ! wait_http "$pid" "$port" "$scheme"; then
		echo "docker-registry in '$dir' did not start:" >&2
		tail -n 20 "$dir/registry.log" >&2
		return 1
	fi
	EXTRA_REGISTRY=127.0.0.1:$port
}

# token_server_start DIR [TTL]: start fixtures/token-server.py with a key
# and certificate of its own in DIR and one user, $TEST_USER.  Sets
# TOKEN_PORT, TOKEN_LOG and writes DIR/token.pid.
token_server_start() {
	local dir=$1 ttl=${2:-300} pid attempt

	mkdir -p "$dir"
	openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj /CN=ckit-token \
		-keyout "$dir/token.key" -out "$dir/token.pem" 2>/dev/null
	printf '%s:%s\n' "$TEST_USER" "$TEST_PASSWORD" >"$dir/users"
	TOKEN_LOG=$dir/token.log
	: >"$TOKEN_LOG"
	python3 "$FIXTURES/token-server.py" "$dir/token.port" "$dir/token.key" \
		"$dir/token.pem" "$dir/users" "$TOKEN_LOG" "$ttl" \
		>"$dir/token.err" 2>&1 </dev/null 3>&- &
	pid=$!
	echo "$pid" >"$dir/token.pid"
	for ((attempt = 0; attempt < 100; attempt++)); do
		if [[ -s $dir/token.port ]]; then
			TOKEN_PORT=$(<"$dir/token.port")
			return 0
		fi
		sleep 0.1
	done
	cat "$dir/token.err" >&2
	return 1
}

# stop_pid_file FILE: kill the process whose PID FILE contains and wait.
stop_pid_file() {
	local pid

	pid=$(cat "$1" 2>/dev/null) || return 0
	kill "$pid" 2>/dev/null || true
	wait "$pid" 2>/dev/null || true
	rm -f "$1"
}

# copy_image SRC DST [skopeo destination options...]: copy an image from
# the suite registry to another registry with skopeo.
copy_image() {
	local src=$1 dst=$2
	shift 2
	skopeo copy -q --src-tls-verify=false "docker://$REGISTRY/$src" \
		"docker://$dst" "$@"
}

# write_docker_config DIR JSON: write DIR/config.json for DOCKER_CONFIG.
write_docker_config() {
	mkdir -p "$1"
	printf '%s\n' "$2" >"$1/config.json"
}

# write_hosts_toml DIR HOST TEXT: write DIR/HOST/hosts.toml.
write_hosts_toml() {
	mkdir -p "$1/$2"
	printf '%s\n' "$3" >"$1/$2/hosts.toml"
}

# fault_start MODES: start fixtures/fault-server.py in front of $REGISTRY
# with MODES (see the script).  Sets FAULT (127.0.0.1:port) and FAULT_LOG
# and writes $BATS_TEST_TMPDIR/fault.pid; call fault_stop in teardown.
fault_start() {
	local dir=$BATS_TEST_TMPDIR attempt

	FAULT_LOG=$dir/fault.log
	: >"$FAULT_LOG"
	rm -f "$dir/fault.port"
	python3 "$FIXTURES/fault-server.py" "$dir/fault.port" "$REGISTRY" "$1" \
		"$FAULT_LOG" >"$dir/fault.err" 2>&1 </dev/null 3>&- &
	echo $! >"$dir/fault.pid"
	for ((attempt = 0; attempt < 100; attempt++)); do
		if [[ -s $dir/fault.port ]]; then
			FAULT=127.0.0.1:$(<"$dir/fault.port")
			return 0
		fi
		sleep 0.1
	done
	cat "$dir/fault.err" >&2
	return 1
}

fault_stop() {
	stop_pid_file "$BATS_TEST_TMPDIR/fault.pid"
}
