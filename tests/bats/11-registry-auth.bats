#!/usr/bin/env bats
# SPDX-License-Identifier: Apache-2.0
# The registry client's credentials, tokens, TLS and hosts.toml handling,
# through cpull, against docker-registry instances that setup_file starts
# on 127.0.0.1: HTTP Basic (htpasswd) behind TLS, token auth with the
# token server of fixtures/token-server.py, and TLS with client
# certificates.  The suite registry serves as a mirror.

load helpers
load registries

setup_file() {
	local d=$BATS_FILE_TMPDIR

	export TLS_DIR=$d/tls
	tls_make "$TLS_DIR"
	mkdir -p "$d/certs"
	cp "$TLS_DIR/ca.pem" "$d/certs/ca.crt"
	cp "$TLS_DIR/client.pem" "$d/certs/client.cert"
	cp "$TLS_DIR/client.key" "$d/certs/client.key"

	htpasswd -Bbn "$TEST_USER" "$TEST_PASSWORD" >"$d/htpasswd" 2>/dev/null
	extra_registry_start "$d/basic" tls htpasswd "$d/htpasswd"
	export BASIC=$EXTRA_REGISTRY
	copy_image test/busybox:latest "$BASIC/test/busybox:latest" \
		--dest-cert-dir "$d/certs" --dest-creds "$TEST_USER:$TEST_PASSWORD"

	token_server_start "$d/token"
	export TOKEN_LOG TOKEN_PORT
	extra_registry_start "$d/tokenreg" token \
		"http://127.0.0.1:$TOKEN_PORT/token" "$d/token/token.pem"
	export TOKENREG=$EXTRA_REGISTRY
	for image in busybox layers; do
		copy_image "test/$image:latest" "$TOKENREG/test/$image:latest" \
			--dest-tls-verify=false --dest-creds "$TEST_USER:$TEST_PASSWORD"
	done
	copy_image test/busybox:latest "$TOKENREG/test/public/busybox:latest" \
		--dest-tls-verify=false --dest-creds "$TEST_USER:$TEST_PASSWORD"

	extra_registry_start "$d/mtls" tls clientca "$TLS_DIR/ca.pem"
	export MTLS=$EXTRA_REGISTRY
	copy_image test/busybox:latest "$MTLS/test/busybox:latest" \
		--dest-cert-dir "$d/certs"
}

teardown_file() {
	local d=$BATS_FILE_TMPDIR

	stop_pid_file "$d/basic/registry.pid"
	stop_pid_file "$d/tokenreg/registry.pid"
	stop_pid_file "$d/mtls/registry.pid"
	stop_pid_file "$d/token/token.pid"
}

setup() {
	ckit_setup
	export DOCKER_CONFIG=$BATS_TEST_TMPDIR/docker
	export CKIT_HOSTS_DIR=$BATS_TEST_TMPDIR/hosts
	export HOME=$BATS_TEST_TMPDIR/home
	mkdir -p "$HOME" "$CKIT_HOSTS_DIR"
	: >"$TOKEN_LOG"
}

teardown() {
	ckit_teardown
}

auth_b64() {
	printf '%s:%s' "$TEST_USER" "$TEST_PASSWORD" | base64 -w0
}

# hosts.toml for the Basic registry that trusts the test CA.
trust_basic() {
	write_hosts_toml "$CKIT_HOSTS_DIR" "$BASIC" \
		"server = \"https://$BASIC\"
ca = \"$TLS_DIR/ca.pem\""
}

# Use fixtures/docker-credential-test as helper NAME with one entry.
use_helper() {
	export PATH=$FIXTURES:$PATH
	export CKIT_TEST_HELPER_LOG=$BATS_TEST_TMPDIR/helper.log
	export CKIT_TEST_HELPER_DB=$BATS_TEST_TMPDIR/helper.db
	printf '%s %s %s\n' "$1" "$TEST_USER" "$TEST_PASSWORD" >"$CKIT_TEST_HELPER_DB"
}

# Fail if TEXT contains the password, its base64 form or a JWT.
assert_no_secret() {
	assert_not_contains "$1" "$TEST_PASSWORD" "output"
	assert_not_contains "$1" "$(auth_b64)" "output"
	assert_not_contains "$1" "eyJ" "output (a JWT)"
}

