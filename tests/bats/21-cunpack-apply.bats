#!/usr/bin/env bats
# SPDX-License-Identifier: Apache-2.0
# cunpack: exact layer application and hostile layers, on images that
# tests/bats/fixtures/mklayers builds with Python's tarfile.  Each tree is
# compared with umoci's where umoci reads the image too.

load helpers
load store

setup() {
	requires root overlay skopeo
	ckit_setup
	HOST_MARKERS=$BATS_TEST_TMPDIR/host
}

teardown() {
	ckit_teardown
}

# unpack_case CASE: push, pull and unpack CASE, then mount its view on
# $BATS_TEST_TMPDIR/view.
unpack_case() {
	push_case "$1"
	run_tool 0 cunpack "$REGISTRY/test/case-$1:latest"
	mount_chain "$output" "$BATS_TEST_TMPDIR/view"
	VIEW=$BATS_TEST_TMPDIR/view
}

# same_as_umoci CASE: the view equals umoci's tree of CASE.
same_as_umoci() {
	requires umoci
	umoci_case "$1" "$BATS_TEST_TMPDIR/umoci"
	assert_trees_equal "$BATS_TEST_TMPDIR/umoci" "$VIEW"
}

@test "cunpack (whiteout before its parents) is a no-op" {
	unpack_case whiteout-before-parents
	assert_eq "$(ls -A "$VIEW/d")" new "entries of d"
	assert_eq "$(stat -c %a "$VIEW/d")" 750 "mode of d"
	same_as_umoci whiteout-before-parents
}

@test "cunpack (zero-byte layers) applies them as empty" {
	unpack_case empty-layers
	assert_eq "$(ls -A "$VIEW")" a "entries"
	assert_eq "$(<"$VIEW/a")" x "contents of a"
	same_as_umoci empty-layers
}

@test "cunpack (tar cut short) fails naming it, leaves no snapshot" {
	push_case truncated
	run_tool 1 cunpack "$REGISTRY/test/case-truncated:latest"
	assert_contains "$stderr" "Truncated tar archive" "stderr"
	assert_not_contains "$stderr" "Unknown error" "stderr"
	assert_eq "$(ls "$CKIT_ROOT/snapshots/overlayfs/snapshots")" "" "snapshots left"
}

@test "cunpack (diff ID not sha256) names the value" {
	local layout=$BATS_TEST_TMPDIR/layouts/bad-diff-id cfg
	"$FIXTURES/mklayers" empty-layers "$layout"
	cfg=$(jq -r '.manifests[0].digest' "$layout/index.json")
	cfg=$(jq -r .config.digest "$layout/blobs/sha256/${cfg#sha256:}")
	jq '.rootfs.diff_ids[1] = "sha512:abc"' "$layout/blobs/sha256/${cfg#sha256:}" \
		>"$BATS_TEST_TMPDIR/config.json"
	python3 - "$layout" "$BATS_TEST_TMPDIR/config.json" <<-'PY'
		import hashlib, json, os, sys
		layout, cfg = sys.argv[1], open(sys.argv[2], "rb").read()
		def put(data):
		    h = hashlib.sha256(data).hexdigest()
		    open(os.path.join(layout, "blobs", "sha256", h), "wb").write(data)
		    return "sha256:" + h, len(data)
		idx = json.load(open(os.path.join(layout, "index.json")))
		mpath = os.path.join(layout, "blobs", "sha256", idx["manifests"][0]["digest"][7:])
		m = json.load(open(mpath))
		m["config"]["digest"], m["config"]["size"] = put(cfg)
		idx["manifests"][0]["digest"], idx["manifests"][0]["size"] = put(json.dumps(m).encode())
		json.dump(idx, open(os.path.join(layout, "index.json"), "w"))
	PY
	skopeo copy -q --dest-tls-verify=false "oci:$layout:latest" \
		"docker://$REGISTRY/test/bad-diff-id:latest"
	run_tool 0 cpull "$REGISTRY/test/bad-diff-id:latest"
	run_tool 1 cunpack "$REGISTRY/test/bad-diff-id:latest"
	assert_contains "$stderr" "image config: diff ID 2: invalid digest 'sha512:abc'"
}

