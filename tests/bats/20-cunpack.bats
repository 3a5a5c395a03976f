#!/usr/bin/env bats
# SPDX-License-Identifier: Apache-2.0
# cunpack: layer application into overlayfs snapshots.

load helpers
load store

setup() {
	requires root overlay
	ckit_setup
}

teardown() {
	ckit_teardown
}

@test "cunpack --help prints usage on one screen" {
	run_tool 0 cunpack --help
	assert_contains "$output" "usage: cunpack"
	assert_contains "$output" "--no-flatten"
	assert_contains "$output" "Exit status"
	(($(wc -l <<<"$output") <= 24)) ||
		{ echo "help has $(wc -l <<<"$output") lines, more than 24" >&2; return 1; }
	assert_eq "$(awk 'length > 80' <<<"$output")" "" "help lines over 80 columns"
}

@test "cunpack --bogus (bad option) exits 2" {
	run_tool 2 cunpack --bogus
	assert_contains "$stderr" "cunpack: invalid option '--bogus'"
	assert_contains "$stderr" "Try 'cunpack --help'"
}

@test "cunpack (image not pulled) fails naming it" {
	mkdir -p "$CKIT_ROOT/content"
	run_tool 1 cunpack "$REGISTRY/test/busybox:latest"
	assert_contains "$stderr" "image '$REGISTRY/test/busybox:latest' not found"
	assert_contains "$stderr" "cpull"
}

@test "cunpack (no store at --root) fails naming it, creates none" {
	local root=$BATS_TEST_TMPDIR/typo

	run_tool 1 cunpack --root "$root" "$REGISTRY/test/busybox:latest"
	assert_contains "$stderr" "cunpack: no store at '$root': pull an image into it with cpull"
	assert_file_not_exists "$root" "store root"
}

@test "cunpack (no reference, empty stdin) fails" {
	run_tool 1 cunpack </dev/null
	assert_contains "$stderr" "no image reference"
}

@test "cunpack busybox prints the chain ID" {
	pull_fixture busybox
	run_tool 0 cunpack "$REGISTRY/test/busybox:latest"
	assert_eq "$output" "$(chain_id_of busybox)" "chain ID"
	assert_file_exists "$(snapshot_meta "$output")"
	assert_eq "$(jq -r .kind "$(snapshot_meta "$output")")" committed "kind"
}

@test "cunpack - (cpull output on stdin) unpacks" {
	pull_fixture busybox
	run_tool 0 cunpack - <<<"$output"
	assert_eq "$output" "$(chain_id_of busybox)" "chain ID"
}

@test "cunpack (cpull --json on stdin) unpacks" {
	run_tool 0 cpull --json "$REGISTRY/test/busybox:latest"
	run_tool 0 cunpack --json <<<"$output"
	assert_eq "$(jq -r .chain_id <<<"$output")" "$(chain_id_of busybox)" "chain ID"
	assert_eq "$(jq -r .layers <<<"$output")" 1 "layers"
	assert_eq "$(jq -r .snapshotter <<<"$output")" overlayfs "snapshotter"
}

@test "cunpack test/layers (whiteouts) gives the expected tree" {
	pull_fixture layers
	run_tool 0 cunpack "$REGISTRY/test/layers:latest"
	mount_chain "$output" "$BATS_TEST_TMPDIR/view"
	assert_tree "$BATS_TEST_TMPDIR/view" "$LAYERS_EXPECTED"
}

@test "cunpack test/layers (overlay view) equals umoci's tree" {
	requires umoci
	# umoci 0.4.7 cannot read zstd layers, so it unpacks the all-gzip
	# copy, whose uncompressed layers are the same.
	pull_fixture layers
	run_tool 0 cunpack "$REGISTRY/test/layers:latest"
	mount_chain "$output" "$BATS_TEST_TMPDIR/view"
	umoci raw unpack --image "$(fixture_layout layers-gzip):latest" \
		"$BATS_TEST_TMPDIR/umoci"
	diff -u <(tree_listing "$BATS_TEST_TMPDIR/umoci") \
		<(tree_listing "$BATS_TEST_TMPDIR/view")
}

