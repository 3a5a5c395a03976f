#!/usr/bin/env bats
# SPDX-License-Identifier: Apache-2.0
# csnapshot: snapshot records, mounts, usage, and diffs that cunpack
# applies back into the same tree.

load helpers
load store

CSNAPSHOT=${CSNAPSHOT:-$TOP/tools/csnapshot/csnapshot}

setup() {
	requires root overlay
	ckit_setup
}

teardown() {
	ckit_teardown
}

# push_plus NAME KEEP DIFF_JSON: push test/layers' first KEEP layers plus
# the layer that `csnapshot diff --json --store` printed as DIFF_JSON, as
# $REGISTRY/test/NAME:latest, and pull it.
push_plus() {
	local name=$1 keep=$2 json=$3 digest

	digest=$(jq -r .digest <<<"$json")
	image_plus "$(fixture_layout layers)" "$keep" \
		"$CKIT_ROOT/content/blobs/sha256/${digest#sha256:}" \
		"$(jq -r .media_type <<<"$json")" "$(jq -r .diff_id <<<"$json")" \
		"$BATS_TEST_TMPDIR/$name"
	skopeo copy -q --dest-tls-verify=false "oci:$BATS_TEST_TMPDIR/$name:latest" \
		"docker://$REGISTRY/test/$name:latest"
	pull_fixture "$name"
}

# change_work DIR: add, remove, replace and chmod files of test/layers
# through the mounted writable snapshot DIR.
change_work() {
	local dir=$1

	echo "new in work" >"$dir/new-file"
	rm "$dir/data/file.txt"
	rm -rf "$dir/data/tree"
	mkdir "$dir/data/tree"
	echo "only child" >"$dir/data/tree/only"
	chmod 0700 "$dir/data/app-owned"
	ln -s /data/hard-2 "$dir/data/new-link"
	mkfifo "$dir/data/new-fifo"
	echo "with xattrs" >"$dir/data/xattrs"
	python3 -c 'import os, sys
os.setxattr(sys.argv[1], "user.roundtrip", b"yes")
os.setxattr(sys.argv[1], "security.capability",
            bytes.fromhex("0100000200040000000000000000000000000000"))' \
		"$dir/data/xattrs"
}

@test "csnapshot --help prints usage" {
	run_tool 0 "$CSNAPSHOT" --help
	assert_contains "$output" "usage: csnapshot"
	assert_contains "$output" "Exit status"
}

@test "csnapshot --bogus (bad option) exits 2" {
	run_tool 2 "$CSNAPSHOT" --bogus ls
	assert_contains "$stderr" "csnapshot: invalid option '--bogus'"
	assert_contains "$stderr" "Try 'csnapshot --help'"
}

@test "csnapshot (unknown command or arguments) exits 2" {
	run_tool 2 "$CSNAPSHOT" frobnicate
	assert_contains "$stderr" "unknown command 'frobnicate'"
	run_tool 2 "$CSNAPSHOT" commit onlyone
	assert_contains "$stderr" "wrong number of arguments for 'commit'"
	run_tool 2 "$CSNAPSHOT" diff key
	assert_contains "$stderr" "diff needs -o <file>, --store or both"
}

@test "csnapshot prepare and view (parent not found) fail" {
	run_tool 1 "$CSNAPSHOT" prepare k1 nosuch
	assert_contains "$stderr" "snapshot 'nosuch' not found"
	run_tool 1 "$CSNAPSHOT" view v1 nosuch
	assert_contains "$stderr" "snapshot 'nosuch' not found"
	run_tool 0 "$CSNAPSHOT" ls
	assert_eq "$output" "" "snapshots"
	assert_eq "$(ls "$CKIT_ROOT/snapshots/overlayfs/snapshots" | wc -l)" 0 \
		"directories"
}

