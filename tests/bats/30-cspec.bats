#!/usr/bin/env bats
# SPDX-License-Identifier: Apache-2.0
# cspec: runtime specs from image configs.

load helpers
load store
load spec

setup() {
	requires root overlay
	ckit_setup
}

teardown() {
	ckit_teardown
}

pull_unpack() {
	pull_fixture "$1"
	run_tool 0 cunpack "$REGISTRY/test/$1:latest"
}

@test "cspec --help prints usage" {
	run_tool 0 cspec --help
	assert_contains "$output" "usage: cspec"
	assert_contains "$output" "--entrypoint"
}

@test "cspec --bogus (bad option) exits 2" {
	run_tool 2 cspec --bogus
	assert_contains "$stderr" "cspec: invalid option '--bogus'"
}

@test "cspec --cwd relative exits 2" {
	run_tool 2 cspec --cwd tmp --image x
	assert_contains "$stderr" "invalid --cwd 'tmp'"
}

@test "cspec busybox writes a valid spec" {
	pull_unpack busybox
	run_cspec --image "$REGISTRY/test/busybox:latest" -o "$BATS_TEST_TMPDIR/config.json"
	validate_spec "$BATS_TEST_TMPDIR/config.json"
	local s=$BATS_TEST_TMPDIR/config.json
	assert_eq "$(jq -c .process.args "$s")" '["sh"]' "args"
	assert_eq "$(jq -r .root.path "$s")" rootfs "root path"
	assert_eq "$(jq -r '.process.env[0]' "$s")" "PATH=/usr/sbin:/usr/bin:/sbin:/bin" "PATH"
	assert_eq "$(jq -r '[.linux.namespaces[].type] | join(",")' "$s")" \
		"pid,ipc,uts,mount,network" "namespaces"
	assert_contains "$(jq -r '.process.capabilities.bounding | join(",")' "$s")" \
		"CAP_NET_BIND_SERVICE" "capabilities"
	assert_eq "$(jq -r '.mounts | map(.destination) | join(",")' "$s")" \
		"/proc,/dev,/dev/pts,/dev/shm,/dev/mqueue,/sys,/run" "mounts"
}

@test "cspec -- ARGS replace Cmd and keep Entrypoint" {
	pull_unpack user
	run_cspec --image "$REGISTRY/test/user:latest" -- "echo hi"
	assert_eq "$(jq -c .process.args <<<"$output")" '["/bin/sh","-c","echo hi"]' "args"
}

@test "cspec --entrypoint replaces Entrypoint and Cmd" {
	pull_unpack user
	run_cspec --entrypoint /bin/echo --image "$REGISTRY/test/user:latest" -- hi
	assert_eq "$(jq -c .process.args <<<"$output")" '["/bin/echo","hi"]' "args"
}

@test "cspec test/user resolves User from /etc/passwd" {
	pull_unpack user
	run_cspec --image "$REGISTRY/test/user:latest" -o "$BATS_TEST_TMPDIR/c.json"
	validate_spec "$BATS_TEST_TMPDIR/c.json"
	assert_eq "$(jq -c .process.user "$BATS_TEST_TMPDIR/c.json")" \
		'{"uid":1000,"gid":1000,"additionalGids":[1000,2000]}' "user"
	assert_eq "$(jq -r .process.cwd "$BATS_TEST_TMPDIR/c.json")" /home/app "cwd"
}

@test "cspec -u forms resolve like Docker" {
	pull_unpack busybox
	local ref=$REGISTRY/test/busybox:latest
	run_cspec -u 1001 --image "$ref"
	assert_eq "$(jq -c .process.user <<<"$output")" '{"uid":1001,"gid":0}' "uid without entry"
	run_cspec -u app --image "$ref"
	assert_eq "$(jq -c .process.user <<<"$output")" \
		'{"uid":1000,"gid":1000,"additionalGids":[1000,2000]}' "name"
	run_cspec -u app:extra --image "$ref"
	assert_eq "$(jq -c .process.user <<<"$output")" \
		'{"uid":1000,"gid":2000,"additionalGids":[2000]}' "name:group"
	run_cspec -u 5:7 --image "$ref"
	assert_eq "$(jq -c .process.user <<<"$output")" '{"uid":5,"gid":7}' "uid:gid"
	run_tool 1 cspec -u nosuch --image "$ref"
	assert_contains "$stderr" "user 'nosuch' not found in the image's /etc/passwd"
	run_tool 1 cspec -u app:nosuchgroup --image "$ref"
	assert_contains "$stderr" "group 'nosuchgroup' not found"
}

@test "cspec --env, --cwd, --tty, --hostname override" {
	pull_unpack busybox
	run_cspec -e PATH=/x -e A=1 --cwd /tmp -t --hostname h1 --read-only \
		--image "$REGISTRY/test/busybox:latest"
	assert_eq "$(jq -c .process.env <<<"$output")" '["PATH=/x","A=1"]' "env"
	assert_eq "$(jq -r .process.cwd <<<"$output")" /tmp "cwd"
	assert_eq "$(jq -r .process.terminal <<<"$output")" true "terminal"
	assert_eq "$(jq -r .hostname <<<"$output")" h1 "hostname"
	assert_eq "$(jq -r .root.readonly <<<"$output")" true "readonly"
}

@test "cspec (no store at --root) fails naming it, creates none" {
	local root=$BATS_TEST_TMPDIR/typo

	run_tool 1 cspec --root "$root" --image "$REGISTRY/test/busybox:latest"
	assert_contains "$stderr" "cspec: no store at '$root'"
	assert_file_not_exists "$root" "store root"
}

@test "cspec (image not unpacked) tells to run cunpack" {
	pull_fixture busybox
	run_tool 1 cspec --image "$REGISTRY/test/busybox:latest"
	assert_contains "$stderr" "is not unpacked; run 'cunpack"
}

@test "cspec (absolute /etc/passwd symlink) resolves in the image" {
	pull_unpack busybox
	local root=$BATS_TEST_TMPDIR/rootfs
	mkdir -p "$root/etc" "$root/usr/share"
	printf 'svc:x:4242:4343::/:/bin/sh\n' >"$root/usr/share/passwd"
	ln -s /usr/share/passwd "$root/etc/passwd"
	# An escape through .. or an absolute path stays inside the root.
	ln -s ../../../../../../etc/gshadow "$root/etc/group"
	run_cspec --rootfs "$root" -u svc --image "$REGISTRY/test/busybox:latest"
	assert_eq "$(jq -c .process.user <<<"$output")" \
		'{"uid":4242,"gid":4343,"additionalGids":[4343]}' "user"
	assert_eq "$(jq -r .root.path <<<"$output")" "$root" "root path"
	run_tool 1 cspec --rootfs "$root" -u svc:root --image "$REGISTRY/test/busybox:latest"
	assert_contains "$stderr" "group 'root' not found"
}

@test "cspec (no Entrypoint, no Cmd) fails clearly" {
	requires skopeo
	local src=$BATS_TEST_TMPDIR/nocmd
	cp -a "$(fixture_layout busybox)" "$src"
	umoci config --image "$src:latest" --clear=config.cmd --tag latest
	skopeo copy -q --dest-tls-verify=false "oci:$src:latest" \
		"docker://$REGISTRY/test/nocmd:latest"
	pull_unpack nocmd
	run_tool 1 cspec --image "$REGISTRY/test/nocmd:latest"
	assert_contains "$stderr" "no command"
}
