#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# btrfs-floor.sh - times cunpack of the smallfiles image onto btrfs, and
# `gzip -dc | tar -x` of its layer, against the bare file creation that
# both have to do (bench/create-floor.c). The rows alternate run by run,
# so a drift of the loop device or the host reaches all rows alike.
#
# usage: bench/btrfs-floor.sh [SHARED_BENCH_DIR]
#   SHARED_BENCH_DIR  the peer harness with `registry` and `make-images`
#                     (default ../shared/bench from the checkout)
# Env: RUNS (default 15) cold runs per row; PORT (default 5077) of the
#      registry; BENCH_WORK (default /var/tmp/ckit-bench) keeps the
#      registry storage and the image cache between runs; DEBIAN_MIRROR
#      is passed to make-images.
# Must run as root, after make. Makes a 16 GiB btrfs on a loop device in
# a temp dir under BENCH_WORK and removes it at exit. Starts the registry
# on 127.0.0.1 for the pull and stops it, at exit too.
set -euo pipefail
shopt -s inherit_errexit

die() { echo "btrfs-floor.sh: $*" >&2; exit 1; }
log() { echo "btrfs-floor.sh: $(date +%H:%M:%S) $*" >&2; }

TOP=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
SHARED=${1:-$TOP/../shared/bench}
RUNS=${RUNS:-15}
PORT=${PORT:-5077}
W=${BENCH_WORK:-/var/tmp/ckit-bench}
REG=127.0.0.1:$PORT
REF=$REG/bench/smallfiles:latest
CUNPACK=$TOP/tools/cunpack/cunpack

[[ $EUID -eq 0 ]] || die "must run as root"
[[ -x $SHARED/registry && -x $SHARED/make-images ]] ||
	die "no registry and make-images scripts in '$SHARED'"
[[ -x $CUNPACK && -x $TOP/tools/cpull/cpull ]] || die "run make first"

mkdir -p "$W"
T=$(mktemp -d "$W/btrfs-floor.XXXXXX")
B=$T/btrfs

REGISTRY_UP=0

cleanup() {
	local rc=$?

	set +e
	((REGISTRY_UP)) && "$SHARED/registry" stop "$W/registry" >/dev/null
	mountpoint -q "$B" && umount "$B"
	rm -rf "$T"
	exit "$rc"
}
trap cleanup EXIT

truncate -s 16G "$T/btrfs.img"
mkfs.btrfs -q "$T/btrfs.img" >/dev/null
mkdir "$B"
mount -o loop "$T/btrfs.img" "$B"

"$SHARED/registry" start "$W/registry" "$PORT" >/dev/null
REGISTRY_UP=1
if ! "$SHARED/make-images" "$REG" "$W/cache" >"$T/make-images.log" 2>&1 ||
	! "$TOP/tools/cpull/cpull" -q --root "$B/ckit" "$REF" >/dev/null; then
	tail -5 "$T/make-images.log" >&2
	die "could not build or pull bench/smallfiles"
fi
"$SHARED/registry" stop "$W/registry" >/dev/null
REGISTRY_UP=0

gz=$(find "$W/cache/oci-v1/smallfiles-latest/blobs" -type f -size +1M | head -1)
[[ -n $gz ]] || die "no smallfiles layer blob under $W/cache"
gzip -dc "$gz" >"$T/small.tar"
cc -O2 -o "$T/create-floor" "$TOP/bench/create-floor.c" -larchive -lpthread

# cold: removes the last row's files and drops the caches.
cold() {
	find "$B/ckit/snapshots/btrfs/snapshots" -mindepth 2 -maxdepth 2 \
		-name fs -exec btrfs subvolume delete {} + >/dev/null 2>&1 || true
	[[ -d $B/sv ]] && btrfs subvolume delete "$B/sv" >/dev/null
	rm -rf "$B/ckit/snapshots" "$B/out"
	mkdir "$B/out"
	sync
	echo 3 >/proc/sys/vm/drop_caches
}

# timed COMMAND...: runs COMMAND and prints the seconds it took.
timed() {
	local s e

	s=$(date +%s%N)
	"$@" >/dev/null
	e=$(date +%s%N)
	printf '%d.%09d\n' $(((e - s) / 1000000000)) $(((e - s) % 1000000000))
}

declare -A ROW=(
	[cunpack]="cunpack --snapshotter btrfs (syncs, commits read-only)"
	[tar]="gzip -dc \\| tar -x into a directory"
	[tar-sync]="gzip -dc \\| tar -x, then sync -f"
	[floor]="create-floor: files created, no sync"
	[floor-sync]="create-floor -s: files created, syncfs"
	[floor-sync-subvol]="create-floor -s into a new subvolume"
	[floor-sync-j2]="create-floor -s -j 2: two threads"
)
ORDER=(cunpack tar tar-sync floor floor-sync floor-sync-subvol floor-sync-j2)
declare -A TIMES=()

for ((i = 1; i <= RUNS; i++)); do
	log "run $i of $RUNS"
	for r in "${ORDER[@]}"; do
		cold
		case $r in
		cunpack)
			t=$(timed "$CUNPACK" -q --root "$B/ckit" --snapshotter btrfs "$REF") ;;
		tar)
			t=$(timed sh -c 'gzip -dc "$1" | tar -xf - -C "$2"' _ "$gz" "$B/out") ;;
		tar-sync)
			t=$(timed sh -c 'gzip -dc "$1" | tar -xf - -C "$2" && sync -f "$2"' _ "$gz" "$B/out") ;;
		floor)
			t=$("$T/create-floor" "$T/small.tar" "$B/out") ;;
		floor-sync)
			t=$("$T/create-floor" -s "$T/small.tar" "$B/out") ;;
		floor-sync-subvol)
			btrfs subvolume create "$B/sv" >/dev/null
			t=$("$T/create-floor" -s "$T/small.tar" "$B/sv") ;;
		floor-sync-j2)
			t=$("$T/create-floor" -s -j 2 "$T/small.tar" "$B/out") ;;
		esac
		TIMES[$r]+="$t "
	done
done
cold

median() { tr ' ' '\n' | sed '/^$/d' | sort -n | awk '{ v[NR] = $1 } END { m = int((NR + 1) / 2); printf "%.3f", (NR % 2) ? v[m] : (v[m] + v[m + 1]) / 2 }'; }
minimum() { tr ' ' '\n' | sed '/^$/d' | sort -n | head -1; }

echo "smallfiles:latest onto a fresh loop-mounted btrfs, $RUNS cold runs per row, rows alternating"
echo
echo "| row | median | fastest |"
echo "|---|---|---|"
for r in "${ORDER[@]}"; do
	printf '| %s | %s s | %.3f s |\n' "${ROW[$r]}" \
		"$(median <<<"${TIMES[$r]}")" "$(minimum <<<"${TIMES[$r]}")"
done
