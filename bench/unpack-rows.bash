# shellcheck shell=bash
# SPDX-License-Identifier: Apache-2.0
# cunpack's rows in a peer-baseline run, sourced by peer-baseline through
# PEER_EXTRA (bench/unpack.sh sets it).  peer-baseline provides measure,
# record_tree, ref, slug, $C (ctr), $CLEAN, $T (its temp dir), $W (the
# fresh loop-mounted ext4), $RUNS and $BTRFS_ON, and has already timed
# ctr image pull and umoci raw unpack.  This file adds, each run cold:
#
#   cunpack-SN-IMAGE          cunpack into snapshotter SN (blobs already
#                             in the store; snapshots removed before each run)
#   cunpack-nosync-SN-IMAGE   the same with --no-sync
#   cunpack-other-SN-IMAGE    the layout that is not SN's default:
#                             native --no-flatten, btrfs --flatten
#   ctr-fetch-IMAGE           ctr content fetch: the pull alone, so that
#                             ctr-pull minus ctr-fetch is ctr's unpack
#   umoci-raw-unpack-layers-10
#   ref-btrfs-gunzip-tar-x-debian, ref-btrfs-tar-x-smallfiles
#                             peer-baseline's two references, written to
#                             the btrfs of cunpack's btrfs rows
#   umoci-btrfs-raw-unpack-IMAGE
#                             umoci raw unpack onto the btrfs, for the
#                             btrfs rows: peer-baseline's umoci rows
#                             write to the ext4
#   ref-gunzip-tar-x-smallfiles, ref-btrfs-gunzip-tar-x-smallfiles
#                             gzip -dc | tar -x of the smallfiles layer blob
#                             onto the ext4 and the btrfs: the same work as
#                             the Debian reference, for the other image
#
# and writes $UNPACK_SUMMARY: medians, ratios and peak memory.

CK_TOOLS=${CKIT_TOOLS:?CKIT_TOOLS must name the tools/ directory of ckit}
CK_IMAGES=(debian:bookworm debian:bookworm-zstd layers:10 smallfiles:latest)
CK_SNAPSHOTTERS=(overlayfs native)
declare -A CK_ROOT=([overlayfs]=$W/ckit-overlayfs [native]=$W/ckit-native)
if ((BTRFS_ON)); then
	CK_SNAPSHOTTERS+=(btrfs)
	CK_ROOT[btrfs]=$T/btrfs/ckit
fi

# ck_clean SN: the command that removes every snapshot of SN's store.
# btrfs subvolumes, read-only ones included, need btrfs subvolume delete.
ck_clean() {
	local root=${CK_ROOT[$1]}

	if [[ $1 == btrfs ]]; then
		printf '%s' "find $root/snapshots/btrfs/snapshots -mindepth 2 -maxdepth 2 -name fs -exec btrfs subvolume delete {} + >/dev/null 2>&1; "
	fi
	printf '%s' "rm -rf $root/snapshots; sync"
}

# ck_other_mode SN: the layout option that is not SN's default, if any.
ck_other_mode() {
	case $1 in
	native) printf -- --no-flatten ;;
	btrfs) printf -- --flatten ;;
	esac
}

log "cunpack: pulling the images into one store per snapshotter"
for sn in "${CK_SNAPSHOTTERS[@]}"; do
	for im in "${CK_IMAGES[@]}"; do
		"$CK_TOOLS/cpull/cpull" -q --root "${CK_ROOT[$sn]}" "$(ref "$im")" >/dev/null
	done
done

for sn in "${CK_SNAPSHOTTERS[@]}"; do
	for im in "${CK_IMAGES[@]}"; do
		for mode in "" --no-sync; do
			measure "cunpack${mode:+-nosync}-$sn-$(slug "$im")" "$RUNS" \
				"cunpack${mode:+ $mode} ($sn), bench/$im" \
				"$(ck_clean "$sn")" \
				"$CK_TOOLS/cunpack/cunpack -q $mode --root ${CK_ROOT[$sn]} --snapshotter $sn $(ref "$im")"
		done
		mode=$(ck_other_mode "$sn")
		[[ -n $mode ]] || continue
		measure "cunpack-other-$sn-$(slug "$im")" "$RUNS" \
			"cunpack $mode ($sn), bench/$im" \
			"$(ck_clean "$sn")" \
			"$CK_TOOLS/cunpack/cunpack -q $mode --root ${CK_ROOT[$sn]} --snapshotter $sn $(ref "$im")"
	done
done

for im in "${CK_IMAGES[@]}"; do
	measure "ctr-fetch-$(slug "$im")" "$RUNS" \
		"ctr content fetch (pull only), bench/$im" \
		"$CLEAN" "$C content fetch --plain-http $(ref "$im")"
done
$CLEAN

