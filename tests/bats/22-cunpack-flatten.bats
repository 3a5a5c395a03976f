#!/usr/bin/env bats
# SPDX-License-Identifier: Apache-2.0
# cunpack --flatten and --no-flatten: all the missing layers of an image
# in one snapshot on native and btrfs, compared with one snapshot per
# layer and with umoci, whiteouts and opaque directories across the
# layers of one snapshot, images that share layers, kills and bad layers.

load helpers
load store

CSNAPSHOT=${CSNAPSHOT:-$TOP/tools/csnapshot/csnapshot}
CCONTAINER=${CCONTAINER:-$TOP/tools/ccontainer/ccontainer}

setup() {
	requires root
	ckit_setup
}

teardown() {
	ckit_teardown
}

# use_snapshotter NAME: make NAME the snapshotter of the store helpers,
# put CKIT_ROOT on a btrfs loop device for btrfs, and set PER_LAYER_ROOT
# to a second store on the same filesystem.
use_snapshotter() {
	SNAPSHOTTER=$1
	if [[ $1 == btrfs ]]; then
		btrfs_root
	fi
	PER_LAYER_ROOT=$(dirname "$CKIT_ROOT")/per-layer
}

# flat_and_per_layer REF: unpack REF with --flatten into $CKIT_ROOT and
# with --no-flatten into $PER_LAYER_ROOT, then set FLAT and PER_LAYER to
# the fs dirs of the two top snapshots.
flat_and_per_layer() {
	local ref=$1 chain n

	run_tool 0 cpull "$ref"
	run_tool 0 cunpack --json --flatten --snapshotter "$SNAPSHOTTER" "$ref"
	chain=$(jq -r .chain_id <<<"$output")
	n=$(jq -r .layers <<<"$output")
	assert_eq "$(snapshot_keys)" "$chain" "snapshots of the flattened store"
	FLAT=$(snapshot_fs "$chain")

	CKIT_ROOT=$PER_LAYER_ROOT run_tool 0 cpull "$ref"
	CKIT_ROOT=$PER_LAYER_ROOT run_tool 0 cunpack --no-flatten \
		--snapshotter "$SNAPSHOTTER" "$ref"
	assert_eq "$output" "$chain" "chain ID of the per-layer unpack"
	assert_eq "$(CKIT_ROOT=$PER_LAYER_ROOT snapshot_keys | wc -l)" "$n" \
		"snapshots of the per-layer store"
	PER_LAYER=$(CKIT_ROOT=$PER_LAYER_ROOT snapshot_fs "$chain")
}

# mtime_listing DIR: print path, type and modification time of every
# entry below DIR, sorted. tree-compare leaves times out.
mtime_listing() {
	(cd "$1" && find . -mindepth 1 -printf '%p\t%y\t%T@\n' | LC_ALL=C sort)
}

# flatten_differential SNAPSHOTTER NAME: fixture NAME unpacked flattened
# gives the tree of the per-layer unpack, times included, and umoci's.
flatten_differential() {
	requires umoci
	use_snapshotter "$1"
	flat_and_per_layer "$REGISTRY/test/$2:latest"
	umoci_fixture "$2" "$BATS_TEST_TMPDIR/umoci"
	assert_trees_equal "$BATS_TEST_TMPDIR/umoci" "$FLAT"
	assert_trees_equal "$BATS_TEST_TMPDIR/umoci" "$PER_LAYER"
	diff -u <(mtime_listing "$PER_LAYER") <(mtime_listing "$FLAT")
}

