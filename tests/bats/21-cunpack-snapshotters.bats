#!/usr/bin/env bats
# SPDX-License-Identifier: Apache-2.0
# cunpack with the overlayfs, btrfs and native snapshotters: the trees
# they build, equal to umoci's for every fixture image, the store's
# default snapshotter and deep images on overlayfs.

load helpers
load store

setup() {
	requires root overlay
	ckit_setup
}

teardown() {
	ckit_teardown
}

# differential SNAPSHOTTER NAME [TAG]: unpack fixture NAME with
# SNAPSHOTTER and compare its mounted view with umoci's tree.
differential() {
	local name=$2 tag=${3:-latest}

	requires umoci skopeo
	SNAPSHOTTER=$1
	if [[ $1 == btrfs ]]; then
		btrfs_root
	fi
	if [[ $name == debian ]]; then
		fixture_debian
	fi
	if [[ $name == layers-gzip ]]; then
		skopeo copy -q --dest-tls-verify=false \
			"oci:$(fixture_layout layers-gzip):latest" \
			"docker://$REGISTRY/test/layers-gzip:latest"
	fi
	pull_fixture "$name" "$tag"
	run_tool 0 cunpack --snapshotter "$1" "$REGISTRY/test/$name:$tag"
	mount_snapshot "$output" "$BATS_TEST_TMPDIR/view"
	umoci_fixture "$name" "$BATS_TEST_TMPDIR/umoci"
	assert_trees_equal "$BATS_TEST_TMPDIR/umoci" "$BATS_TEST_TMPDIR/view"
}

@test "cunpack --snapshotter native (test/layers) gives the tree" {
	SNAPSHOTTER=native
	pull_fixture layers
	run_tool 0 cunpack --snapshotter native "$REGISTRY/test/layers:latest"
	assert_tree "$(snapshot_fs "$output")" "$LAYERS_EXPECTED"
	run find "$CKIT_ROOT/snapshots/native" -name '.wh.*'
	assert_eq "$output" "" "whiteout files"
	run find "$CKIT_ROOT/snapshots/native" -type c
	assert_eq "$output" "" "overlay whiteouts"
}