@test "csnapshot prepare, commit, view, ls and info" {
	run_tool 0 "$CSNAPSHOT" prepare base
	echo data >"$(snapshot_fs base)/file"
	run_tool 0 "$CSNAPSHOT" commit layer1 base
	run_tool 0 "$CSNAPSHOT" view v1 layer1
	run_tool 0 "$CSNAPSHOT" --json prepare child layer1
	assert_eq "$(jq -r .kind <<<"$output")" active "kind of child"
	run_tool 0 "$CSNAPSHOT" ls
	assert_eq "$output" $'child\tlayer1\tactive\nlayer1\t\tcommitted\nv1\tlayer1\tview' "ls"
	run_tool 0 "$CSNAPSHOT" --json ls
	assert_eq "$(jq -sc 'map(.key)' <<<"$output")" '["child","layer1","v1"]' "ls --json keys"
	run_tool 0 "$CSNAPSHOT" info layer1
	assert_eq "$(jq -r .kind <<<"$output")" committed "kind"
	assert_eq "$(jq -r .snapshotter <<<"$output")" overlayfs "snapshotter"
	assert_eq "$(<"$(jq -r .path <<<"$output")/file")" data "file in path"
	assert_eq "$(jq -r 'has("diff_ids")' <<<"$output")" false "diff IDs"
	run_tool 1 "$CSNAPSHOT" prepare child layer1
	assert_contains "$stderr" "snapshot 'child' already exists"
	run_tool 1 "$CSNAPSHOT" commit layer1 child
	assert_contains "$stderr" "snapshot 'layer1' already exists"
	run_tool 1 "$CSNAPSHOT" info nothing
	assert_contains "$stderr" "snapshot 'nothing' not found"
}

@test "csnapshot info (unpacked layers) prints diff IDs" {
	pull_fixture layers
	run_tool 0 cunpack "$REGISTRY/test/layers:latest"
	local top=$output ids
	ids=$(fixture_blob layers "$(fixture_config_digest layers)" |
		jq -c .rootfs.diff_ids)
	run_tool 0 "$CSNAPSHOT" info "$top"
	assert_eq "$(jq -c .diff_ids <<<"$output")" "$(jq -c '.[3:]' <<<"$ids")" \
		"diff IDs of the top layer"
	run_tool 0 "$CSNAPSHOT" info "$(jq -r .parent <<<"$output")"
	assert_eq "$(jq -c .diff_ids <<<"$output")" "$(jq -c '.[2:3]' <<<"$ids")" \
		"diff IDs of its parent"
}

@test "csnapshot rm (children, container) keeps the snapshot" {
	run_tool 0 "$CSNAPSHOT" prepare base
	run_tool 0 "$CSNAPSHOT" commit layer1 base
	run_tool 0 "$CSNAPSHOT" prepare default/c1 layer1
	mkdir -p "$CKIT_ROOT/namespaces/default/containers"
	echo '{"id":"c1","image":"x","snapshotter":"overlayfs","snapshot_key":"default/c1"}' \
		>"$CKIT_ROOT/namespaces/default/containers/c1.json"
	run_tool 1 "$CSNAPSHOT" rm layer1
	assert_contains "$stderr" "snapshot 'layer1' has children"
	run_tool 1 "$CSNAPSHOT" rm default/c1
	assert_contains "$stderr" "used by container 'default/c1'"
	assert_contains "$stderr" "remove the container with 'ccontainer -n default rm c1'"
	rm "$CKIT_ROOT/namespaces/default/containers/c1.json"
	run_tool 0 "$CSNAPSHOT" rm default/c1 layer1
	run_tool 0 "$CSNAPSHOT" ls
	assert_eq "$output" "" "snapshots left"
	assert_eq "$(ls "$CKIT_ROOT/snapshots/overlayfs/snapshots")" "" "directories left"
}

@test "csnapshot rm (damaged record) removes it and its directories" {
	local damage key=default/d1
	for damage in "" '{"key": "de' '{"key": 5}'; do
		run_tool 0 "$CSNAPSHOT" prepare "$key"
		printf '%s' "$damage" >"$(snapshot_meta "$key")"
		run_tool 1 "$CSNAPSHOT" ls
		assert_eq "$output" "" "ls"
		assert_contains "$stderr" "skipping a snapshot record" "ls warning"
		run_tool 0 "$CSNAPSHOT" rm "$key"
		assert_contains "$stderr" "removing a damaged snapshot record" "rm warning"
		assert_file_not_exists "$(snapshot_meta "$key")" "record"
		assert_eq "$(ls "$CKIT_ROOT/snapshots/overlayfs/snapshots")" "" \
			"directories left"
	done
}