# flatten_cases SNAPSHOTTER: each mklayers case with several layers,
# unpacked flattened, gives umoci's tree in one snapshot.
flatten_cases() {
	local name chain

	requires skopeo umoci
	use_snapshotter "$1"
	HOST_MARKERS=$BATS_TEST_TMPDIR/host
	for name in opaque-across-layers opaque-after-siblings \
		whiteout-before-parents whiteout-own-entries hardlink-whiteout \
		hardlink-lower file-dir types; do
		push_case "$name"
		run_tool 0 cunpack --json --flatten --snapshotter "$1" \
			"$REGISTRY/test/case-$name:latest"
		chain=$(jq -r .chain_id <<<"$output")
		assert_eq "$(jq -r '.diff_ids | length' "$(snapshot_meta "$chain")")" \
			"$(jq -r .layers <<<"$output")" "diff IDs of case $name"
		umoci_case "$name" "$BATS_TEST_TMPDIR/umoci-$name"
		assert_trees_equal "$BATS_TEST_TMPDIR/umoci-$name" "$(snapshot_fs "$chain")"
	done
	assert_host_untouched
}

# flatten_opaque SNAPSHOTTER: in one snapshot of three layers, the opaque
# directory and the whiteouts of layer 3 remove what layers 1 and 2 made.
flatten_opaque() {
	local chain fs

	requires skopeo
	use_snapshotter "$1"
	push_case opaque-across-layers
	run_tool 0 cunpack --flatten --snapshotter "$1" \
		"$REGISTRY/test/case-opaque-across-layers:latest"
	chain=$output
	assert_eq "$(snapshot_keys)" "$chain" "snapshots"
	fs=$(snapshot_fs "$chain")
	assert_eq "$(ls -A "$fs/o")" from-3 "entries of o"
	assert_eq "$(ls -A "$fs/w")" keep-1 "entries of w"
	assert_eq "$(ls -A "$fs" | paste -sd ' ')" "o w" "entries of the root"
	run find "$fs" -name '.wh.*'
	assert_eq "$output" "" "whiteout files"
}

# fork_layer DIR: write DIR/fork.tar and DIR/fork.tar.gz, a layer for
# test/layers' first two layers that whites out /data/file.txt and
# busybox's /bin/vi and makes /data/tree opaque with one new file.
fork_layer() {
	local dir=$1

	mkdir -p "$dir/src/data/tree" "$dir/src/bin"
	: >"$dir/src/data/.wh.file.txt"
	: >"$dir/src/bin/.wh.vi"
	: >"$dir/src/data/tree/.wh..wh..opq"
	echo "added by the fork" >"$dir/src/data/tree/fork.txt"
	tar --numeric-owner --owner=0 --group=0 --mtime=@1704067200 \
		-C "$dir/src" -cf "$dir/fork.tar" data/.wh.file.txt bin/.wh.vi \
		data/tree/.wh..wh..opq data/tree/fork.txt
	gzip -n -c "$dir/fork.tar" >"$dir/fork.tar.gz"
}

