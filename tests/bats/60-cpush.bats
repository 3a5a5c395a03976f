#!/usr/bin/env bats
# SPDX-License-Identifier: Apache-2.0
# cpush against docker-registry instances that setup_file starts on
# 127.0.0.1: an open one (also the source of pulls, for mounts), one with
# HTTP Basic behind TLS and one with token auth.  Round trips go through
# skopeo both ways.

load helpers
load registries

CPUSH=${CPUSH:-$TOP/tools/cpush/cpush}

setup_file() {
	local d=$BATS_FILE_TMPDIR

	export TLS_DIR=$d/tls
	tls_make "$TLS_DIR"
	mkdir -p "$d/certs"
	cp "$TLS_DIR/ca.pem" "$d/certs/ca.crt"

	extra_registry_start "$d/target"
	export TARGET=$EXTRA_REGISTRY
	export TARGET_LOG=$d/target/registry.log
	copy_image test/busybox:latest "$TARGET/src/busybox:latest" \
		--dest-tls-verify=false
	copy_image test/layers:latest "$TARGET/src/layers:latest" \
		--dest-tls-verify=false
	skopeo copy -q --all --dest-tls-verify=false \
		"oci:$(fixture_layout multiarch):latest" \
		"docker://$TARGET/src/multiarch:latest"

	htpasswd -Bbn "$TEST_USER" "$TEST_PASSWORD" >"$d/htpasswd" 2>/dev/null
	extra_registry_start "$d/basic" tls htpasswd "$d/htpasswd"
	export BASIC=$EXTRA_REGISTRY

	token_server_start "$d/token"
	export TOKEN_LOG TOKEN_PORT
	extra_registry_start "$d/tokenreg" token \
		"http://127.0.0.1:$TOKEN_PORT/token" "$d/token/token.pem"
	export TOKENREG=$EXTRA_REGISTRY
	copy_image test/busybox:latest "$TOKENREG/test/busybox:latest" \
		--dest-tls-verify=false --dest-creds "$TEST_USER:$TEST_PASSWORD"
}

teardown_file() {
	local d=$BATS_FILE_TMPDIR

	stop_pid_file "$d/target/registry.pid"
	stop_pid_file "$d/basic/registry.pid"
	stop_pid_file "$d/tokenreg/registry.pid"
	stop_pid_file "$d/token/token.pid"
}

setup() {
	ckit_setup
	export DOCKER_CONFIG=$BATS_TEST_TMPDIR/docker
	HOSTS=$BATS_TEST_TMPDIR/hosts
	mkdir -p "$HOSTS/$BASIC"
	printf 'server = "https://%s"\nca = "%s"\n' "$BASIC" "$TLS_DIR/ca.pem" \
		>"$HOSTS/$BASIC/hosts.toml"
	: >"$TOKEN_LOG"
}

teardown() {
	ckit_teardown
}

# Print the sha256 digest of manifest REF (host/repo:tag) at a registry.
remote_digest() {
	skopeo inspect --raw --tls-verify=false "docker://$1" |
		sha256sum | sed 's/^\([0-9a-f]*\).*/sha256:\1/'
}

# Print how many requests matching PATTERN the target registry logged.
target_requests() {
	grep -c -- "$1" "$TARGET_LOG" || true
}

@test "cpush --help (stdout) exits 0" {
	run_tool 0 "$CPUSH" --help
	assert_contains "$output" "usage: cpush" "help"
	assert_contains "$output" "Exit status: 0 pushed, 1 failed, 2 usage" "help"
	assert_eq "$stderr" "" "stderr"
}

@test "cpush --bogus (bad option) exits 2" {
	run_tool 2 "$CPUSH" --bogus a
	assert_contains "$stderr" "cpush: unknown option '--bogus'" "stderr"
	assert_contains "$stderr" "Try 'cpush --help'." "stderr"
}

@test "cpush (no reference) exits 2" {
	run_tool 2 "$CPUSH"
	assert_contains "$stderr" "cpush: missing image reference" "stderr"
}

@test "cpush (three references) exits 2" {
	run_tool 2 "$CPUSH" a b c
	assert_contains "$stderr" "unexpected argument 'c'" "stderr"
}