@test "csnapshot ls (damaged record) lists the rest, exits 1" {
	run_tool 0 "$CSNAPSHOT" prepare default/good
	run_tool 0 "$CSNAPSHOT" prepare default/bad
	printf '{"key": "de' >"$(snapshot_meta default/bad)"
	run_tool 1 "$CSNAPSHOT" ls
	assert_eq "$output" "$(printf 'default/good\t\tactive')" "ls output"
	assert_contains "$stderr" "skipping a snapshot record" "warning"
	assert_contains "$stderr" "1 snapshot record could not be read and was left out" "error"
	run_tool 1 "$CSNAPSHOT" usage
	assert_contains "$output" "default/good" "usage output"
	assert_contains "$stderr" "1 snapshot record could not be read" "usage error"
	run_tool 0 "$CSNAPSHOT" rm default/bad
	run_tool 0 "$CSNAPSHOT" ls
	assert_eq "$stderr" "" "stderr after rm"
}

@test "csnapshot ls, rm (FIFO, dangling symlink, directory records) fail fast" {
	local kind meta msg
	for kind in fifo symlink dir; do
		run_tool 0 "$CSNAPSHOT" prepare default/good
		run_tool 0 "$CSNAPSHOT" prepare default/bad
		meta=$(snapshot_meta default/bad)
		rm "$meta"
		case $kind in
		fifo) mkfifo "$meta"; msg="is a FIFO, not a regular file; remove it by hand" ;;
		symlink) ln -s /nonexistent "$meta"; msg="is a symbolic link to a missing file; remove it by hand" ;;
		dir) mkdir "$meta"; msg="is a directory, not a regular file; remove it by hand" ;;
		esac
		run_tool 1 timeout 10 "$CSNAPSHOT" ls
		assert_eq "$output" "$(printf 'default/good\t\tactive')" "ls output ($kind)"
		assert_contains "$stderr" "$msg" "warning ($kind)"
		assert_contains "$stderr" "1 snapshot record could not be read" "error ($kind)"
		run_tool 1 timeout 10 "$CSNAPSHOT" rm default/bad
		assert_contains "$stderr" "$msg" "rm ($kind)"
		rm -r "$meta"
		run_tool 0 "$CSNAPSHOT" rm default/good
	done
}

@test "cunpack keeps snapshots whose records are symlinks to records" {
	local meta
	run_tool 0 "$CSNAPSHOT" prepare default/kept
	meta=$(snapshot_meta default/kept)
	mv "$meta" "$BATS_TEST_TMPDIR/kept.json"
	ln -s "$BATS_TEST_TMPDIR/kept.json" "$meta"
	run_tool 0 "$CSNAPSHOT" ls
	assert_eq "$output" "$(printf 'default/kept\t\tactive')" "ls"
	pull_fixture busybox
	run_tool 0 cunpack "$REGISTRY/test/busybox:latest"
	run_tool 0 "$CSNAPSHOT" info default/kept
	assert_file_exists "$(jq -r .path <<<"$output")" "snapshot directory"
}

@test "csnapshot (no store at --root) creates none" {
	local root=$BATS_TEST_TMPDIR/typo cmd

	for cmd in ls usage; do
		run_tool 0 "$CSNAPSHOT" --root "$root" "$cmd"
		assert_eq "$output" "" "$cmd output"
		assert_contains "$stderr" "csnapshot: warning: no store at '$root'" "$cmd"
	done
	for cmd in "info k" "mounts k" "rm k" "commit n k" "diff --store k" "usage k"; do
		# shellcheck disable=SC2086 # the command and its operands
		run_tool 1 "$CSNAPSHOT" --root "$root" $cmd
		assert_contains "$stderr" "csnapshot: no store at '$root'" "$cmd"
	done
	assert_file_not_exists "$root" "store root"
	run_tool 0 "$CSNAPSHOT" --root "$root" prepare default/a
	assert_file_exists "$root/content/oci-layout" "store made by prepare"
}

