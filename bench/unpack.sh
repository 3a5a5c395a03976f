#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Times cunpack against `umoci raw unpack` and `ctr image pull` on the
# shared benchmark images, in one peer-baseline run so that all rows use
# the same fresh loop-mounted ext4 (and btrfs) and the same registry.
#
# usage: bench/unpack.sh OUT_MD
#
# Writes peer-baseline's report to OUT_MD and appends cunpack's summary
# (medians, ratios, peak memory; see bench/unpack-rows.bash).  Also runs
# bench/inflate.c's gzip decoders on the Debian layer.  Build ckit first
# (make).  Takes about 15 minutes; runs as root.
#
# Environment:
#   SHARED_BENCH   the shared bench scripts (default ../shared/bench)
#   BENCH_WORK     registry storage and image cache (default
#                  /var/tmp/ckit-bench), kept between runs
#   BENCH_PORT     registry port on 127.0.0.1 (default 5055)
#   RUNS           runs per row (default 5), as peer-baseline reads it
set -euo pipefail

top=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
shared=${SHARED_BENCH:-$top/../shared/bench}
work=${BENCH_WORK:-/var/tmp/ckit-bench}
port=${BENCH_PORT:-5055}
reg=127.0.0.1:$port

die() {
	echo "unpack.sh: $*" >&2
	exit 1
}

[[ $# -eq 1 ]] || { sed -n '/^# usage:/,/^# Environment/p' "$0" | sed '$d' >&2; exit 2; }
out=$(realpath -m "$1")
[[ $EUID -eq 0 ]] || die "must run as root"
for t in cpull cunpack csnapshot; do
	[[ -x $top/tools/$t/$t ]] || die "tools/$t/$t is missing; run make first"
done
[[ -x $shared/peer-baseline ]] || die "no peer-baseline in '$shared'; set SHARED_BENCH"

mkdir -p "$work" "$(dirname "$out")"
"$shared/registry" start "$work/registry" "$port"
trap '"$shared/registry" stop "$work/registry"' EXIT
"$shared/make-images" "$reg" "$work/cache"

summary=$(mktemp "$work/summary.XXXXXX")
CKIT_TOOLS=$top/tools PEER_EXTRA=$top/bench/unpack-rows.bash \
	UNPACK_SUMMARY=$summary "$shared/peer-baseline" "$reg" "$out"

inflate=$(mktemp "$work/inflate.XXXXXX")
cc -O2 -o "$inflate" "$top/bench/inflate.c" -lz -lisal -ldeflate
layer=$(find "$work/cache" -path '*debian-bookworm/blobs/*' -size +10M | head -1)
{
	cat "$summary"
	echo
	echo "### gzip inflate of the Debian layer (bench/inflate.c, best of 5)"
	echo
	echo "| decoder | seconds |"
	echo "|---|---|"
	for d in zlib isal libdeflate; do
		best=$(for i in 1 2 3 4 5; do "$inflate" "$d" "$layer"; done |
			awk '{ print $(NF - 1) }' | sort -n | head -1)
		echo "| $d | $best |"
	done
} >>"$out"
rm -f "$summary" "$inflate"
echo "unpack.sh: report in $out" >&2