@test "cpush --chunk-size (invalid) exits 2" {
	run_tool 2 "$CPUSH" --chunk-size 10x a
	assert_contains "$stderr" "invalid --chunk-size '10x'" "stderr"
}

@test "cpush (image not in store) fails" {
	run_tool 1 "$CPUSH" "$TARGET/none/busybox"
	assert_contains "$stderr" "cpush: no store at '$CKIT_ROOT'" "no store"
	assert_file_not_exists "$CKIT_ROOT/content" "store"
	mkdir -p "$CKIT_ROOT/content"
	run_tool 1 "$CPUSH" "$TARGET/none/busybox"
	assert_contains "$stderr" "image '$TARGET/none/busybox' not found in namespace 'default'" \
		"stderr"
}

@test "cpush SRC DST (open registry) uploads" {
	run_tool 0 cpull "$REGISTRY/test/busybox"
	run_tool 0 "$CPUSH" "$REGISTRY/test/busybox" "$TARGET/up/busybox:v1"
	assert_eq "$output" "$TARGET/up/busybox:v1@$(fixture_digest busybox)" "stdout"
	assert_eq "$(remote_digest "$TARGET/up/busybox:v1")" "$(fixture_digest busybox)" \
		"digest at the registry"
}

@test "cpush (damaged blob in the store) says so, pushes no manifest" {
	local layer blob
	run_tool 0 cpull "$REGISTRY/test/busybox"
	layer=$(jq -r '.layers[0].digest' \
		"$CKIT_ROOT/content/blobs/sha256/$(fixture_digest busybox | cut -d: -f2)")
	blob=$CKIT_ROOT/content/blobs/sha256/${layer#sha256:}
	chmod u+w "$blob"
	printf 'X' | dd of="$blob" bs=1 seek=100 conv=notrunc status=none
	run_tool 1 "$CPUSH" "$REGISTRY/test/busybox" "$TARGET/damaged/busybox:v1"
	assert_contains "$stderr" "blob '$layer': the store's copy is damaged: its bytes hash to 'sha256:" "stderr"
	assert_contains "$stderr" "pull the image again before pushing it" "hint"
	run curl -s -o /dev/null -w '%{http_code}' "http://$TARGET/v2/damaged/busybox/manifests/v1"
	assert_eq "$output" 404 "manifest at the registry"
}

@test "cpush --json (open registry) counts blobs" {
	run_tool 0 cpull "$REGISTRY/test/layers"
	run_tool 0 "$CPUSH" --json "$REGISTRY/test/layers" "$TARGET/json/layers:v1"
	assert_eq "$(jq -r .name <<<"$output")" "$TARGET/json/layers:v1" "name"
	assert_eq "$(jq -r .digest <<<"$output")" "$(fixture_digest layers)" "digest"
	assert_eq "$(jq -r .blobs_uploaded <<<"$output")" \
		$(($(fixture_layer_digests layers | sort -u | wc -l) + 1)) "blobs_uploaded"
	assert_eq "$(jq -r .manifests <<<"$output")" 1 "manifests"
	run_tool 0 "$CPUSH" --json "$REGISTRY/test/layers" "$TARGET/json/layers:v2"
	assert_eq "$(jq -r .blobs_uploaded <<<"$output")" 0 "blobs_uploaded again"
	assert_eq "$(jq -r .blobs_existing <<<"$output")" \
		$(($(fixture_layer_digests layers | sort -u | wc -l) + 1)) "blobs_existing"
}

@test "cpush (same registry) mounts blobs" {
	run_tool 0 cpull "$TARGET/src/layers"
	local before
	before=$(target_requests 'mount=sha256')
	run_tool 0 "$CPUSH" --json "$TARGET/src/layers" "$TARGET/mounted/layers:v1"
	assert_eq "$(jq -r .blobs_uploaded <<<"$output")" 0 "blobs_uploaded"
	(($(jq -r .blobs_mounted <<<"$output") > 0))
	(($(target_requests 'mount=sha256') > before))
	assert_eq "$(remote_digest "$TARGET/mounted/layers:v1")" \
		"$(remote_digest "$TARGET/src/layers:latest")" "digest at the registry"
}

@test "cpush --chunk-size (64k) uploads in chunks" {
	run_tool 0 cpull "$REGISTRY/test/layers"
	local before
	before=$(target_requests '"PATCH /v2/chunked/')
	run_tool 0 "$CPUSH" --chunk-size 64k "$REGISTRY/test/layers" \
		"$TARGET/chunked/layers:v1"
	(($(target_requests '"PATCH /v2/chunked/') > before + 10))
	assert_eq "$(remote_digest "$TARGET/chunked/layers:v1")" \
		"$(fixture_digest layers)" "digest at the registry"
}

@test "cpush REF (one reference) pushes to its own name" {
	run_tool 0 cpull "$TARGET/src/busybox"
	run_tool 0 "$CPUSH" --json "$TARGET/src/busybox"
	assert_eq "$(jq -r .blobs_existing <<<"$output")" 2 "blobs_existing"
	assert_eq "$(jq -r .name <<<"$output")" "$TARGET/src/busybox:latest" "name"
}

@test "cpush then skopeo (round trip) gives the same bytes" {
	run_tool 0 cpull "$REGISTRY/test/layers"
	run_tool 0 "$CPUSH" "$REGISTRY/test/layers" "$TARGET/rt/layers:v1"
	local dir=$BATS_TEST_TMPDIR/copy digest blob
	skopeo copy -q --src-tls-verify=false "docker://$TARGET/rt/layers:v1" "dir:$dir"
	digest=$(fixture_digest layers)
	cmp "$dir/manifest.json" "$CKIT_ROOT/content/blobs/sha256/${digest#sha256:}"
	for blob in $(fixture_config_digest layers) $(fixture_layer_digests layers); do
		cmp "$dir/${blob#sha256:}" "$CKIT_ROOT/content/blobs/sha256/${blob#sha256:}"
	done
}

@test "skopeo, cpull, cpush (round trip) keep the digest" {
	skopeo copy -q --dest-tls-verify=false "oci:$(fixture_layout user):latest" \
		"docker://$TARGET/sk/user:v1"
	run_tool 0 cpull "$TARGET/sk/user:v1"
	run_tool 0 "$CPUSH" --hosts-dir "$HOSTS" --user "$TEST_USER:$TEST_PASSWORD" \
		"$TARGET/sk/user:v1" "$BASIC/sk/user:v1"
	assert_eq "$(skopeo inspect --raw --cert-dir "$BATS_FILE_TMPDIR/certs" \
		--creds "$TEST_USER:$TEST_PASSWORD" "docker://$BASIC/sk/user:v1" |
		sha256sum | cut -c1-64)" "$(fixture_digest user | cut -c8-)" \
		"digest at the Basic registry"
}

