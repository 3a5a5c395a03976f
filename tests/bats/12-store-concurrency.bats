#!/usr/bin/env bats
# SPDX-License-Identifier: Apache-2.0
# The content store under concurrent writers: every blob in blobs/ is
# whole and verified, whoever wrote it.

load helpers

setup() {
	ckit_setup
}

# blobs_verify: every file under blobs/sha256 hashes to its name.
blobs_verify() {
	local f bad=0
	for f in "$CKIT_ROOT"/content/blobs/sha256/*; do
		if [[ $(sha256sum <"$f" | cut -c1-64) != "$(basename "$f")" ]]; then
			echo "damaged blob: $f ($(stat -c %s "$f") bytes)" >&2
			bad=1
		fi
	done
	return "$bad"
}

@test "cpull (two at once, ten rounds) stores only whole blobs" {
	local round
	for ((round = 0; round < 10; round++)); do
		export CKIT_ROOT=$BATS_TEST_TMPDIR/root$round
		"$CPULL" -q "$REGISTRY/test/busybox:latest" >/dev/null &
		local a=$!
		"$CPULL" -q "$REGISTRY/test/busybox:latest" >/dev/null &
		local b=$!
		wait "$a"
		wait "$b"
		blobs_verify
		assert_eq "$(find "$CKIT_ROOT/content/blobs/sha256" -type f | wc -l)" 3 \
			"blobs after round $round"
	done
}

@test "cpull (two images sharing a layer at once) stores whole blobs" {
	local round
	for ((round = 0; round < 5; round++)); do
		export CKIT_ROOT=$BATS_TEST_TMPDIR/root$round
		"$CPULL" -q "$REGISTRY/test/busybox:latest" >/dev/null &
		local a=$!
		"$CPULL" -q "$REGISTRY/test/user:latest" >/dev/null &
		local b=$!
		"$CPULL" -q "$REGISTRY/test/layers:latest" >/dev/null &
		local c=$!
		wait "$a"
		wait "$b"
		wait "$c"
		blobs_verify
	done
}