@test "csnapshot ls (record renamed by hand) says to move it back" {
	local meta

	run_tool 0 "$CSNAPSHOT" prepare default/a
	meta=$(snapshot_meta default/a)
	mv "$meta" "${meta%/*}/renamed.json"
	run_tool 1 "$CSNAPSHOT" ls
	assert_contains "$stderr" "'${meta%/*}/renamed.json' contains the record of snapshot 'default/a', which belongs in '$meta'; move it there by hand"
	mv "${meta%/*}/renamed.json" "$meta"
	run_tool 0 "$CSNAPSHOT" ls
	assert_eq "$output" "$(printf 'default/a\t\tactive')" "ls output"
}

@test "csnapshot ls (two records of one key) names both directories" {
	local meta old new

	run_tool 0 "$CSNAPSHOT" prepare default/a
	meta=$(snapshot_meta default/a)
	old=$(jq -r .id "$meta")
	mv "$meta" "${meta%/*}/renamed.json"
	run_tool 0 "$CSNAPSHOT" prepare default/a
	new=$(jq -r .id "$meta")
	run_tool 1 "$CSNAPSHOT" ls
	assert_contains "$stderr" "'${meta%/*}/renamed.json' contains a record of snapshot 'default/a' with directory '$old', and '$meta' one with directory '$new'; remove the record you do not want by hand"
}

@test "csnapshot ls (record under another key's name) warns, exits 1" {
	run_tool 0 "$CSNAPSHOT" prepare default/a
	run_tool 0 "$CSNAPSHOT" prepare default/b
	cp "$(snapshot_meta default/a)" "$(snapshot_meta default/b)"
	run_tool 1 "$CSNAPSHOT" ls
	assert_eq "$output" "$(printf 'default/a\t\tactive')" "ls output"
	assert_contains "$stderr" "contains the record of snapshot 'default/a', which is in '$(snapshot_meta default/a)'; remove '$(snapshot_meta default/b)' by hand" "warning"
	run_tool 1 "$CSNAPSHOT" info default/b
	assert_contains "$stderr" "contains snapshot 'default/a' (remove it with 'csnapshot rm default/b')" "info"
	run_tool 0 "$CSNAPSHOT" rm default/b
	assert_file_not_exists "$(snapshot_meta default/b)" "copy"
	run_tool 0 "$CSNAPSHOT" info default/a
	assert_file_exists "$(jq -r .path <<<"$output")" "directory of default/a"
	run_tool 0 "$CSNAPSHOT" ls
}

@test "csnapshot ls (FIFO as the default snapshotter file) does not block" {
	run_tool 0 "$CSNAPSHOT" prepare default/a
	rm -f "$CKIT_ROOT/snapshots/default"
	mkfifo "$CKIT_ROOT/snapshots/default"
	CKIT_SNAPSHOTTER= run_tool 0 timeout 10 "$CSNAPSHOT" ls
	assert_eq "$output" "$(printf 'default/a\t\tactive')" "ls"
	assert_contains "$stderr" "warning: ignoring the store's default snapshotter: '$CKIT_ROOT/snapshots/default' is a FIFO, not a regular file; remove it by hand"
}

@test "csnapshot ls (stdout full) exits 1" {
	run_tool 0 "$CSNAPSHOT" prepare default/a
	run bash -c '"$1" ls >/dev/full' _ "$CSNAPSHOT"
	assert_eq "$status" 1 "status"
	assert_contains "$output" "write to stdout: No space left on device" "message"
}

@test "completion csnapshot (odd records) lists keys" {
	local meta_dir
	run_tool 0 "$CSNAPSHOT" prepare default/k1
	run_tool 0 "$CSNAPSHOT" prepare default/k2
	meta_dir=$(dirname "$(snapshot_meta default/k1)")
	mkfifo "$meta_dir/0fifo.json"
	mkdir "$meta_dir/0dir.json"
	run timeout 10 bash -c '
		source "$1"
		COMP_WORDS=(csnapshot rm ""); COMP_CWORD=2
		_csnapshot; printf "%s\n" "${COMPREPLY[@]}" | sort' _ \
		"$TOP/completions/bash/csnapshot"
	assert_eq "$status" 0 "status"
	assert_eq "$output" "$(printf 'default/k1\ndefault/k2')" "keys"
}