@test "cpush (whole index in store) pushes the index" {
	run_tool 0 cpull --all-platforms "$TARGET/src/multiarch"
	run_tool 0 "$CPUSH" --json "$TARGET/src/multiarch" "$TARGET/idx/multiarch:v1"
	assert_eq "$(jq -r .digest <<<"$output")" "$(fixture_digest multiarch)" "digest"
	(($(jq -r .manifests <<<"$output") > 1))
	assert_eq "$(remote_digest "$TARGET/idx/multiarch:v1")" \
		"$(fixture_digest multiarch)" "digest at the registry"
}

@test "cpush (index, one platform in store) pushes that manifest" {
	run_tool 0 cpull --platform linux/amd64 "$TARGET/src/multiarch"
	run_tool 0 "$CPUSH" "$TARGET/src/multiarch" "$TARGET/one/multiarch:v1"
	assert_contains "$stderr" "warning: pushing only the linux/amd64 manifest" "stderr"
	assert_eq "$output" "$TARGET/one/multiarch:v1@$(fixture_manifest_digest multiarch)" \
		"stdout"
}

@test "cpush --user (Basic over TLS) pushes" {
	run_tool 0 cpull "$REGISTRY/test/busybox"
	run_tool 0 "$CPUSH" -vv --hosts-dir "$HOSTS" \
		--user "$TEST_USER:$TEST_PASSWORD" \
		"$REGISTRY/test/busybox" "$BASIC/pushed/busybox:v1"
	assert_eq "$output" "$BASIC/pushed/busybox:v1@$(fixture_digest busybox)" "stdout"
	assert_contains "$stderr" "(with credentials)" "stderr"
	assert_not_contains "$stderr" "$TEST_PASSWORD" "stderr"
	assert_not_contains "$stderr" \
		"$(printf '%s:%s' "$TEST_USER" "$TEST_PASSWORD" | base64 -w0)" "stderr"
}