mkdir -p "$W/umoci"
measure umoci-raw-unpack-layers-10 "$RUNS" \
	"umoci raw unpack (rootfs only), bench/layers:10" \
	"rm -rf $W/umoci/layers-10; sync" \
	"umoci raw unpack --image $T/ref/layers-10:10 $W/umoci/layers-10"

measure ref-gunzip-tar-x-smallfiles "$RUNS" \
	"gzip -dc | tar -x of smallfiles layer onto disk" \
	"rm -rf $W/tarx; mkdir $W/tarx; sync" \
	"gzip -dc $SMALL_GZ | tar -xf - -C $W/tarx"
rm -rf "$W/tarx"
if ((BTRFS_ON)); then
	measure ref-btrfs-gunzip-tar-x-smallfiles "$RUNS" \
		"gzip -dc | tar -x of smallfiles layer onto the btrfs" \
		"rm -rf $T/btrfs/tarx; mkdir $T/btrfs/tarx; sync" \
		"gzip -dc $SMALL_GZ | tar -xf - -C $T/btrfs/tarx"
	measure ref-btrfs-gunzip-tar-x-debian "$RUNS" \
		"gzip -dc | tar -x of debian layer onto the btrfs" \
		"rm -rf $T/btrfs/tarx; mkdir $T/btrfs/tarx; sync" \
		"gzip -dc $DEB_GZ | tar -xf - -C $T/btrfs/tarx"
	measure ref-btrfs-tar-x-smallfiles "$RUNS" \
		"tar -x of smallfiles uncompressed layer onto the btrfs" \
		"rm -rf $T/btrfs/tarx; mkdir $T/btrfs/tarx; sync" \
		"tar -xf $SMALL_TAR -C $T/btrfs/tarx"
	rm -rf "$T/btrfs/tarx"
	mkdir -p "$T/btrfs/umoci"
	for im in "${CK_IMAGES[@]}"; do
		[[ $im != *zstd ]] || continue
		s=$(slug "$im")
		measure "umoci-btrfs-raw-unpack-$s" "$RUNS" \
			"umoci raw unpack (rootfs only) onto the btrfs, bench/$im" \
			"rm -rf $T/btrfs/umoci/$s; sync" \
			"umoci raw unpack --image $T/ref/$s:${im#*:} $T/btrfs/umoci/$s"
	done
	rm -rf "$T/btrfs/umoci"
fi

# Trees: overlayfs through a read-only view, the others as they are.
for im in "${CK_IMAGES[@]}"; do
	for sn in "${CK_SNAPSHOTTERS[@]}"; do
		eval "$(ck_clean "$sn")"
		chain=$("$CK_TOOLS/cunpack/cunpack" -q --root "${CK_ROOT[$sn]}" \
			--snapshotter "$sn" "$(ref "$im")")
		dir=$("$CK_TOOLS/csnapshot/csnapshot" --root "${CK_ROOT[$sn]}" \
			--snapshotter "$sn" info "$chain" | jq -r .path)
		if [[ $sn == overlayfs ]]; then
			"$CK_TOOLS/csnapshot/csnapshot" --root "${CK_ROOT[$sn]}" \
				view tree-view "$chain"
			mkdir -p "$T/mnt/ck-view"
			eval "$("$CK_TOOLS/csnapshot/csnapshot" --root "${CK_ROOT[$sn]}" \
				mounts tree-view "$T/mnt/ck-view")"
			dir=$T/mnt/ck-view
		fi
		record_tree "cunpack-$sn" "$im" "$dir"
		if [[ $sn == overlayfs ]]; then
			umount "$T/mnt/ck-view"
		fi
	done
done

# ck_peak_kib COMMAND...: the maximum resident set size of COMMAND in KiB.
ck_peak_kib() {
	/usr/bin/time -f %M -o "$T/ck-time" "$@" >/dev/null 2>&1
	cat "$T/ck-time"
}

# ck_median ID: the median of row ID in seconds, or nothing.
ck_median() {
	jq -r '.results[0].median // empty' "$T/json/$1.json" 2>/dev/null || true
}

# ck_fmt SECONDS: seconds with three decimals, or "-".
ck_fmt() {
	if [[ -n $1 ]]; then printf '%.3f s' "$1"; else printf -- '-'; fi
}

# ck_ratio A B: A / B with two decimals, or "-".
ck_ratio() {
	if [[ -n $1 && -n $2 ]]; then
		awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", a / b }'
	else
		printf -- '-'
	fi
}