@test "cunpack test/layers (overlay whiteouts) uses 0/0 devices" {
	pull_fixture layers
	run_tool 0 cunpack "$REGISTRY/test/layers:latest"
	local fs found=0
	for fs in "$CKIT_ROOT"/snapshots/overlayfs/snapshots/*/fs; do
		if [[ -e $fs/data/removed-file.txt || -L $fs/data/removed-file.txt ]]; then
			[[ -c $fs/data/removed-file.txt ]] || continue
			assert_eq "$(stat -c %t:%T "$fs/data/removed-file.txt")" 0:0 "whiteout device"
			found=1
		fi
	done
	assert_eq "$found" 1 "whiteout for removed-file.txt"
	run find "$CKIT_ROOT/snapshots/overlayfs/snapshots" -name '.wh.*'
	assert_eq "$output" "" "OCI whiteout files in snapshots"
}

@test "cunpack twice applies nothing the second time" {
	pull_fixture layers
	run_tool 0 cunpack --json "$REGISTRY/test/layers:latest"
	assert_eq "$(jq -r .applied <<<"$output")" 4 "first run applied"
	run_tool 0 cunpack --json "$REGISTRY/test/layers:latest"
	assert_eq "$(jq -r .applied <<<"$output")" 0 "second run applied"
}

@test "cunpack (shared base layer) reuses busybox's snapshot" {
	pull_fixture busybox
	pull_fixture layers
	run_tool 0 cunpack "$REGISTRY/test/busybox:latest"
	run_tool 0 cunpack --json "$REGISTRY/test/layers:latest"
	assert_eq "$(jq -r .applied <<<"$output")" 3 "layers applied"
	assert_eq "$(snapshot_keys | wc -l)" 4 "snapshot count"
}

@test "cunpack test/layers-gzip equals the mixed-compression tree" {
	requires skopeo
	skopeo copy -q --dest-tls-verify=false \
		"oci:$(fixture_layout layers-gzip):latest" \
		"docker://$REGISTRY/test/layers-gzip:latest"
	pull_fixture layers
	pull_fixture layers-gzip
	run_tool 0 cunpack "$REGISTRY/test/layers:latest"
	local mixed=$output
	run_tool 0 cunpack "$REGISTRY/test/layers-gzip:latest"
	assert_eq "$output" "$mixed" "chain ID (same diff IDs)"
}

@test "cunpack test/notar (not a tar) fails and leaves no snapshot" {
	pull_fixture notar
	run_tool 1 cunpack "$REGISTRY/test/notar:latest"
	assert_contains "$stderr" "layer 1 'sha256:"
	assert_contains "$stderr" "tar"
	assert_eq "$(snapshot_keys)" "" "snapshots"
	run ls "$CKIT_ROOT/snapshots/overlayfs/snapshots"
	assert_eq "$output" "" "snapshot directories"
}

@test "cunpack (wrong diff ID in config) fails and leaves no snapshot" {
	requires skopeo
	local src=$BATS_TEST_TMPDIR/bad
	cp -a "$(fixture_layout busybox)" "$src"
	local m c cfg newc
	m=$(fixture_manifest_digest busybox)
	c=$(fixture_config_digest busybox)
	cfg=$(jq -c '.rootfs.diff_ids[0] = "sha256:" + ("0" * 64)' \
		"$src/blobs/sha256/${c#sha256:}")
	newc=$(printf '%s' "$cfg" | sha256sum | cut -c1-64)
	printf '%s' "$cfg" >"$src/blobs/sha256/$newc"
	jq -c --arg d "sha256:$newc" --argjson s "${#cfg}" \
		'.config.digest = $d | .config.size = $s' \
		"$src/blobs/sha256/${m#sha256:}" >"$src/manifest.json"
	local newm
	newm=$(sha256sum <"$src/manifest.json" | cut -c1-64)
	mv "$src/manifest.json" "$src/blobs/sha256/$newm"
	jq -c --arg d "sha256:$newm" --argjson s "$(stat -c %s "$src/blobs/sha256/$newm")" \
		'.manifests[0].digest = $d | .manifests[0].size = $s' \
		"$src/index.json" >"$src/index.new"
	mv "$src/index.new" "$src/index.json"
	skopeo copy -q --dest-tls-verify=false "oci:$src:latest" \
		"docker://$REGISTRY/test/baddiff:latest"

	pull_fixture baddiff
	run_tool 1 cunpack "$REGISTRY/test/baddiff:latest"
	assert_contains "$stderr" "image config says 'sha256:0000"
	assert_eq "$(snapshot_keys)" "" "snapshots"
}

@test "cunpack --prepare KEY makes a writable snapshot" {
	pull_fixture busybox
	run_tool 0 cunpack --prepare work "$REGISTRY/test/busybox:latest"
	local chain=$output
	assert_eq "$(jq -r .kind "$(snapshot_meta work)")" active "kind"
	assert_eq "$(jq -r .parent "$(snapshot_meta work)")" "$chain" "parent"
	run_tool 1 cunpack --prepare work "$REGISTRY/test/busybox:latest"
	assert_contains "$stderr" "snapshot 'work' already exists"
}

@test "cunpack --snapshotter btrfs (unknown here) fails" {
	pull_fixture busybox
	run_tool 1 cunpack --snapshotter zfs "$REGISTRY/test/busybox:latest"
	assert_contains "$stderr" "unknown snapshotter 'zfs'"
}

@test "cunpack (killed mid-layer) is finished by a rerun" {
	pull_fixture layers
	# Stop cunpack once its first extract snapshot exists, then kill it.
	"$CUNPACK" "$REGISTRY/test/layers:latest" >/dev/null 2>&1 &
	local pid=$! i
	for ((i = 0; i < 400; i++)); do
		if compgen -G "$CKIT_ROOT/snapshots/overlayfs/meta/*.json" >/dev/null &&
			snapshot_keys | grep -q '^extract-'; then
			kill -STOP "$pid"
			break
		fi
		sleep 0.005
	done
	kill -KILL "$pid" 2>/dev/null || true
	wait "$pid" || true

	run_tool 0 cunpack "$REGISTRY/test/layers:latest"
	assert_eq "$output" "$(chain_id_of layers)" "chain ID"
	run snapshot_keys
	assert_not_contains "$output" "extract-" "snapshot keys"
	assert_eq "$(ls "$CKIT_ROOT/snapshots/overlayfs/snapshots" | wc -l)" \
		"$(snapshot_keys | wc -l)" "directories per record"
}

@test "cunpack --no-sync (test/layers) gives the same tree" {
	pull_fixture layers
	run_tool 0 cunpack --no-sync "$REGISTRY/test/layers:latest"
	assert_eq "$output" "$(chain_id_of layers)" "chain ID"
	mount_chain "$output" "$BATS_TEST_TMPDIR/view"
	assert_tree "$BATS_TEST_TMPDIR/view" "$LAYERS_EXPECTED"
}

@test "cunpack (stdout full) exits 1" {
	pull_fixture busybox
	run bash -c "'$CUNPACK' '$REGISTRY/test/busybox:latest' >/dev/full"
	assert_eq "$status" 1 "status"
	assert_contains "$output" "cunpack: write to stdout: No space left on device"
}

@test "cunpack (empty --namespace or --root) fails" {
	run_tool 1 cunpack -n '' "$REGISTRY/test/busybox:latest"
	assert_contains "$stderr" "invalid namespace ''"
	run_tool 1 cunpack --root '' "$REGISTRY/test/busybox:latest"
	assert_contains "$stderr" "invalid store root ''"
	run_tool 2 cunpack --root
	assert_contains "$stderr" "option '--root' needs a value"
}

@test "cunpack (ten at once, 120 layers) all commit the same layers" {
	requires skopeo
	push_case deep
	local i rc pids=()
	# Started 50 ms apart, each cleanup runs while others commit layers.
	for ((i = 0; i < 10; i++)); do
		"$CUNPACK" -q "$REGISTRY/test/case-deep:latest" \
			>"$BATS_TEST_TMPDIR/out$i" 2>"$BATS_TEST_TMPDIR/err$i" &
		pids+=($!)
		sleep 0.05
	done
	for i in "${!pids[@]}"; do
		rc=0
		wait "${pids[$i]}" || rc=$?
		assert_eq "$rc" 0 "cunpack $i: $(cat "$BATS_TEST_TMPDIR/err$i")"
	done
	run snapshot_keys
	assert_not_contains "$output" extract- "snapshot keys"
	assert_eq "$(snapshot_keys | wc -l)" 120 "snapshots"
}

@test "cunpack (overlayfs, root with a comma) names the root" {
	pull_fixture busybox
	local root=$BATS_TEST_TMPDIR/a,b
	run_tool 0 cpull -q --root "$root" "$REGISTRY/test/busybox:latest"
	run_tool 1 cunpack --root "$root" "$REGISTRY/test/busybox:latest"
	assert_contains "$stderr" "store root '$root' contains ',' or ':'" "stderr"
	run_tool 0 cunpack -q --root "$root" --snapshotter native \
		"$REGISTRY/test/busybox:latest"
}