# shared_prefix SNAPSHOTTER: images that share lower layers with a
# flattened image, whose lower chain IDs have no snapshot, unpack whole.
shared_prefix() {
	local sn=$1 layers busybox fork dir=$BATS_TEST_TMPDIR/fork

	requires skopeo umoci
	use_snapshotter "$sn"
	pull_fixture layers
	pull_fixture busybox
	run_tool 0 cunpack --flatten --snapshotter "$sn" "$REGISTRY/test/layers:latest"
	layers=$output

	# busybox is layer 1 of test/layers, whose snapshot holds all four.
	run_tool 0 cunpack --json --flatten --snapshotter "$sn" \
		"$REGISTRY/test/busybox:latest"
	busybox=$(jq -r .chain_id <<<"$output")
	assert_eq "$(jq -r .applied <<<"$output")" 1 "busybox layers applied"
	assert_eq "$(jq -r '.parent // "none"' "$(snapshot_meta "$busybox")")" none \
		"parent of busybox's snapshot"
	umoci_fixture busybox "$BATS_TEST_TMPDIR/umoci-busybox"
	assert_trees_equal "$BATS_TEST_TMPDIR/umoci-busybox" "$(snapshot_fs "$busybox")"

	# The fork shares layers 1 and 2 with test/layers. Layer 1 is
	# busybox's snapshot now; layer 2 has none.
	fork_layer "$dir"
	image_plus "$(fixture_layout layers-gzip)" 2 "$dir/fork.tar.gz" \
		application/vnd.oci.image.layer.v1.tar+gzip \
		"sha256:$(sha256sum <"$dir/fork.tar" | cut -c1-64)" "$dir/layout"
	skopeo copy -q --dest-tls-verify=false "oci:$dir/layout:latest" \
		"docker://$REGISTRY/test/fork-$sn:latest"
	pull_fixture "fork-$sn"
	run_tool 0 cunpack --json --flatten --snapshotter "$sn" \
		"$REGISTRY/test/fork-$sn:latest"
	fork=$(jq -r .chain_id <<<"$output")
	assert_eq "$(jq -r .applied <<<"$output")" 2 "fork layers applied"
	assert_eq "$(jq -r .parent "$(snapshot_meta "$fork")")" "$busybox" \
		"parent of the fork's snapshot"
	assert_eq "$(jq -r '.diff_ids | length' "$(snapshot_meta "$fork")")" 2 \
		"diff IDs of the fork's snapshot"
	assert_eq "$(snapshot_keys)" "$(printf '%s\n' "$layers" "$busybox" "$fork" | sort)" \
		"snapshots"
	umoci raw unpack --image "$dir/layout:latest" "$BATS_TEST_TMPDIR/umoci-fork"
	assert_trees_equal "$BATS_TEST_TMPDIR/umoci-fork" "$(snapshot_fs "$fork")"
	assert_file_not_exists "$(snapshot_fs "$fork")/bin/vi" "busybox's /bin/vi"
	assert_eq "$(ls -A "$(snapshot_fs "$fork")/data/tree")" fork.txt "entries of /data/tree"
	assert_tree "$(snapshot_fs "$layers")" "$LAYERS_EXPECTED"

	# test/layers' top snapshot is there, though its lower ones are not.
	run_tool 0 cunpack --json --flatten --snapshotter "$sn" \
		"$REGISTRY/test/layers:latest"
	assert_eq "$(jq -r .applied <<<"$output")" 0 "layers applied again"
}

