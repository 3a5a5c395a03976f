# SPDX-License-Identifier: Apache-2.0
# Helpers that read ckit's store layout directly, as docs/architecture.md
# describes it, so tests check the on-disk format and not only the tools.

# pull_fixture NAME [TAG]: pull $REGISTRY/test/NAME:TAG into the test store
# and leave cpull's output line in $output.
pull_fixture() {
	run_tool 0 cpull "$REGISTRY/test/$1:${2:-latest}"
}

# The snapshot helpers read the records of snapshotter $SNAPSHOTTER.
SNAPSHOTTER=${SNAPSHOTTER:-overlayfs}

# snapshot_meta KEY: print the path of the snapshot record of KEY.
snapshot_meta() {
	local hash

	hash=$(printf '%s' "$1" | sha256sum | cut -c1-64)
	echo "$CKIT_ROOT/snapshots/$SNAPSHOTTER/meta/$hash.json"
}

# snapshot_fs KEY: print the fs directory of snapshot KEY.
snapshot_fs() {
	local id

	id=$(jq -r .id "$(snapshot_meta "$1")")
	echo "$CKIT_ROOT/snapshots/$SNAPSHOTTER/snapshots/$id/fs"
}

# mount_snapshot CHAIN_ID DIR: mount a read-only view of the committed
# snapshot CHAIN_ID of $SNAPSHOTTER on DIR: mount_chain for overlayfs, a
# bind mount of the full tree for btrfs and native.
mount_snapshot() {
	if [[ $SNAPSHOTTER == overlayfs ]]; then
		mount_chain "$1" "$2"
		return
	fi
	mkdir -p "$2"
	mount --bind -o ro "$(snapshot_fs "$1")" "$2"
}

# btrfs_root: make a btrfs filesystem on a loop device backed by a sparse
# file in $BATS_TEST_TMPDIR and point CKIT_ROOT at it.  ckit_teardown
# unmounts it and detaches the device.
btrfs_root() {
	requires btrfs
	truncate -s 2G "$BATS_TEST_TMPDIR/btrfs.img"
	mkfs.btrfs -q "$BATS_TEST_TMPDIR/btrfs.img" >/dev/null
	mkdir -p "$BATS_TEST_TMPDIR/btrfs"
	mount -o loop "$BATS_TEST_TMPDIR/btrfs.img" "$BATS_TEST_TMPDIR/btrfs"
	export CKIT_ROOT=$BATS_TEST_TMPDIR/btrfs/root
}

# mount_chain CHAIN_ID DIR: mount a read-only overlay of the committed
# snapshot CHAIN_ID and its parents on DIR, built from the records alone.
mount_chain() {
	local key=$1 dir=$2 lower="" meta

	while [[ -n $key && $key != null ]]; do
		meta=$(snapshot_meta "$key")
		[[ -f $meta ]] || { echo "no snapshot record for '$key'" >&2; return 1; }
		lower=${lower:+$lower:}$(snapshot_fs "$key")
		key=$(jq -r '.parent // empty' "$meta")
	done
	mkdir -p "$dir"
	if [[ $lower == *:* ]]; then
		mount -t overlay overlay -o "ro,lowerdir=$lower" "$dir"
	else
		mount --bind -o ro "$lower" "$dir"
	fi
}

# chain_id_of FIXTURE: print the chain ID of the fixture's top layer,
# computed from its config's diff_ids as the OCI image spec defines it.
chain_id_of() {
	local chain="" id

	for id in $(fixture_blob "$1" "$(fixture_config_digest "$1")" |
		jq -r '.rootfs.diff_ids[]'); do
		if [[ -z $chain ]]; then
			chain=$id
		else
			chain=sha256:$(printf '%s %s' "$chain" "$id" | sha256sum | cut -c1-64)
		fi
	done
	echo "$chain"
}