@test "csnapshot prepare, commit (key with a control character or bad UTF-8) fail" {
	run_tool 1 "$CSNAPSHOT" prepare "$(printf 'a\tb')"
	assert_contains "$stderr" "invalid snapshot key: it contains control character U+0009" "prepare"
	run_tool 0 "$CSNAPSHOT" prepare work
	run_tool 1 "$CSNAPSHOT" commit "$(printf 'c\nd')" work
	assert_contains "$stderr" "control character U+000A" "commit"
	run_tool 1 "$CSNAPSHOT" prepare $'a\xff'
	assert_contains "$stderr" "invalid snapshot key: it is not valid UTF-8" "prepare, bad UTF-8"
	run_tool 1 "$CSNAPSHOT" prepare $'a\xc2\x85'
	assert_contains "$stderr" "control character U+0085" "prepare, C1 control"
	run_tool 0 "$CSNAPSHOT" ls
	assert_eq "$output" "$(printf 'work\t\tactive')" "ls"
}

@test "csnapshot rm (damaged record with a child) keeps it" {
	run_tool 0 "$CSNAPSHOT" prepare base
	run_tool 0 "$CSNAPSHOT" commit layer1 base
	run_tool 0 "$CSNAPSHOT" prepare default/c1 layer1
	: >"$(snapshot_meta layer1)"
	run_tool 1 "$CSNAPSHOT" rm layer1
	assert_contains "$stderr" "snapshot 'layer1' has children"
	assert_file_exists "$(snapshot_meta layer1)" "record"
}

@test "cunpack drops damaged snapshot records and their directories" {
	run_tool 0 "$CSNAPSHOT" prepare default/d1
	run_tool 0 "$CSNAPSHOT" prepare default/d2
	assert_eq "$(ls "$CKIT_ROOT/snapshots/overlayfs/snapshots" | wc -l)" 2 \
		"directories before"
	: >"$(snapshot_meta default/d1)"
	printf '{"key": "default/d2", "id"' >"$(snapshot_meta default/d2)"
	pull_fixture layers
	run_tool 0 cunpack "$REGISTRY/test/layers:latest"
	assert_contains "$stderr" "removing a damaged snapshot record" "warning"
	assert_file_not_exists "$(snapshot_meta default/d1)" "record d1"
	assert_file_not_exists "$(snapshot_meta default/d2)" "record d2"
	run snapshot_keys
	assert_not_contains "$output" default/d "keys"
	# One directory per record: those of d1 and d2 went.
	assert_eq "$(ls "$CKIT_ROOT/snapshots/overlayfs/snapshots" | wc -l)" \
		"$(snapshot_keys | wc -l)" "directories"
}

@test "cunpack (records unreadable, no descriptors) removes none" {
	local before
	pull_fixture layers
	pull_fixture busybox
	run_tool 0 cunpack "$REGISTRY/test/layers:latest"
	before=$(snapshot_keys)
	# With 5 descriptors the cleanup cannot open a record (EMFILE).
	run python3 -c 'import os, resource, sys
os.closerange(3, 1024)
resource.setrlimit(resource.RLIMIT_NOFILE, (5, 5))
os.execv(sys.argv[1], sys.argv[1:])' "$TOP/tools/cunpack/cunpack" \
		"$REGISTRY/test/busybox:latest"
	assert_not_contains "$output" "damaged" "cunpack output"
	assert_eq "$(snapshot_keys)" "$before" "records"
	run_tool 0 cunpack "$REGISTRY/test/busybox:latest"
	run_tool 0 cunpack "$REGISTRY/test/layers:latest"
	assert_eq "$(ls "$CKIT_ROOT/snapshots/overlayfs/snapshots" | wc -l)" \
		"$(snapshot_keys | wc -l)" "directories, one per record"
	assert_eq "$(comm -23 <(echo "$before") <(snapshot_keys))" "" \
		"records of the layers that are gone"
}