# fifo_layer INDEX: push the 120-layer case image and put a FIFO in the
# store in place of the blob of layer INDEX (from 0), so that an unpack
# waits there. Sets FIFO_BLOB; restore_layer puts the blob back.
fifo_layer() {
	local layout=$BATS_TEST_TMPDIR/layouts/deep manifest digest

	push_case deep
	manifest=$(jq -r '.manifests[0].digest' "$layout/index.json")
	digest=$(jq -r ".layers[$1].digest" "$layout/blobs/sha256/${manifest#sha256:}")
	FIFO_BLOB=$CKIT_ROOT/content/blobs/sha256/${digest#sha256:}
	mv "$FIFO_BLOB" "$BATS_TEST_TMPDIR/held-layer"
	mkfifo "$FIFO_BLOB"
}

# restore_layer: put back the blob that fifo_layer took out.
restore_layer() {
	rm "$FIFO_BLOB"
	mv "$BATS_TEST_TMPDIR/held-layer" "$FIFO_BLOB"
}

# kill_flattened SNAPSHOTTER: kill -9 a flattened unpack of 120 layers
# while it waits for layer 61, whose blob in the store is a FIFO for the
# time being, then rerun it.
kill_flattened() {
	local sn=$1 ref=$REGISTRY/test/case-deep:latest pid key="" i chain

	requires skopeo
	use_snapshotter "$sn"
	fifo_layer 60

	"$CUNPACK" --flatten --snapshotter "$sn" "$ref" >/dev/null 2>&1 &
	pid=$!
	for ((i = 0; i < 1000; i++)); do
		key=$(snapshot_keys | grep '^extract-' || true)
		[[ -n $key && -e $(snapshot_fs "$key")/layer-059 ]] && break
		sleep 0.01
	done
	kill -KILL "$pid"
	wait "$pid" || true
	restore_layer
	assert_contains "$key" "extract-" "snapshot of the killed unpack"
	assert_file_exists "$(snapshot_fs "$key")/layer-059" "file of layer 60"

	run_tool 0 cunpack --json --flatten --snapshotter "$sn" "$ref"
	chain=$(jq -r .chain_id <<<"$output")
	assert_eq "$(jq -r .applied <<<"$output")" 120 "layers applied"
	assert_eq "$(snapshot_keys)" "$chain" "snapshots"
	assert_eq "$(ls "$CKIT_ROOT/snapshots/$sn/snapshots" | wc -l)" 1 \
		"snapshot directories"
	assert_eq "$(ls "$(snapshot_fs "$chain")" | wc -l)" 120 "files"
	assert_eq "$(<"$(snapshot_fs "$chain")/layer-119")" "layer 119" "last file"
}

# kill_chain SNAPSHOTTER: kill -9 an unpack of 120 layers, a snapshot
# each, while it waits for layer 61 (a FIFO in the store for the time
# being), then rerun it. The killed unpack leaves 61 stacked extract
# snapshots, none committed yet.
kill_chain() {
	local sn=$1 ref=$REGISTRY/test/case-deep:latest pid i n=0 chain

	requires skopeo
	use_snapshotter "$sn"
	fifo_layer 60

	"$CUNPACK" --no-flatten --snapshotter "$sn" "$ref" >/dev/null 2>&1 &
	pid=$!
	for ((i = 0; i < 1000; i++)); do
		n=$(snapshot_keys | grep -c '^extract-' || true)
		((n >= 61)) && break
		sleep 0.01
	done
	kill -KILL "$pid"
	wait "$pid" || true
	restore_layer
	assert_eq "$n" 61 "extract snapshots of the killed unpack"
	assert_eq "$(snapshot_keys | grep -vc '^extract-' || true)" 0 \
		"snapshots committed before the kill"

	run_tool 0 cunpack --json --no-flatten --snapshotter "$sn" "$ref"
	chain=$(jq -r .chain_id <<<"$output")
	assert_eq "$(jq -r .applied <<<"$output")" 120 "layers applied"
	run snapshot_keys
	assert_not_contains "$output" "extract-" "snapshot keys"
	assert_eq "$(snapshot_keys | wc -l)" 120 "snapshots"
	assert_eq "$(ls "$CKIT_ROOT/snapshots/$sn/snapshots" | wc -l)" 120 \
		"snapshot directories"
	# A btrfs snapshot holds the whole tree, an overlayfs one its layer.
	if [[ $sn == btrfs ]]; then
		assert_eq "$(ls "$(snapshot_fs "$chain")" | wc -l)" 120 "files"
	else
		assert_eq "$(find "$CKIT_ROOT/snapshots/$sn/snapshots" -mindepth 3 \
			-maxdepth 3 -path '*/fs/*' | wc -l)" 120 "files"
	fi
	assert_eq "$(<"$(snapshot_fs "$chain")/layer-119")" "layer 119" "last file"
}

@test "cunpack (overlayfs, killed in a chain of layers) is finished by a rerun" {
	kill_chain overlayfs
}

@test "cunpack --no-flatten (btrfs, killed in a chain) is finished by a rerun" {
	kill_chain btrfs
}

@test "csnapshot rm (extract snapshot being filled) is refused" {
	local ref=$REGISTRY/test/case-deep:latest pid i key=""

	requires skopeo
	use_snapshotter overlayfs
	fifo_layer 10
	"$CUNPACK" --json "$ref" >"$BATS_TEST_TMPDIR/out" 2>&1 &
	pid=$!
	for ((i = 0; i < 1000; i++)); do
		(($(snapshot_keys | grep -c '^extract-' || true) >= 11)) && break
		sleep 0.01
	done
	# Any of the stacked snapshots: each is locked by the unpack.
	key=$(snapshot_keys | grep '^extract-' | tail -1)
	run_tool 1 "$TOP/tools/csnapshot/csnapshot" rm "$key"
	assert_contains "$stderr" "is being filled by a running unpack"
	cat "$BATS_TEST_TMPDIR/held-layer" >"$FIFO_BLOB"
	wait "$pid"
	restore_layer
	assert_eq "$(jq -r .applied "$BATS_TEST_TMPDIR/out")" 120 "layers applied"
}

@test "cunpack (directory without a record, temporary record) removes them" {
	pull_fixture busybox
	run_tool 0 cunpack "$REGISTRY/test/busybox:latest"
	mkdir -p "$CKIT_ROOT/snapshots/overlayfs/snapshots/0123456789abcdef/fs"
	echo x >"$CKIT_ROOT/snapshots/overlayfs/snapshots/0123456789abcdef/fs/f"
	echo '{' >"$CKIT_ROOT/snapshots/overlayfs/meta/x.json.tmp-0a1b2c3d4e5f"
	pull_fixture layers
	run_tool 0 cunpack "$REGISTRY/test/layers:latest"
	assert_file_not_exists "$CKIT_ROOT/snapshots/overlayfs/snapshots/0123456789abcdef" \
		"directory without a record"
	assert_file_not_exists "$CKIT_ROOT/snapshots/overlayfs/meta/x.json.tmp-0a1b2c3d4e5f" \
		"temporary record"
	assert_eq "$(ls "$CKIT_ROOT/snapshots/overlayfs/snapshots" | wc -l)" \
		"$(snapshot_keys | wc -l)" "directories per record"
}

@test "cunpack (btrfs, extract record left) fails, rerun removes it" {
	requires strace
	use_snapshotter btrfs
	pull_fixture layers
	# The first unlink of the unpack removes an extract snapshot's record
	# after the commits.
	run strace -f -o /dev/null -e trace=unlink -e inject=unlink:error=EIO:when=1 \
		"$CUNPACK" --snapshotter btrfs "$REGISTRY/test/layers:latest"
	assert_eq "$status" 1 "status: $output"
	assert_contains "$output" "Input/output error" "message"
	run_tool 0 cunpack --snapshotter btrfs "$REGISTRY/test/layers:latest"
	assert_eq "$(snapshot_keys | grep -c '^extract-')" 0 "extract snapshots"
	assert_eq "$(snapshot_keys | wc -l)" 4 "snapshots"
}

@test "cunpack --no-flatten (120 layers, 64 open files) succeeds" {
	requires skopeo
	use_snapshotter native
	push_case deep
	run bash -c 'ulimit -n 64 && exec "$1" --json --no-flatten --snapshotter native "$2"' \
		- "$CUNPACK" "$REGISTRY/test/case-deep:latest"
	assert_eq "$status" 0 "status"
	assert_eq "$(jq -r .applied <<<"$output")" 120 "layers applied"
	assert_eq "$(snapshot_keys | wc -l)" 120 "snapshots"
}

@test "cunpack --flatten (overlayfs) exits 2" {
	pull_fixture busybox
	run_tool 2 cunpack --flatten --snapshotter overlayfs \
		"$REGISTRY/test/busybox:latest"
	assert_contains "$stderr" \
		"cunpack: --flatten needs the btrfs or native snapshotter, not 'overlayfs'"
	assert_contains "$stderr" "Try 'cunpack --help'"
	assert_file_not_exists "$CKIT_ROOT/snapshots/default" "store default"
	CKIT_SNAPSHOTTER=overlayfs run_tool 2 cunpack --flatten \
		"$REGISTRY/test/busybox:latest"
	assert_contains "$stderr" "not 'overlayfs'"
	assert_eq "$(snapshot_keys)" "" "snapshots"
}

@test "cunpack (native default) flattens into one snapshot" {
	SNAPSHOTTER=native
	pull_fixture layers
	run_tool 0 cunpack --json --snapshotter native "$REGISTRY/test/layers:latest"
	local chain
	chain=$(jq -r .chain_id <<<"$output")
	assert_eq "$chain" "$(chain_id_of layers)" "chain ID"
	assert_eq "$(jq -r .applied <<<"$output")" 4 "layers applied"
	assert_eq "$(snapshot_keys)" "$chain" "snapshots"
	assert_tree "$(snapshot_fs "$chain")" "$LAYERS_EXPECTED"
	run_tool 0 "$CSNAPSHOT" info "$chain"
	assert_eq "$(jq -c .diff_ids <<<"$output")" \
		"$(fixture_blob layers "$(fixture_config_digest layers)" | jq -c .rootfs.diff_ids)" \
		"diff IDs in csnapshot info"
	assert_eq "$(jq -r '.parent // "none"' <<<"$output")" none "parent"
}

@test "cunpack --no-flatten (native) commits each layer" {
	SNAPSHOTTER=native
	pull_fixture layers
	run_tool 0 cunpack --flatten --no-flatten --snapshotter native \
		"$REGISTRY/test/layers:latest"
	local chain=$output last
	assert_eq "$(snapshot_keys | wc -l)" 4 "snapshots"
	assert_tree "$(snapshot_fs "$chain")" "$LAYERS_EXPECTED"
	last=$(fixture_blob layers "$(fixture_config_digest layers)" |
		jq -c '.rootfs.diff_ids[-1:]')
	run_tool 0 "$CSNAPSHOT" info "$chain"
	assert_eq "$(jq -c .diff_ids <<<"$output")" "$last" "diff IDs of the top"
}

@test "cunpack --flatten (btrfs) makes one read-only subvolume" {
	use_snapshotter btrfs
	pull_fixture layers
	run_tool 0 cunpack --flatten --snapshotter btrfs "$REGISTRY/test/layers:latest"
	local chain=$output
	assert_eq "$(snapshot_keys)" "$chain" "snapshots"
	assert_tree "$(snapshot_fs "$chain")" "$LAYERS_EXPECTED"
	assert_eq "$(btrfs subvolume list "$BATS_TEST_TMPDIR/btrfs" | wc -l)" 1 \
		"subvolumes"
	run btrfs property get -ts "$(snapshot_fs "$chain")" ro
	assert_eq "$output" "ro=true" "read-only flag"
	assert_eq "$(jq -r '.diff_ids | length' "$(snapshot_meta "$chain")")" 4 \
		"diff IDs"
}

@test "cunpack (btrfs default) commits each layer" {
	use_snapshotter btrfs
	pull_fixture layers
	run_tool 0 cunpack --snapshotter btrfs "$REGISTRY/test/layers:latest"
	assert_eq "$(snapshot_keys | wc -l)" 4 "snapshots"
}

@test "cunpack --flatten layers (native) equals per-layer and umoci" {
	flatten_differential native layers
}

@test "cunpack --flatten layers (btrfs) equals per-layer and umoci" {
	flatten_differential btrfs layers
}

@test "cunpack --flatten user (native) equals per-layer and umoci" {
	flatten_differential native user
}

@test "cunpack --flatten user (btrfs) equals per-layer and umoci" {
	flatten_differential btrfs user
}

@test "cunpack --flatten multiarch (native) equals per-layer and umoci" {
	flatten_differential native multiarch
}

@test "cunpack --flatten multiarch (btrfs) equals per-layer and umoci" {
	flatten_differential btrfs multiarch
}

@test "cunpack --flatten (mklayers cases, native) equals umoci" {
	flatten_cases native
}

@test "cunpack --flatten (mklayers cases, btrfs) equals umoci" {
	flatten_cases btrfs
}

@test "cunpack --flatten (opaque across layers, native) clears them" {
	flatten_opaque native
}

@test "cunpack --flatten (opaque across layers, btrfs) clears them" {
	flatten_opaque btrfs
}

@test "cunpack --flatten (native, shared lower layers) unpacks each" {
	shared_prefix native
}

@test "cunpack --flatten (btrfs, shared lower layers) unpacks each" {
	shared_prefix btrfs
}

@test "cunpack --flatten (native, on busybox) applies the rest" {
	SNAPSHOTTER=native
	pull_fixture busybox
	pull_fixture layers
	run_tool 0 cunpack --snapshotter native "$REGISTRY/test/busybox:latest"
	local busybox=$output
	run_tool 0 cunpack --json --snapshotter native "$REGISTRY/test/layers:latest"
	local chain
	chain=$(jq -r .chain_id <<<"$output")
	assert_eq "$(jq -r .applied <<<"$output")" 3 "layers applied"
	assert_eq "$(jq -r .parent "$(snapshot_meta "$chain")")" "$busybox" "parent"
	assert_eq "$(jq -c .diff_ids "$(snapshot_meta "$chain")")" \
		"$(fixture_blob layers "$(fixture_config_digest layers)" | jq -c '.rootfs.diff_ids[1:]')" \
		"diff IDs"
	assert_eq "$(snapshot_keys | wc -l)" 2 "snapshots"
	assert_tree "$(snapshot_fs "$chain")" "$LAYERS_EXPECTED"
}

@test "cunpack --flatten (native, killed) is finished by a rerun" {
	kill_flattened native
}

@test "cunpack --flatten (btrfs, killed) is finished by a rerun" {
	kill_flattened btrfs
}

@test "cunpack --flatten (bad diff ID of layer 3) keeps nothing" {
	requires skopeo
	SNAPSHOTTER=native
	local dir=$BATS_TEST_TMPDIR/bad digest
	digest=$(fixture_layer_digests layers-gzip | sed -n 3p)
	image_plus "$(fixture_layout layers-gzip)" 2 \
		"$(fixture_layout layers-gzip)/blobs/sha256/${digest#sha256:}" \
		application/vnd.oci.image.layer.v1.tar+gzip "sha256:$(printf '0%.0s' {1..64})" \
		"$dir"
	skopeo copy -q --dest-tls-verify=false "oci:$dir:latest" \
		"docker://$REGISTRY/test/bad-layer-3:latest"
	pull_fixture bad-layer-3

	run_tool 1 cunpack --flatten --snapshotter native "$REGISTRY/test/bad-layer-3:latest"
	assert_contains "$stderr" "layer 3 'sha256:"
	assert_contains "$stderr" "image config says 'sha256:0000"
	assert_eq "$(snapshot_keys)" "" "snapshots"
	assert_eq "$(ls "$CKIT_ROOT/snapshots/native/snapshots")" "" "snapshot directories"

	run_tool 1 cunpack --no-flatten --snapshotter native "$REGISTRY/test/bad-layer-3:latest"
	assert_contains "$stderr" "layer 3 'sha256:"
	assert_eq "$(snapshot_keys | wc -l)" 2 "snapshots of layers 1 and 2"
	run snapshot_keys
	assert_not_contains "$output" "extract-" "snapshot keys"
	assert_eq "$(ls "$CKIT_ROOT/snapshots/native/snapshots" | wc -l)" 2 \
		"snapshot directories"
}

@test "crun-task run (native store) flattens the image" {
	requires runc
	SNAPSHOTTER=native
	pull_fixture layers
	run_tool 0 crun-task run --snapshotter native "$REGISTRY/test/layers:latest" \
		flat cat /data/opaque/new.txt
	assert_eq "$output" "added by layer b" "file of layer 4"
	assert_eq "$(snapshot_keys)" "$(printf '%s\n' "$(chain_id_of layers)" default/flat | sort)" \
		"snapshots"
	run_tool 0 "$CCONTAINER" rm flat
}

@test "ccontainer create (native store) flattens the image" {
	SNAPSHOTTER=native
	pull_fixture layers
	run_tool 0 "$CCONTAINER" create --snapshotter native \
		"$REGISTRY/test/layers:latest" flat
	assert_eq "$(snapshot_keys)" "$(printf '%s\n' "$(chain_id_of layers)" default/flat | sort)" \
		"snapshots"
	assert_tree "$(snapshot_fs default/flat)" "$LAYERS_EXPECTED"
	run_tool 0 "$CCONTAINER" rm flat
}