# snapshot_keys: print every snapshot key, one per line, sorted.
snapshot_keys() {
	local f

	for f in "$CKIT_ROOT/snapshots/$SNAPSHOTTER"/meta/*.json; do
		[[ -e $f ]] && jq -r .key "$f"
	done | sort
}

# tree_listing DIR: print a canonical listing of DIR: path, type, mode,
# owner, size, link target and content digest of regular files.
tree_listing() {
	(cd "$1" && find . -mindepth 1 -printf '%p\t%y\t%m\t%U:%G\t%s\t%l\n' |
		LC_ALL=C sort | while IFS=$'\t' read -r p y m o s l; do
			if [[ $y == f ]]; then
				s=$s:$(sha256sum <"$p" | cut -c1-16)
			elif [[ $y == d ]]; then
				s=-
			fi
			printf '%s\t%s\t%s\t%s\t%s\t%s\n' "$p" "$y" "$m" "$o" "$s" "$l"
		done)
}

# push_case CASE: build the mklayers image CASE into $BATS_TEST_TMPDIR,
# aimed at the host directory $HOST_MARKERS, push it to
# $REGISTRY/test/case-CASE:latest with skopeo and pull it with cpull.
push_case() {
	local layout=$BATS_TEST_TMPDIR/layouts/$1

	HOST_MARKERS=${HOST_MARKERS:-$BATS_TEST_TMPDIR/host}
	mkdir -p "$HOST_MARKERS"
	[[ -e $HOST_MARKERS/victim ]] || echo "host file" >"$HOST_MARKERS/victim"
	"$FIXTURES/mklayers" "$1" "$layout" "$HOST_MARKERS"
	skopeo copy -q --dest-tls-verify=false "oci:$layout:latest" \
		"docker://$REGISTRY/test/case-$1:latest"
	run_tool 0 cpull "$REGISTRY/test/case-$1:latest"
}

# umoci_case CASE DIR: unpack the all-gzip build of CASE with umoci.
umoci_case() {
	local layout=$BATS_TEST_TMPDIR/layouts/$1-gzip

	MKLAYERS_GZIP=1 "$FIXTURES/mklayers" "$1" "$layout" "$HOST_MARKERS"
	umoci raw unpack --image "$layout:latest" "$2"
}

# assert_host_untouched: fail if anything but the victim file is in
# $HOST_MARKERS or the victim has another link count or contents.
assert_host_untouched() {
	assert_eq "$(ls -A "$HOST_MARKERS")" victim "host marker directory"
	assert_eq "$(stat -c %h "$HOST_MARKERS/victim")" 1 "victim link count"
	assert_eq "$(<"$HOST_MARKERS/victim")" "host file" "victim contents"
}

# assert_trees_equal A B: the two trees match by tree-compare.
assert_trees_equal() {
	"$FIXTURES/tree-compare" "$1" "$2"
}

# umoci_fixture NAME DIR: unpack fixture NAME's linux/amd64 image with
# umoci.  umoci 0.4.7 reads neither zstd layers nor a tag on an index,
# so test/layers is read from its all-gzip copy and an index is replaced
# by its amd64 manifest in a copy of the layout.
umoci_fixture() {
	local name=$1 dir=$2 layout digest

	[[ $name == layers ]] && name=layers-gzip
	layout=$BATS_TEST_TMPDIR/umoci-layout-$name
	cp -al "$(fixture_layout "$name")" "$layout"
	digest=$(fixture_manifest_digest "$name")
	rm "$layout/index.json"
	jq -c --arg d "$digest" --argjson s \
		"$(stat -c %s "$layout/blobs/sha256/${digest#sha256:}")" \
		'.manifests = [{mediaType: "application/vnd.oci.image.manifest.v1+json",
			digest: $d, size: $s,
			annotations: {"org.opencontainers.image.ref.name": "oci"}}]' \
		"$(fixture_layout "$name")/index.json" >"$layout/index.json"
	umoci raw unpack --image "$layout:oci" "$dir"
}

# image_plus SRC KEEP BLOB MEDIA_TYPE DIFF_ID OUT: write to OUT a copy of
# the OCI layout SRC (tag latest) with its first KEEP layers, then BLOB.
image_plus() {
	local src=$1 keep=$2 blob=$3 mt=$4 diff_id=$5 out=$6
	local m man c cfg hex size chex mhex

	cp -a "$src" "$out"
	m=$(jq -r '.manifests[0].digest' "$out/index.json")
	man=$(<"$out/blobs/sha256/${m#sha256:}")
	c=$(jq -r .config.digest <<<"$man")
	hex=$(sha256sum <"$blob" | cut -c1-64)
	size=$(stat -c %s "$blob")
	cp "$blob" "$out/blobs/sha256/$hex"
	cfg=$(jq -c --arg d "$diff_id" --argjson k "$keep" \
		'.rootfs.diff_ids = .rootfs.diff_ids[:$k] + [$d] | del(.history)' \
		"$out/blobs/sha256/${c#sha256:}")
	chex=$(printf '%s' "$cfg" | sha256sum | cut -c1-64)
	printf '%s' "$cfg" >"$out/blobs/sha256/$chex"
	man=$(jq -c --arg c "sha256:$chex" --argjson cs "${#cfg}" \
		--arg d "sha256:$hex" --argjson s "$size" --arg mt "$mt" \
		--argjson k "$keep" '.config.digest = $c | .config.size = $cs |
		.layers = .layers[:$k] + [{mediaType: $mt, digest: $d, size: $s}]' \
		<<<"$man")
	mhex=$(printf '%s' "$man" | sha256sum | cut -c1-64)
	printf '%s' "$man" >"$out/blobs/sha256/$mhex"
	jq -c --arg d "sha256:$mhex" --argjson s "${#man}" \
		'.manifests[0].digest = $d | .manifests[0].size = $s' \
		"$src/index.json" >"$out/index.json"
}