@test "cunpack keeps a damaged record that a record names as parent" {
	local chain mid
	pull_fixture layers
	run_tool 0 cunpack "$REGISTRY/test/layers:latest"
	chain=$output
	mid=$(jq -r .parent "$(snapshot_meta "$chain")")
	: >"$(snapshot_meta "$mid")"
	run_tool 0 "$CSNAPSHOT" prepare default/other
	: >"$(snapshot_meta default/other)"
	run_tool 0 cunpack "$REGISTRY/test/layers:latest"
	assert_file_not_exists "$(snapshot_meta default/other)" "record without children"
	assert_file_exists "$(snapshot_meta "$mid")" "record of the parent"
	# Its directories stay: no directory counts as an orphan.
	assert_eq "$(ls "$CKIT_ROOT/snapshots/overlayfs/snapshots" | wc -l)" \
		"$(($(ls "$CKIT_ROOT/snapshots/overlayfs/meta" | wc -l) + 1))" \
		"directories"
}

@test "csnapshot diff -o /dev/null writes to a device" {
	pull_fixture layers
	run_tool 0 cunpack --prepare work "$REGISTRY/test/layers:latest"
	run_tool 0 "$CSNAPSHOT" diff -o /dev/null work
	assert_contains "$output" "sha256:" "digest"
}

# unpack_layers: unpack test/layers and set CHAIN to its top chain ID,
# META to that layer's record file and BEFORE to the record's text.
unpack_layers() {
	pull_fixture layers
	run_tool 0 cunpack "$REGISTRY/test/layers:latest"
	CHAIN=$output
	META=$(snapshot_meta "$CHAIN")
	BEFORE=$(cat "$META")
}

@test "csnapshot commit (existing name unreadable) fails, keeps the layer" {
	requires strace
	unpack_layers
	run_tool 0 "$CSNAPSHOT" prepare empty
	run strace -f -qq -o /dev/null -P "$META" -e trace=openat \
		-e inject=openat:error=EIO "$CSNAPSHOT" commit "$CHAIN" empty
	assert_eq "$status" 1 "status"
	assert_contains "$output" "$META" "the file in the error"
	assert_eq "$(cat "$META")" "$BEFORE" "the layer's record"
}

@test "cunpack (top record unreadable) fails, keeps the layer" {
	requires strace
	unpack_layers
	run strace -f -qq -o /dev/null -P "$META" -e trace=openat \
		-e inject=openat:error=EMFILE "$TOP/tools/cunpack/cunpack" \
		"$REGISTRY/test/layers:latest"
	assert_eq "$status" 1 "status"
	assert_contains "$output" "$META" "the file in the error"
	assert_eq "$(cat "$META")" "$BEFORE" "the layer's record"
	run_tool 0 cunpack "$REGISTRY/test/layers:latest"
	assert_eq "$(ls "$CKIT_ROOT/snapshots/overlayfs/snapshots" | wc -l)" \
		"$(snapshot_keys | wc -l)" "directories, one per record"
}

@test "csnapshot mounts (overlay) prints a mount that works" {
	pull_fixture layers
	run_tool 0 cunpack --prepare work "$REGISTRY/test/layers:latest"
	mkdir "$BATS_TEST_TMPDIR/m"
	run_tool 0 "$CSNAPSHOT" mounts work "$BATS_TEST_TMPDIR/m"
	assert_contains "$output" "mount -t overlay -o index=off,workdir="
	eval "$output"
	assert_tree "$BATS_TEST_TMPDIR/m" "$LAYERS_EXPECTED"
	run_tool 0 "$CSNAPSHOT" --json mounts work /rootfs
	assert_eq "$(jq -r .destination <<<"$output")" /rootfs "destination"
	assert_eq "$(jq -r .type <<<"$output")" overlay "type"
	assert_eq "$(jq -r '.options | length' <<<"$output")" 4 "option count"
}