@test "cpull (Basic, config.json auth) pulls" {
	trust_basic
	write_docker_config "$DOCKER_CONFIG" \
		"{\"auths\": {\"$BASIC\": {\"auth\": \"$(auth_b64)\"}}}"
	run_tool 0 cpull "$BASIC/test/busybox"
	assert_eq "$output" "$BASIC/test/busybox:latest@$(fixture_digest busybox)" \
		"stdout"
	assert_eq "$(store_blob_count)" 3 "blob count"
}

@test "cpull (Basic, keys with scheme) pulls" {
	trust_basic
	write_docker_config "$DOCKER_CONFIG" "{\"auths\": {\"https://$BASIC/v1/\":
		{\"username\": \"$TEST_USER\", \"password\": \"$TEST_PASSWORD\"}}}"
	run_tool 0 cpull "$BASIC/test/busybox"
}

@test "cpull (Basic, ~/.docker/config.json) pulls" {
	unset DOCKER_CONFIG
	trust_basic
	write_docker_config "$HOME/.docker" \
		"{\"auths\": {\"$BASIC\": {\"auth\": \"$(auth_b64)\"}}}"
	run_tool 0 cpull "$BASIC/test/busybox"
}

@test "cpull (Basic, no credentials) says how to log in" {
	trust_basic
	run_tool 1 cpull "$BASIC/test/busybox"
	assert_contains "$stderr" \
		"registry '$BASIC' requires a user name and password (HTTP Basic)" \
		"stderr"
	assert_contains "$stderr" "--user or docker login" "stderr"
	assert_eq "$(store_blob_count)" 0 "blob count"
}

@test "cpull (Basic, wrong password) names the source" {
	trust_basic
	write_docker_config "$DOCKER_CONFIG" "{\"auths\": {\"$BASIC\":
		{\"auth\": \"$(printf '%s:wrong' "$TEST_USER" | base64 -w0)\"}}}"
	run_tool 1 cpull "$BASIC/test/busybox"
	assert_contains "$stderr" "registry '$BASIC' denied access" "stderr"
	assert_contains "$stderr" "user $TEST_USER" "stderr"
	assert_contains "$stderr" "$DOCKER_CONFIG/config.json" "stderr"
}

@test "cpull (invalid auth in config.json) fails" {
	write_docker_config "$DOCKER_CONFIG" \
		"{\"auths\": {\"$REGISTRY\": {\"auth\": \"no colon\"}}}"
	run_tool 1 cpull "$REGISTRY/test/busybox"
	assert_contains "$stderr" "invalid \"auth\" for '$REGISTRY'" "stderr"
}

@test "cpull (config.json not JSON) names the position" {
	write_docker_config "$DOCKER_CONFIG" '{"auths": {'
	run_tool 1 cpull "$REGISTRY/test/busybox"
	assert_contains "$stderr" "invalid Docker config '$DOCKER_CONFIG/config.json': 2:" \
		"stderr"
}

@test "cpull (token, credHelpers) pulls" {
	use_helper "$TOKENREG"
	write_docker_config "$DOCKER_CONFIG" \
		"{\"credHelpers\": {\"$TOKENREG\": \"test\"}}"
	run_tool 0 cpull "$TOKENREG/test/busybox"
	assert_eq "$output" "$TOKENREG/test/busybox:latest@$(fixture_digest busybox)" \
		"stdout"
	assert_eq "$(<"$CKIT_TEST_HELPER_LOG")" "get $TOKENREG" "helper calls"
	assert_contains "$(<"$TOKEN_LOG")" "user=$TEST_USER grant=get status=200" \
		"token log"
}

@test "cpull (token, credsStore) pulls" {
	use_helper "$TOKENREG"
	write_docker_config "$DOCKER_CONFIG" '{"credsStore": "test"}'
	run_tool 0 cpull "$TOKENREG/test/busybox"
	assert_eq "$(<"$CKIT_TEST_HELPER_LOG")" "get $TOKENREG" "helper calls"
}

@test "cpull (credsStore without entry) uses auths" {
	use_helper other.example
	write_docker_config "$DOCKER_CONFIG" "{\"credsStore\": \"test\",
		\"auths\": {\"$TOKENREG\": {\"auth\": \"$(auth_b64)\"}}}"
	run_tool 0 cpull "$TOKENREG/test/busybox"
	assert_contains "$(<"$TOKEN_LOG")" "user=$TEST_USER" "token log"
}

@test "cpull (credential helper fails) reports it" {
	use_helper "$TOKENREG"
	export CKIT_TEST_HELPER_FAIL="keychain locked"
	write_docker_config "$DOCKER_CONFIG" \
		"{\"credHelpers\": {\"$TOKENREG\": \"test\"}}"
	run_tool 1 cpull "$TOKENREG/test/busybox"
	assert_contains "$stderr" \
		"credential helper 'docker-credential-test' failed for '$TOKENREG' with status 3: keychain locked" \
		"stderr"
}

@test "cpull (credential helper missing) reports it" {
	write_docker_config "$DOCKER_CONFIG" \
		"{\"credHelpers\": {\"$TOKENREG\": \"nosuch\"}}"
	run_tool 1 cpull "$TOKENREG/test/busybox"
	assert_contains "$stderr" \
		"run credential helper 'docker-credential-nosuch': No such file" \
		"stderr"
}

@test "cpull (token, identity token) uses the OAuth POST" {
	write_docker_config "$DOCKER_CONFIG" "{\"auths\": {\"$TOKENREG\":
		{\"identitytoken\": \"refresh-$TEST_USER\"}}}"
	run_tool 0 cpull "$TOKENREG/test/busybox"
	assert_contains "$(<"$TOKEN_LOG")" \
		"POST service=ckit-registry scopes=repository:test/busybox:pull user=$TEST_USER grant=refresh_token status=200" \
		"token log"
}

@test "cpull (token, anonymous, public repository) pulls" {
	run_tool 0 cpull "$TOKENREG/test/public/busybox"
	assert_contains "$(<"$TOKEN_LOG")" "user=- grant=get status=200" "token log"
}

@test "cpull (token, anonymous, private repository) is denied" {
	run_tool 1 cpull "$TOKENREG/test/busybox"
	assert_contains "$stderr" \
		"registry '$TOKENREG' denied anonymous access to repository 'test/busybox'" \
		"stderr"
	assert_contains "$stderr" "--user or docker login" "stderr"
}

@test "cpull (token, wrong password) names the token server" {
	write_docker_config "$DOCKER_CONFIG" "{\"auths\": {\"$TOKENREG\":
		{\"username\": \"$TEST_USER\", \"password\": \"wrong\"}}}"
	run_tool 1 cpull "$TOKENREG/test/busybox"
	assert_contains "$stderr" \
		"token server '127.0.0.1:$TOKEN_PORT' rejected the credentials of user '$TEST_USER' (HTTP 401)" \
		"stderr"
}

@test "cpull (token) asks once for a multi-layer pull" {
	write_docker_config "$DOCKER_CONFIG" \
		"{\"auths\": {\"$TOKENREG\": {\"auth\": \"$(auth_b64)\"}}}"
	run_tool 0 cpull "$TOKENREG/test/layers"
	assert_eq "$(grep -c 'status=200' "$TOKEN_LOG")" 1 "token requests"
	assert_contains "$(<"$TOKEN_LOG")" \
		"GET service=ckit-registry scopes=repository:test/layers:pull user=$TEST_USER" \
		"token log"
}

@test "cpull -vv (credentials) prints no secret" {
	trust_basic
	write_docker_config "$DOCKER_CONFIG" "{\"auths\": {
		\"$BASIC\": {\"auth\": \"$(auth_b64)\"},
		\"$TOKENREG\": {\"auth\": \"$(auth_b64)\"}}}"
	run_tool 0 cpull -vv "$BASIC/test/busybox"
	assert_contains "$stderr" "(with credentials)" "stderr"
	assert_no_secret "$stderr"
	CKIT_DEBUG=1 run_tool 0 cpull "$TOKENREG/test/layers"
	assert_contains "$stderr" "(with token)" "stderr"
	assert_no_secret "$stderr"
}

@test "cpull (hosts.toml without ca) fails untrusted" {
	write_hosts_toml "$CKIT_HOSTS_DIR" "$BASIC" "server = \"https://$BASIC\""
	run_tool 1 cpull "$BASIC/test/busybox"
	assert_contains "$stderr" "TLS certificate of '$BASIC' is not trusted" \
		"stderr"
}

@test "cpull (hosts.toml skip_verify) connects" {
	write_hosts_toml "$CKIT_HOSTS_DIR" "$BASIC" "server = \"https://$BASIC\"
skip_verify = true"
	write_docker_config "$DOCKER_CONFIG" \
		"{\"auths\": {\"$BASIC\": {\"auth\": \"$(auth_b64)\"}}}"
	run_tool 0 cpull "$BASIC/test/busybox"
}

@test "cpull (client certificate) passes mutual TLS" {
	write_hosts_toml "$CKIT_HOSTS_DIR" "$MTLS" "server = \"https://$MTLS\"
ca = \"$TLS_DIR/ca.pem\"
client = [[\"$TLS_DIR/client.pem\", \"$TLS_DIR/client.key\"]]"
	run_tool 0 cpull "$MTLS/test/busybox"
}

@test "cpull (no client certificate) fails the handshake" {
	write_hosts_toml "$CKIT_HOSTS_DIR" "$MTLS" "server = \"https://$MTLS\"
ca = \"$TLS_DIR/ca.pem\""
	run_tool 1 cpull "$MTLS/test/busybox"
	assert_eq "$(store_blob_count)" 0 "blob count"
}

@test "cpull (relative ca path) reads it beside hosts.toml" {
	mkdir -p "$CKIT_HOSTS_DIR/$MTLS"
	cp "$TLS_DIR/ca.pem" "$TLS_DIR/client.pem" "$TLS_DIR/client.key" \
		"$CKIT_HOSTS_DIR/$MTLS/"
	write_hosts_toml "$CKIT_HOSTS_DIR" "$MTLS" "server = \"https://$MTLS\"
ca = [\"ca.pem\"]
client = [[\"client.pem\", \"client.key\"]]"
	run_tool 0 cpull "$MTLS/test/busybox"
}

@test "cpull (Docker's ca.crt and client.cert) passes mutual TLS" {
	mkdir -p "$CKIT_HOSTS_DIR/$MTLS"
	cp "$TLS_DIR/ca.pem" "$CKIT_HOSTS_DIR/$MTLS/ca.crt"
	cp "$TLS_DIR/client.pem" "$CKIT_HOSTS_DIR/$MTLS/client.cert"
	cp "$TLS_DIR/client.key" "$CKIT_HOSTS_DIR/$MTLS/client.key"
	run_tool 0 cpull "$MTLS/test/busybox"
	assert_eq "$(store_blob_count)" 3 "blob count"
}

@test "cpull (Docker's client.cert, no client.key) names the files" {
	mkdir -p "$CKIT_HOSTS_DIR/$MTLS"
	cp "$TLS_DIR/ca.pem" "$CKIT_HOSTS_DIR/$MTLS/ca.crt"
	cp "$TLS_DIR/client.pem" "$CKIT_HOSTS_DIR/$MTLS/client.cert"
	run_tool 1 cpull "$MTLS/test/busybox"
	assert_contains "$stderr" "TLS files for '$MTLS' are unusable" "stderr"
	assert_eq "$(store_blob_count)" 0 "blob count"
}

@test "cpull (host_port_ directory) is found" {
	mkdir -p "$CKIT_HOSTS_DIR/${MTLS%:*}_${MTLS##*:}_"
	printf 'server = "https://%s"\nca = "%s"\nclient = "%s"\n' "$MTLS" \
		"$TLS_DIR/ca.pem" "$BATS_TEST_TMPDIR/client-both.pem" \
		>"$CKIT_HOSTS_DIR/${MTLS%:*}_${MTLS##*:}_/hosts.toml"
	cat "$TLS_DIR/client.pem" "$TLS_DIR/client.key" >"$BATS_TEST_TMPDIR/client-both.pem"
	run_tool 0 cpull "$MTLS/test/busybox"
}

@test "cpull (mirror) pulls from it, not the server" {
	write_hosts_toml "$CKIT_HOSTS_DIR" mirrored.invalid "server = \"http://127.0.0.1:1\"
[host.\"http://$REGISTRY\"]
capabilities = [\"pull\", \"resolve\"]"
	local before
	before=$(grep -c 'ns=mirrored.invalid' "$CKIT_TEST_REGISTRY_LOG" || true)
	run_tool 0 cpull mirrored.invalid/test/busybox
	assert_eq "$output" "mirrored.invalid/test/busybox:latest@$(fixture_digest busybox)" \
		"stdout"
	(($(grep -c 'ns=mirrored.invalid' "$CKIT_TEST_REGISTRY_LOG") > before))
}

@test "cpull (mirror down) falls back to the server" {
	write_hosts_toml "$CKIT_HOSTS_DIR" "$REGISTRY" "[host.\"http://127.0.0.1:1\"]
capabilities = [\"pull\", \"resolve\"]"
	run_tool 0 cpull -v "$REGISTRY/test/busybox"
	assert_contains "$stderr" "host '127.0.0.1:1' failed" "stderr"
	assert_eq "$(store_blob_count)" 3 "blob count"
}

@test "cpull (pull-only mirror) resolves at the server" {
	write_hosts_toml "$CKIT_HOSTS_DIR" "$REGISTRY" "server = \"http://$REGISTRY\"
[host.\"http://127.0.0.1:1\"]
capabilities = [\"pull\"]"
	run_tool 0 cpull -vv "$REGISTRY/test/busybox"
	local first
	first=$(grep -m1 -E 'debug: (GET|HEAD) ' <<<"$stderr")
	assert_contains "$first" "HEAD http://$REGISTRY/v2/test/busybox/manifests/latest" \
		"first request"
}

@test "cpull (_default hosts.toml) applies to any registry" {
	write_hosts_toml "$CKIT_HOSTS_DIR" _default "[host.\"http://127.0.0.1:1\"]
capabilities = [\"pull\", \"resolve\"]"
	run_tool 0 cpull -v "$REGISTRY/test/busybox"
	assert_contains "$stderr" "host '127.0.0.1:1' failed" "stderr"
}

@test "cpull (invalid hosts.toml) names file, line and column" {
	write_hosts_toml "$CKIT_HOSTS_DIR" "$REGISTRY" "server = \"http://$REGISTRY\"
[host.\"http://x\"]
capabilities = \"pull\""
	run_tool 1 cpull "$REGISTRY/test/busybox"
	assert_contains "$stderr" \
		"$CKIT_HOSTS_DIR/$REGISTRY/hosts.toml:3:16: invalid 'capabilities': expected an array of strings, got string" \
		"stderr"
}

@test "cpull (unknown capability) is rejected" {
	write_hosts_toml "$CKIT_HOSTS_DIR" "$REGISTRY" "[host.\"http://x\"]
capabilities = [\"pull\", \"fly\"]"
	run_tool 1 cpull "$REGISTRY/test/busybox"
	assert_contains "$stderr" "unknown capability 'fly'" "stderr"
}

@test "cpull (hosts.toml syntax error) fails" {
	write_hosts_toml "$CKIT_HOSTS_DIR" "$REGISTRY" 'server = "http://x'
	run_tool 1 cpull "$REGISTRY/test/busybox"
	assert_contains "$stderr" "hosts.toml:1:19: string not closed before the end of the line" \
		"stderr"
}

@test "cpull --user (Basic over TLS) pulls" {
	trust_basic
	run_tool 0 cpull -vv --user "$TEST_USER:$TEST_PASSWORD" "$BASIC/test/busybox"
	assert_eq "$output" "$BASIC/test/busybox:latest@$(fixture_digest busybox)" \
		"stdout"
	assert_no_secret "$stderr"
}

@test "cpull --user (CKIT_PASSWORD) takes the password" {
	trust_basic
	CKIT_PASSWORD=$TEST_PASSWORD run_tool 0 cpull --user "$TEST_USER" \
		"$BASIC/test/busybox"
}

@test "cpull --user (no password anywhere) fails" {
	run_tool 1 cpull --user "$TEST_USER" "$BASIC/test/busybox"
	assert_contains "$stderr" \
		"no password for user '$TEST_USER': give --user USER:PASSWORD or set CKIT_PASSWORD" \
		"stderr"
}

@test "cpull --user (wins over config.json) names --user" {
	trust_basic
	write_docker_config "$DOCKER_CONFIG" \
		"{\"auths\": {\"$BASIC\": {\"auth\": \"$(auth_b64)\"}}}"
	run_tool 1 cpull --user "$TEST_USER:wrong" "$BASIC/test/busybox"
	assert_contains "$stderr" "check the credentials from --user" "stderr"
}

@test "cpull --user (token auth) sends them to the realm" {
	run_tool 0 cpull --user "$TEST_USER:$TEST_PASSWORD" "$TOKENREG/test/layers"
	assert_contains "$(<"$TOKEN_LOG")" "user=$TEST_USER grant=get status=200" \
		"token log"
}

@test "cpull --hosts-dir overrides CKIT_HOSTS_DIR" {
	local dir=$BATS_TEST_TMPDIR/flag-hosts
	write_hosts_toml "$dir" "$BASIC" "server = \"https://$BASIC\"
ca = \"$TLS_DIR/ca.pem\""
	run_tool 0 cpull --hosts-dir "$dir" --user "$TEST_USER:$TEST_PASSWORD" \
		"$BASIC/test/busybox"
}