@test "cunpack --snapshotter btrfs (test/layers) makes subvolumes" {
	btrfs_root
	SNAPSHOTTER=btrfs
	pull_fixture layers
	run_tool 0 cunpack --snapshotter btrfs "$REGISTRY/test/layers:latest"
	local chain=$output fs
	assert_tree "$(snapshot_fs "$chain")" "$LAYERS_EXPECTED"
	for fs in "$CKIT_ROOT"/snapshots/btrfs/snapshots/*/fs; do
		run btrfs property get -ts "$fs" ro
		assert_eq "$output" "ro=true" "read-only flag of $fs"
	done
	assert_eq "$(btrfs subvolume list "$BATS_TEST_TMPDIR/btrfs" | wc -l)" 4 \
		"subvolumes"
}

@test "cunpack --snapshotter btrfs (root not on btrfs) fails" {
	requires btrfs
	pull_fixture busybox
	run_tool 1 cunpack --snapshotter btrfs "$REGISTRY/test/busybox:latest"
	assert_contains "$stderr" "snapshotter 'btrfs' needs"
	assert_contains "$stderr" "on a btrfs filesystem"
}

@test "cunpack --prepare (native) copies the parent's tree" {
	SNAPSHOTTER=native
	pull_fixture busybox
	run_tool 0 cunpack --snapshotter native --prepare work \
		"$REGISTRY/test/busybox:latest"
	local chain=$output
	echo new >"$(snapshot_fs work)/new-file"
	assert_file_exists "$(snapshot_fs work)/bin/busybox"
	assert_file_not_exists "$(snapshot_fs "$chain")/new-file"
	[[ ! "$(snapshot_fs work)/bin/busybox" -ef "$(snapshot_fs "$chain")/bin/busybox" ]]
}

@test "cunpack --prepare (btrfs) snapshots the parent writable" {
	btrfs_root
	SNAPSHOTTER=btrfs
	pull_fixture busybox
	run_tool 0 cunpack --snapshotter btrfs --prepare work \
		"$REGISTRY/test/busybox:latest"
	run btrfs property get -ts "$(snapshot_fs work)" ro
	assert_eq "$output" "ro=false" "read-only flag of the active snapshot"
	echo new >"$(snapshot_fs work)/new-file"
	assert_file_exists "$(snapshot_fs work)/bin/busybox"
}

@test "cunpack --snapshotter (first use) becomes the store default" {
	pull_fixture busybox
	run_tool 0 cunpack --snapshotter native "$REGISTRY/test/busybox:latest"
	assert_eq "$(<"$CKIT_ROOT/snapshots/default")" native "store default"
	run_tool 0 cunpack --json "$REGISTRY/test/busybox:latest"
	assert_eq "$(jq -r .applied <<<"$output")" 0 "layers applied again"
	run_tool 0 cspec --image "$REGISTRY/test/busybox:latest"
	CKIT_SNAPSHOTTER=overlayfs run_tool 0 cunpack --json \
		"$REGISTRY/test/busybox:latest"
	assert_eq "$(jq -r .applied <<<"$output")" 1 "applied with the variable"
	assert_eq "$(<"$CKIT_ROOT/snapshots/default")" native "store default"
}

@test "cunpack --snapshotter (failed first use) records no store default" {
	pull_fixture busybox
	run_tool 1 cunpack --snapshotter native "$REGISTRY/test/missing:latest"
	assert_contains "$stderr" "not found"
	assert_file_not_exists "$CKIT_ROOT/snapshots/default" "store default"
	pull_fixture notar
	run_tool 1 cunpack --snapshotter native "$REGISTRY/test/notar:latest"
	assert_contains "$stderr" "tar"
	assert_file_not_exists "$CKIT_ROOT/snapshots/default" "store default after a bad layer"
	run_tool 0 cunpack -q "$REGISTRY/test/busybox:latest"
	assert_eq "$(snapshot_keys | wc -l)" 1 "overlayfs snapshots"
	assert_eq "$(<"$CKIT_ROOT/snapshots/default")" overlayfs "store default"
	run_tool 0 cunpack -q --snapshotter native "$REGISTRY/test/busybox:latest"
	assert_eq "$(<"$CKIT_ROOT/snapshots/default")" overlayfs "store default after a native unpack"
}

@test "cunpack (120 layers) mounts past the page-size limit" {
	requires skopeo
	push_case deep
	run_tool 0 cunpack "$REGISTRY/test/case-deep:latest"
	# Absolute lowerdir paths of 120 layers pass one page.
	(($(snapshot_keys | wc -l) == 120))
	run_tool 0 cspec --image "$REGISTRY/test/case-deep:latest"
	assert_eq "$(jq -r '.process.args[0]' <<<"$output")" sh "spec args"
}

@test "cunpack busybox (overlayfs) equals umoci's tree" {
	differential overlayfs busybox
}

@test "cunpack busybox (btrfs) equals umoci's tree" {
	differential btrfs busybox
}

@test "cunpack busybox (native) equals umoci's tree" {
	differential native busybox
}

@test "cunpack user (overlayfs) equals umoci's tree" {
	differential overlayfs user
}

@test "cunpack user (btrfs) equals umoci's tree" {
	differential btrfs user
}

@test "cunpack user (native) equals umoci's tree" {
	differential native user
}

@test "cunpack layers (overlayfs) equals umoci's tree" {
	differential overlayfs layers
}

@test "cunpack layers (btrfs) equals umoci's tree" {
	differential btrfs layers
}

@test "cunpack layers (native) equals umoci's tree" {
	differential native layers
}

@test "cunpack layers-gzip (overlayfs) equals umoci's tree" {
	differential overlayfs layers-gzip
}

@test "cunpack layers-gzip (btrfs) equals umoci's tree" {
	differential btrfs layers-gzip
}

@test "cunpack layers-gzip (native) equals umoci's tree" {
	differential native layers-gzip
}

@test "cunpack multiarch (overlayfs) equals umoci's tree" {
	differential overlayfs multiarch
}

@test "cunpack multiarch (btrfs) equals umoci's tree" {
	differential btrfs multiarch
}

@test "cunpack multiarch (native) equals umoci's tree" {
	differential native multiarch
}

@test "cunpack debian (overlayfs) equals umoci's tree" {
	differential overlayfs debian bookworm
}

@test "cunpack debian (btrfs) equals umoci's tree" {
	differential btrfs debian bookworm
}

@test "cunpack debian (native) equals umoci's tree" {
	differential native debian bookworm
}

@test "crun-task run (store default native) uses its snapshots" {
	requires runc
	SNAPSHOTTER=native
	pull_fixture busybox
	run_tool 0 cunpack --snapshotter native "$REGISTRY/test/busybox:latest"
	run_tool 0 crun-task run "$REGISTRY/test/busybox:latest" kept \
		sh -c 'echo data >/kept.txt'
	assert_eq "$(jq -r .snapshotter "$CKIT_ROOT/namespaces/default/containers/kept.json")" \
		native "snapshotter in the container record"
	assert_eq "$(<"$(snapshot_fs default/kept)/kept.txt")" data "file written by the container"
	run_tool 1 "$TOP/tools/csnapshot/csnapshot" rm default/kept
	assert_contains "$stderr" "used by container 'default/kept'"
	run_tool 0 "${CCONTAINER:-$TOP/tools/ccontainer/ccontainer}" rm kept
	assert_file_not_exists "$(snapshot_meta default/kept)"
	assert_eq "$(ls "$CKIT_ROOT/snapshots/overlayfs/meta" 2>/dev/null)" "" "overlayfs records"
}

# Each layer of a btrfs unpack is frozen from one working subvolume, so
# every layer's snapshot is checked, not only the top one.
@test "cunpack btrfs (each layer's snapshot) equals overlayfs's" {
	local ext4_root=$CKIT_ROOT chain="" id layer=0 ids
	pull_fixture layers
	run_tool 0 cunpack --snapshotter overlayfs "$REGISTRY/test/layers:latest"
	btrfs_root
	pull_fixture layers
	run_tool 0 cunpack --snapshotter btrfs "$REGISTRY/test/layers:latest"
	ids=$(fixture_blob layers "$(fixture_config_digest layers)" | jq -r '.rootfs.diff_ids[]')
	for id in $ids; do
		if [[ -z $chain ]]; then
			chain=$id
		else
			chain=sha256:$(printf '%s %s' "$chain" "$id" | sha256sum | cut -c1-64)
		fi
		layer=$((layer + 1))
		CKIT_ROOT=$ext4_root SNAPSHOTTER=overlayfs mount_chain "$chain" "$BATS_TEST_TMPDIR/overlay-$layer"
		SNAPSHOTTER=btrfs
		run btrfs property get -ts "$(snapshot_fs "$chain")" ro
		assert_eq "$output" "ro=true" "read-only flag of layer $layer"
		assert_trees_equal "$BATS_TEST_TMPDIR/overlay-$layer" "$(snapshot_fs "$chain")"
	done
	assert_eq "$layer" 4 "layers compared"
}