@test "csnapshot usage counts bytes and inodes" {
	run_tool 0 "$CSNAPSHOT" prepare u
	head -c 1048576 /dev/zero >"$(snapshot_fs u)/mib"
	ln "$(snapshot_fs u)/mib" "$(snapshot_fs u)/mib-link"
	mkdir "$(snapshot_fs u)/d"
	run_tool 0 "$CSNAPSHOT" --json usage u
	assert_eq "$(jq -r .inodes <<<"$output")" 2 "inodes"
	(($(jq -r .size <<<"$output") >= 1048576))
	run_tool 0 "$CSNAPSHOT" usage
	assert_contains "$output" $'u\t'
}

@test "csnapshot diff (overlay work) applies back to its tree" {
	requires skopeo
	pull_fixture layers
	run_tool 0 cunpack --prepare work "$REGISTRY/test/layers:latest"
	mkdir "$BATS_TEST_TMPDIR/work"
	eval "$("$CSNAPSHOT" mounts work "$BATS_TEST_TMPDIR/work")"
	change_work "$BATS_TEST_TMPDIR/work"
	run_tool 0 "$CSNAPSHOT" --json diff --store -o "$BATS_TEST_TMPDIR/l.tgz" work
	local json=$output
	assert_eq "$(jq -r .media_type <<<"$json")" \
		application/vnd.oci.image.layer.v1.tar+gzip "media type"
	assert_eq "sha256:$(sha256sum <"$BATS_TEST_TMPDIR/l.tgz" | cut -c1-64)" \
		"$(jq -r .digest <<<"$json")" "digest of the file"
	assert_eq "sha256:$(gzip -dc "$BATS_TEST_TMPDIR/l.tgz" | sha256sum | cut -c1-64)" \
		"$(jq -r .diff_id <<<"$json")" "diff ID"
	run tar -tzf "$BATS_TEST_TMPDIR/l.tgz"
	assert_contains "$output" "data/.wh.file.txt"
	assert_contains "$output" "data/tree/.wh..wh..opq"
	"$FIXTURES/tree-compare" -l "$BATS_TEST_TMPDIR/work" >"$BATS_TEST_TMPDIR/listing"
	assert_contains "$(<"$BATS_TEST_TMPDIR/listing")" \
		"security.capability=0100000200040000000000000000000000000000,user.roundtrip=796573"
	push_plus roundtrip 4 "$json"
	run_tool 0 cunpack "$REGISTRY/test/roundtrip:latest"
	mount_chain "$output" "$BATS_TEST_TMPDIR/again"
	assert_trees_equal "$BATS_TEST_TMPDIR/work" "$BATS_TEST_TMPDIR/again"
}

@test "csnapshot diff (native work) applies back to its tree" {
	requires skopeo
	SNAPSHOTTER=native
	pull_fixture layers
	run_tool 0 cunpack --snapshotter native --prepare work \
		"$REGISTRY/test/layers:latest"
	change_work "$(snapshot_fs work)"
	run_tool 0 "$CSNAPSHOT" --json diff --store --compress zstd work
	local json=$output
	assert_eq "$(jq -r .media_type <<<"$json")" \
		application/vnd.oci.image.layer.v1.tar+zstd "media type"
	push_plus roundtrip-native 4 "$json"
	run_tool 0 cunpack "$REGISTRY/test/roundtrip-native:latest"
	assert_trees_equal "$(snapshot_fs work)" "$(snapshot_fs "$output")"
}

@test "csnapshot diff (committed layer) rebuilds the image" {
	requires skopeo
	pull_fixture layers
	run_tool 0 cunpack "$REGISTRY/test/layers:latest"
	local top=$output
	mount_chain "$top" "$BATS_TEST_TMPDIR/orig"
	run_tool 0 "$CSNAPSHOT" --json diff --store --compress none "$top"
	push_plus rebuilt 3 "$output"
	run_tool 0 cunpack "$REGISTRY/test/rebuilt:latest"
	[[ $output != "$top" ]] # a new diff ID, so the layer was applied
	mount_chain "$output" "$BATS_TEST_TMPDIR/rebuilt"
	assert_trees_equal "$BATS_TEST_TMPDIR/orig" "$BATS_TEST_TMPDIR/rebuilt"
}