@test "cunpack (opaque marker after siblings) hides lower only" {
	unpack_case opaque-after-siblings
	assert_eq "$(ls -A "$VIEW/o" | paste -sd ' ')" "new sub" "entries of o"
	assert_eq "$(ls -A "$VIEW/o/sub")" y "entries of o/sub"
	assert_file_exists "$VIEW/keep"
	run find "$CKIT_ROOT/snapshots" -name '.wh.*'
	assert_eq "$output" "" "OCI whiteout files in snapshots"
	same_as_umoci opaque-after-siblings
}

@test "cunpack (whiteout of this layer's own entries) hides lower only" {
	unpack_case whiteout-own-entries
	assert_eq "$(ls -A "$VIEW/links")" new "entries of links"
	assert_eq "$(<"$VIEW/file")" 2 "contents of file"
	assert_file_exists "$VIEW/keep"
	same_as_umoci whiteout-own-entries
}

@test "cunpack (hardlinked file whited out) keeps the other" {
	unpack_case hardlink-whiteout
	assert_file_not_exists "$VIEW/a"
	assert_eq "$(<"$VIEW/b")" "shared contents" "contents of b"
	same_as_umoci hardlink-whiteout
}

@test "cunpack (hardlink to a lower file) copies it up" {
	unpack_case hardlink-lower
	[[ $VIEW/g -ef $VIEW/dir/f ]] || { echo "g is not dir/f" >&2; return 1; }
	assert_eq "$(stat -c '%a %u:%g' "$VIEW/g")" "600 7:8" "mode and owner"
	assert_eq "$(<"$VIEW/g")" "from layer 1" "contents"
	same_as_umoci hardlink-lower
}

@test "cunpack (every entry type) keeps modes, owners, xattrs" {
	unpack_case types
	local listing
	listing=$("$FIXTURES/tree-compare" -l "$VIEW")
	assert_contains "$listing" $'bin/su\t-\t4755\t0:0'
	assert_contains "$listing" $'bin/su2\t-\t2755\t0:50'
	assert_contains "$listing" $'shared\td\t2775\t0:50'
	assert_contains "$listing" $'tmp\td\t1777\t0:0'
	assert_contains "$listing" $'dev/null\tc\t0666\t0:0\t1,3'
	assert_contains "$listing" $'dev/loop9\tb\t0660\t0:0\t7,9'
	assert_contains "$listing" $'dev/fifo\tp\t0600'
	assert_contains "$listing" $'abs\tl\t0777\t0:0\t-> /bin/tool'
	assert_contains "$listing" "security.capability=0100000200040000"
	assert_contains "$listing" $'bin/cap\t-\t0755\t1000:1000'
	assert_contains "$listing" "user.one=31,user.two=32"
	assert_contains "$listing" "user.dir=796573"
	assert_eq "$(stat -c %Y "$VIEW/home/app")" 1703980800 "directory mtime"
	assert_eq "$(cat "$VIEW"/long/d*/e*/f*)" "long name" "long name contents"
	same_as_umoci types
}

@test "cunpack (file, dir and symlink swap types) replaces them" {
	unpack_case file-dir
	[[ -d $VIEW/x && -f $VIEW/y && -d $VIEW/z && ! -L $VIEW/z ]]
	assert_eq "$(ls -A "$VIEW/z")" in-z "entries of z"
	same_as_umoci file-dir
}

@test "cunpack (compressed layers typed as tar) reads magic bytes" {
	unpack_case mislabeled
	assert_eq "$(<"$VIEW/gz")" "gzip as tar" "gzip layer"
	assert_eq "$(<"$VIEW/zst")" "zstd as tar" "zstd layer"
	assert_eq "$(<"$VIEW/plain")" "tar" "tar layer"
}