{
	echo "### cunpack against umoci and ctr"
	echo
	echo "Medians of $RUNS cold runs on $(uname -r), $(nproc) cores, $(date -u +%F)."
	echo "ctr unpack = ctr image pull minus ctr content fetch of the same image."
	echo "Ratios are peer time / cunpack time (above 1: cunpack is faster)."
	echo "umoci writes to the filesystem of the row: the ext4, or the btrfs for btrfs."
	echo
	echo "native flattens by default, btrfs and overlayfs keep a snapshot per layer;"
	echo "the \"other layout\" column is native --no-flatten and btrfs --flatten."
	echo
	echo "| image | snapshotter | cunpack | --no-sync | other layout | umoci raw unpack | ctr pull+unpack | ctr fetch | ctr unpack | umoci/cunpack | ctr unpack/cunpack |"
	echo "|---|---|---|---|---|---|---|---|---|---|---|"
	for im in "${CK_IMAGES[@]}"; do
		s=$(slug "$im")
		for sn in "${CK_SNAPSHOTTERS[@]}"; do
			ck=$(ck_median "cunpack-$sn-$s")
			nosync=$(ck_median "cunpack-nosync-$sn-$s")
			other=$(ck_median "cunpack-other-$sn-$s")
			umoci=$(ck_median "umoci-raw-unpack-$s")
			if [[ $sn == btrfs ]]; then
				umoci=$(ck_median "umoci-btrfs-raw-unpack-$s")
			fi
			pull=$(ck_median "ctr-pull-$sn-$s")
			fetch=$(ck_median "ctr-fetch-$s")
			unpack=
			if [[ -n $pull && -n $fetch ]]; then
				unpack=$(awk -v a="$pull" -v b="$fetch" 'BEGIN { print a - b }')
			fi
			echo "| bench/$im | $sn | $(ck_fmt "$ck") | $(ck_fmt "$nosync") | $(ck_fmt "$other") | $(ck_fmt "$umoci") | $(ck_fmt "$pull") | $(ck_fmt "$fetch") | $(ck_fmt "$unpack") | $(ck_ratio "$umoci" "$ck") | $(ck_ratio "$unpack" "$ck") |"
		done
	done
	echo
	echo "References: \`gzip -dc | tar -x\` of the Debian layer $(ck_fmt "$(ck_median ref-gunzip-tar-x-debian)"),"
	echo "\`tar -x\` of the smallfiles tar $(ck_fmt "$(ck_median ref-tar-x-smallfiles)"), both on the ext4."
	if ((BTRFS_ON)); then
		echo "On the btrfs: $(ck_fmt "$(ck_median ref-btrfs-gunzip-tar-x-debian)") and"
		echo "$(ck_fmt "$(ck_median ref-btrfs-tar-x-smallfiles)")."
	fi
	echo
	echo "cunpack against \`gzip -dc | tar -x\` of the same layer blob onto the"
	echo "same filesystem (ratios above 1: cunpack is faster). cunpack also"
	echo "verifies both digests and, unless --no-sync, syncs the snapshot and"
	echo "commits it; the references leave their files unsynced."
	echo
	echo "| image | snapshotter | cunpack | --no-sync | gzip -dc \\| tar -x | reference/cunpack |"
	echo "|---|---|---|---|---|---|"
	for im in debian:bookworm smallfiles:latest; do
		s=$(slug "$im")
		for sn in "${CK_SNAPSHOTTERS[@]}"; do
			case $sn/$im in
			btrfs/debian*) r=$(ck_median ref-btrfs-gunzip-tar-x-debian) ;;
			btrfs/small*) r=$(ck_median ref-btrfs-gunzip-tar-x-smallfiles) ;;
			*/debian*) r=$(ck_median ref-gunzip-tar-x-debian) ;;
			*) r=$(ck_median ref-gunzip-tar-x-smallfiles) ;;
			esac
			ck=$(ck_median "cunpack-$sn-$s")
			nosync=$(ck_median "cunpack-nosync-$sn-$s")
			echo "| bench/$im | $sn | $(ck_fmt "$ck") | $(ck_fmt "$nosync") | $(ck_fmt "$r") | $(ck_ratio "$r" "$ck") |"
		done
	done
	echo
	echo "Peak resident memory (KiB, one run, overlayfs for cunpack):"
	echo
	echo "| image | cunpack | umoci raw unpack |"
	echo "|---|---|---|"
	for im in "${CK_IMAGES[@]}"; do
		s=$(slug "$im")
		eval "$(ck_clean overlayfs)"
		ck=$(ck_peak_kib "$CK_TOOLS/cunpack/cunpack" -q --root "${CK_ROOT[overlayfs]}" \
			--snapshotter overlayfs "$(ref "$im")")
		um=-
		if [[ $im != *zstd ]]; then
			rm -rf "$W/umoci/$s"
			um=$(ck_peak_kib umoci raw unpack --image "$T/ref/$s:${im#*:}" "$W/umoci/$s")
		fi
		echo "| bench/$im | $ck | $um |"
	done
	echo
	echo "umoci 0.4.7 cannot read zstd layers; ctr's unpacking runs in the"
	echo "containerd daemon, so its memory is not in this table."
} >"${UNPACK_SUMMARY:?}"
rm -rf "$W/umoci"
for sn in "${CK_SNAPSHOTTERS[@]}"; do
	eval "$(ck_clean "$sn")"
done