@test "cpush --user (CKIT_PASSWORD) takes the password" {
	run_tool 0 cpull "$REGISTRY/test/busybox"
	CKIT_PASSWORD=$TEST_PASSWORD run_tool 0 "$CPUSH" --hosts-dir "$HOSTS" \
		--user "$TEST_USER" "$REGISTRY/test/busybox" "$BASIC/env/busybox:v1"
}

@test "cpush --user (no password anywhere) fails" {
	run_tool 0 cpull "$REGISTRY/test/busybox"
	run_tool 1 "$CPUSH" --hosts-dir "$HOSTS" --user "$TEST_USER" \
		"$REGISTRY/test/busybox" "$BASIC/env/busybox:v1"
	assert_contains "$stderr" "no password for user '$TEST_USER'" "stderr"
}

@test "cpush (Basic, no credentials) fails" {
	run_tool 0 cpull "$REGISTRY/test/busybox"
	run_tool 1 "$CPUSH" --hosts-dir "$HOSTS" \
		"$REGISTRY/test/busybox" "$BASIC/anon/busybox:v1"
	assert_contains "$stderr" "requires a user name and password" "stderr"
}

@test "cpush (token auth) asks for the push scope" {
	run_tool 0 cpull "$REGISTRY/test/busybox"
	run_tool 0 "$CPUSH" --user "$TEST_USER:$TEST_PASSWORD" \
		"$REGISTRY/test/busybox" "$TOKENREG/test/pushed:v1"
	assert_contains "$(<"$TOKEN_LOG")" "scopes=repository:test/pushed:pull,push" \
		"token log"
	assert_eq "$(skopeo inspect --raw --tls-verify=false \
		--creds "$TEST_USER:$TEST_PASSWORD" "docker://$TOKENREG/test/pushed:v1" |
		sha256sum | cut -c1-64)" "$(fixture_digest busybox | cut -c8-)" \
		"digest at the token registry"
}

@test "cpush (token auth, same registry) mounts with both scopes" {
	write_docker_config "$DOCKER_CONFIG" "{\"auths\": {\"$TOKENREG\": {\"auth\":
		\"$(printf '%s:%s' "$TEST_USER" "$TEST_PASSWORD" | base64 -w0)\"}}}"
	run_tool 0 cpull "$TOKENREG/test/busybox"
	run_tool 0 "$CPUSH" --json "$TOKENREG/test/busybox" "$TOKENREG/test/mounted:v1"
	assert_eq "$(jq -r .blobs_mounted <<<"$output")" 2 "blobs_mounted"
	assert_contains "$(<"$TOKEN_LOG")" \
		"scopes=repository:test/mounted:pull,push|repository:test/busybox:pull" \
		"token log"
}

@test "cpush (stderr a terminal) draws progress" {
	command -v script >/dev/null || skip "requires script (util-linux)"
	run_tool 0 cpull "$REGISTRY/test/busybox"
	run -0 script -qec "'$CPUSH' '$REGISTRY/test/busybox' '$TARGET/tty/busybox:v1'" \
		/dev/null
	assert_contains "$output" "blob 2/2" "terminal output"
	assert_contains "$output" "pushed" "terminal output"
	run -0 script -qec "'$CPUSH' -q '$REGISTRY/test/busybox' '$TARGET/tty/busybox:v2'" \
		/dev/null
	assert_not_contains "$output" "blob 1/" "terminal output with -q"
}

@test "cpush (stderr a pipe) prints no progress" {
	run_tool 0 cpull "$REGISTRY/test/busybox"
	run_tool 0 "$CPUSH" "$REGISTRY/test/busybox" "$TARGET/pipe/busybox:v1"
	assert_eq "$stderr" "" "stderr"
}