@test "cunpack (sparse file) keeps its size and holes" {
	unpack_case sparse
	assert_eq "$(stat -c %s "$VIEW/sparse")" 16777216 "size"
	assert_eq "$(dd if="$VIEW/sparse" bs=1 skip=8388608 count=13 status=none)" \
		"data at 83886" "data at 8 MiB"
	(($(stat -c %b "$VIEW/sparse") * 512 < 1048576)) ||
		{ echo "sparse file takes $(stat -c %b "$VIEW/sparse") blocks" >&2; return 1; }
	same_as_umoci sparse
}

@test "cunpack (blob changed in the store) fails, no snapshot" {
	push_case mislabeled
	local layout=$BATS_TEST_TMPDIR/layouts/mislabeled manifest layer
	manifest=$(jq -r '.manifests[0].digest' "$layout/index.json")
	layer=$(jq -r '.layers[0].digest' "$layout/blobs/sha256/${manifest#sha256:}")
	# Bytes after the gzip member still decompress, but change the digest.
	printf 'x' >>"$CKIT_ROOT/content/blobs/sha256/${layer#sha256:}"
	run_tool 1 cunpack "$REGISTRY/test/case-mislabeled:latest"
	assert_contains "$stderr" "layer 1 '$layer'"
	assert_contains "$stderr" "the blob hashes to"
	assert_eq "$(snapshot_keys)" "" "snapshots"
}

@test "cunpack (.. and absolute names) stays in the snapshot" {
	unpack_case dotdot
	assert_host_untouched
	assert_file_exists "$VIEW/escape-dotdot"
	assert_file_exists "$VIEW/escape-a"
	assert_file_exists "$VIEW/escape-abs"
	assert_file_exists "$VIEW$HOST_MARKERS/escape-hostpath"
	run find "$BATS_TEST_TMPDIR" -name 'escape-*' -not -path "$CKIT_ROOT/*" \
		-not -path "$VIEW/*"
	assert_eq "$output" "" "escaped files"
	same_as_umoci dotdot
}

@test "cunpack (symlinks to the host and to /) stays inside" {
	unpack_case symlink-parent
	assert_host_untouched
	assert_file_exists "$VIEW$HOST_MARKERS/escape-symlink"
	assert_file_exists "$VIEW$HOST_MARKERS/escape-layer2"
	assert_file_exists "$VIEW/escape-up"
	assert_file_exists "$VIEW/escape-root"
	run find "$BATS_TEST_TMPDIR" -name 'escape-*' -not -path "$CKIT_ROOT/*" \
		-not -path "$VIEW/*"
	assert_eq "$output" "" "escaped files"
	same_as_umoci symlink-parent
}

@test "cunpack (hardlink to a host path) fails naming the entry" {
	push_case hardlink-outside
	run_tool 1 cunpack "$REGISTRY/test/case-hardlink-outside:latest"
	assert_contains "$stderr" "entry 'hl'"
	assert_contains "$stderr" "not found"
	assert_host_untouched
	assert_eq "$(snapshot_keys)" "" "snapshots"
}

@test "cunpack (hardlink through a symlink) fails, host intact" {
	push_case hardlink-via-symlink
	run_tool 1 cunpack "$REGISTRY/test/case-hardlink-via-symlink:latest"
	assert_contains "$stderr" "entry 'hl'"
	assert_host_untouched
	assert_eq "$(snapshot_keys)" "" "snapshots"
}

@test "cunpack (whiteout of ..) fails naming the entry" {
	push_case whiteout-dotdot
	run_tool 1 cunpack "$REGISTRY/test/case-whiteout-dotdot:latest"
	assert_contains "$stderr" "entry 'd/.wh...': invalid whiteout name"
	assert_eq "$(snapshot_keys | wc -l)" 1 "snapshots (layer 1 only)"
	assert_eq "$(ls "$CKIT_ROOT/snapshots/overlayfs/snapshots" | wc -l)" 1 \
		"snapshot directories"
}

@test "cunpack (100,000 entries) applies them all" {
	unpack_case many-entries
	assert_eq "$(find "$VIEW" -type f | wc -l)" 99000 "files"
	assert_eq "$(find "$VIEW" -mindepth 1 -type d | wc -l)" 1000 "directories"
}
