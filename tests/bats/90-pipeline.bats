#!/usr/bin/env bats
# SPDX-License-Identifier: Apache-2.0
# The main job end to end: cpull | cunpack, cspec, crun-task run.

load helpers
load store
load spec

setup() {
	requires root overlay runc
	ckit_setup
}

teardown() {
	ckit_teardown
}

@test "pipeline (busybox) runs a command from a pipe" {
	run bash -c "set -o pipefail; '$CPULL' --json '$REGISTRY/test/busybox:latest' |
		'$CUNPACK' --json | '$CSPEC' -o '$BATS_TEST_TMPDIR/s.json' -- echo piped"
	assert_eq "$status" 0 "pipeline status"
	validate_spec "$BATS_TEST_TMPDIR/s.json"
	run_tool 0 crun-task run --rm --spec "$BATS_TEST_TMPDIR/s.json" \
		"$REGISTRY/test/busybox:latest" p1
	assert_eq "$output" piped "stdout"
}

@test "pipeline (busybox, no tool output on a pipe) is silent" {
	run --separate-stderr bash -c "'$CPULL' '$REGISTRY/test/busybox:latest' | '$CUNPACK'"
	assert_eq "$status" 0 "status"
	assert_eq "$stderr" "" "stderr"
	assert_eq "$output" "$(chain_id_of busybox)" "stdout"
}

@test "pipeline (debian bookworm) cats /etc/debian_version" {
	requires debootstrap
	fixture_debian
	local ref=$REGISTRY/test/debian:bookworm expected
	expected=$(tar -xOf "$CKIT_TEST_CACHE/debian-bookworm-minbase.tar" \
		./etc/debian_version 2>/dev/null ||
		tar -xOf "$CKIT_TEST_CACHE/debian-bookworm-minbase.tar" etc/debian_version)

	run bash -c "set -o pipefail; '$CPULL' '$ref' | '$CUNPACK'"
	assert_eq "$status" 0 "cpull | cunpack status"
	assert_eq "$output" "$(chain_id_of debian)" "chain ID"
	run_cspec --image "$ref" -o "$BATS_TEST_TMPDIR/s.json" \
		-- cat /etc/debian_version
	run_tool 0 crun-task run --rm --spec "$BATS_TEST_TMPDIR/s.json" "$ref" deb1
	assert_eq "$output" "$expected" "debian_version"
	assert_contains "$output" "12." "bookworm version"
}

@test "pipeline (debian) runs bash as a user from the image" {
	requires debootstrap
	fixture_debian
	local ref=$REGISTRY/test/debian:bookworm
	run_tool 0 cpull "$ref"
	run_tool 0 crun-task run --rm -u nobody "$ref" deb2 \
		bash -c 'id -un; ls -d /usr/lib/x86_64-linux-gnu/libc.so.6'
	assert_eq "${lines[0]}" nobody "user"
	assert_eq "${lines[1]}" /usr/lib/x86_64-linux-gnu/libc.so.6 "libc"
}

@test "pipeline (debian, killed unpack) is finished by a rerun" {
	requires debootstrap
	fixture_debian
	local ref=$REGISTRY/test/debian:bookworm i
	run_tool 0 cpull "$ref"
	"$CUNPACK" "$ref" >/dev/null 2>&1 &
	local pid=$!
	for ((i = 0; i < 1000; i++)); do
		snapshot_keys | grep -q '^extract-' && break
		sleep 0.005
	done
	sleep 0.2
	kill -KILL "$pid" 2>/dev/null || true
	wait "$pid" || true
	run snapshot_keys
	assert_contains "$output" "extract-" "unfinished snapshot left by the kill"

	run_tool 0 cunpack "$ref"
	assert_eq "$output" "$(chain_id_of debian)" "chain ID"
	run snapshot_keys
	assert_eq "$output" "$(chain_id_of debian)" "only the committed layer remains"
	assert_eq "$(ls "$CKIT_ROOT/snapshots/overlayfs/snapshots" | wc -l)" 1 \
		"snapshot directories"
}