@test "csnapshot --snapshotter btrfs diff rebuilds the image" {
	requires skopeo
	btrfs_root
	SNAPSHOTTER=btrfs
	pull_fixture layers
	run_tool 0 cunpack --snapshotter btrfs "$REGISTRY/test/layers:latest"
	local top=$output
	run_tool 0 "$CSNAPSHOT" --json diff --store "$top"
	push_plus rebuilt-btrfs 3 "$output"
	run_tool 0 cunpack "$REGISTRY/test/rebuilt-btrfs:latest"
	[[ $output != "$top" ]]
	assert_trees_equal "$(snapshot_fs "$top")" "$(snapshot_fs "$output")"
}

@test "csnapshot --snapshotter btrfs rm deletes the subvolumes" {
	btrfs_root
	SNAPSHOTTER=btrfs
	pull_fixture busybox
	run_tool 0 cunpack --snapshotter btrfs --prepare work \
		"$REGISTRY/test/busybox:latest"
	local chain=$output
	assert_eq "$(btrfs subvolume list "$BATS_TEST_TMPDIR/btrfs" | wc -l)" 2 \
		"subvolumes"
	run_tool 0 "$CSNAPSHOT" rm work "$chain"
	assert_eq "$(btrfs subvolume list "$BATS_TEST_TMPDIR/btrfs" | wc -l)" 0 \
		"subvolumes left"
	assert_eq "$(ls "$CKIT_ROOT/snapshots/btrfs/snapshots")" "" "directories left"
}

@test "csnapshot mounts (120 layers) prints a mount that works" {
	requires skopeo
	push_case deep
	run_tool 0 cunpack --prepare work "$REGISTRY/test/case-deep:latest"
	mkdir "$BATS_TEST_TMPDIR/m"
	run_tool 0 "$CSNAPSHOT" mounts work "$BATS_TEST_TMPDIR/m"
	assert_contains "$output" "(cd $CKIT_ROOT/snapshots/overlayfs/snapshots && mount -t overlay"
	eval "$output"
	assert_eq "$(<"$BATS_TEST_TMPDIR/m/layer-000")" "layer 0" "first layer"
	assert_eq "$(<"$BATS_TEST_TMPDIR/m/layer-119")" "layer 119" "last layer"
}

@test "csnapshot diff (sparse file) leaves the holes out" {
	requires skopeo
	push_case sparse
	run_tool 0 cunpack "$REGISTRY/test/case-sparse:latest"
	local top=$output
	run_tool 0 "$CSNAPSHOT" diff --compress none -o "$BATS_TEST_TMPDIR/l.tar" "$top"
	(($(stat -c %s "$BATS_TEST_TMPDIR/l.tar") < 65536)) ||
		{ echo "a 16 MiB file with 3 data blocks took $(stat -c %s "$BATS_TEST_TMPDIR/l.tar") bytes" >&2; return 1; }
	mkdir "$BATS_TEST_TMPDIR/x"
	tar --sparse -xf "$BATS_TEST_TMPDIR/l.tar" -C "$BATS_TEST_TMPDIR/x"
	cmp "$BATS_TEST_TMPDIR/x/sparse" "$(snapshot_fs "$top")/sparse"
}

@test "csnapshot prepare (record not written) leaves no directory" {
	requires strace
	run_tool 0 "$CSNAPSHOT" prepare first
	local dirs=$CKIT_ROOT/snapshots/overlayfs/snapshots before
	before=$(ls "$dirs" | wc -l)
	run strace -f -o /dev/null -e trace=rename -e inject=rename:error=ENOSPC:when=1 \
		"$CSNAPSHOT" prepare second
	assert_eq "$status" 1 "status: $output"
	assert_contains "$output" "No space left on device" "message"
	assert_eq "$(ls "$dirs" | wc -l)" "$before" "snapshot directories"
	run_tool 0 "$CSNAPSHOT" prepare second
}
