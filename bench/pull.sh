#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# pull.sh - time cpull against `ctr content fetch` (containerd 1.6) and
# `skopeo copy docker:// oci:` on the same images from one loopback
# registry, cold each run, and print medians, ratios and peak memory. A
# curl row fetches the same manifest and blobs to /dev/null, as a floor.
#
# usage: bench/pull.sh [SHARED_BENCH_DIR]
#   SHARED_BENCH_DIR  the peer harness with `registry` and `make-images`
#                     (default ../shared/bench from the checkout)
# Env: RUNS (default 5) timed runs after one warm-up; PORT (default 5077)
#      of the registry; BENCH_WORK (default /var/tmp/ckit-bench) keeps the
#      registry storage and the image cache between runs; IMAGES (default
#      "debian:bookworm layers:10") from bench/; CKIT_BENCH_CONCURRENCY
#      (default 3) for cpull's --max-concurrent-downloads, when cpull has
#      that option; DEBIAN_MIRROR is passed to make-images.
# Must run as root. Installs hyperfine and containerd with apt-get when
# they are missing. Starts a private containerd with its root, state and
# socket in a temp dir and stops it by its PID at exit; stops the registry
# it started. Sends traffic only to 127.0.0.1.
set -euo pipefail
shopt -s inherit_errexit

die() { echo "pull.sh: $*" >&2; exit 1; }
log() { echo "pull.sh: $(date +%H:%M:%S) $*" >&2; }

TOP=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
SHARED=${1:-$TOP/../shared/bench}
RUNS=${RUNS:-5}
PORT=${PORT:-5077}
W=${BENCH_WORK:-/var/tmp/ckit-bench}
IMAGES=${IMAGES:-"debian:bookworm layers:10"}
REG=127.0.0.1:$PORT
NS=ckitbench
CPULL=$TOP/tools/cpull/cpull

[[ $EUID -eq 0 ]] || die "must run as root"
[[ -x $SHARED/registry && -x $SHARED/make-images ]] ||
	die "no registry and make-images scripts in '$SHARED'"

# shellcheck source=lib.bash
source "$TOP/bench/lib.bash"

T=
CTRD_PID=
REGISTRY_STARTED=0

cleanup() {
	local rc=$?

	set +e
	if [[ -n $CTRD_PID ]]; then
		kill "$CTRD_PID" 2>/dev/null
		wait "$CTRD_PID" 2>/dev/null
	fi
	[[ -n $T ]] && rm -rf "$T"
	((REGISTRY_STARTED)) && "$SHARED/registry" stop "$W/registry" >/dev/null
	exit "$rc"
}
trap cleanup EXIT

ensure_tools hyperfine:hyperfine containerd:containerd ctr:containerd \
	skopeo:skopeo jq:jq curl:curl /usr/bin/time:time
make -C "$TOP" -s tools/cpull/cpull
mkdir -p "$W"
if ! curl -fsS -o /dev/null "http://$REG/v2/" 2>/dev/null; then
	"$SHARED/registry" start "$W/registry" "$PORT" >&2
	REGISTRY_STARTED=1
fi
"$SHARED/make-images" "$REG" "$W/cache" >&2 ||
	die "make-images failed with status $?; it reads DEBIAN_MIRROR"

T=$(mktemp -d /var/tmp/ckit-pull-bench.XXXXXX)
start_containerd

# A cold start for each tool: no content of the image anywhere, page cache
# kept (registry blobs stay warm for every tool alike).
cat >"$T/ctr-clean" <<EOF
#!/bin/sh
set -eu
$C content ls -q | xargs -r $C content rm >/dev/null
test -z "\$($C content ls -q)"
sync
EOF
chmod +x "$T/ctr-clean"

cpull_args=(--root "$T/ckit" -q)
if "$CPULL" --help | grep -q -- --max-concurrent-downloads; then
	cpull_args+=(--max-concurrent-downloads "${CKIT_BENCH_CONCURRENCY:-3}")
fi

# peak_kib CMD...: run CMD once under /usr/bin/time and print its peak RSS.
peak_kib() {
	/usr/bin/time -f %M -o "$T/time.out" "$@" >/dev/null 2>&1
	tail -n 1 "$T/time.out"
}

# curl_config IMAGE SLUG: write a curl config that GETs the image's
# manifest, config and layers to /dev/null: the registry's floor, with
# no hashing and no disk.
curl_config() {
	local repo=${1%:*} tag=${1##*:} accept d
	accept="Accept: application/vnd.oci.image.manifest.v1+json, application/vnd.docker.distribution.manifest.v2+json"
	{
		echo "header = \"$accept\""
		echo "url = \"http://$REG/v2/bench/$repo/manifests/$tag\""
		echo 'output = "/dev/null"'
		curl -fsS -H "$accept" "http://$REG/v2/bench/$repo/manifests/$tag" |
			jq -r '.config.digest, .layers[].digest' |
			while read -r d; do
				echo "url = \"http://$REG/v2/bench/$repo/blobs/$d\""
				echo 'output = "/dev/null"'
			done
	} >"$T/$2.curl"
}

declare -A MEDIAN PEAK
for image in $IMAGES; do
	ref=$REG/bench/$image
	slug=${image//[:\/]/-}
	log "timing $ref"
	curl_config "$image" "$slug"
	cmd_curl="curl -s --parallel --parallel-max 3 -K $T/$slug.curl"
	cmd_cpull="$CPULL ${cpull_args[*]} $ref"
	cmd_ctr="$C content fetch --plain-http $ref"
	cmd_skopeo="skopeo copy -q --src-tls-verify=false docker://$ref oci:$T/oci:x"
	hyperfine --style basic --runs "$RUNS" --warmup 1 \
		--export-json "$T/$slug.json" \
		-n cpull --prepare "rm -rf $T/ckit; sync" "$cmd_cpull" \
		-n ctr --prepare "$T/ctr-clean" "$cmd_ctr" \
		-n skopeo --prepare "rm -rf $T/oci; sync" "$cmd_skopeo" \
		-n curl --prepare true "$cmd_curl" >&2
	for tool in cpull ctr skopeo curl; do
		MEDIAN[$slug,$tool]=$(jq -r --arg n "$tool" \
			'.results[] | select(.command == $n) | .median' "$T/$slug.json")
	done
	rm -rf "$T/ckit"
	PEAK[$slug,cpull]=$(peak_kib $cmd_cpull)
	"$T/ctr-clean"
	PEAK[$slug,ctr]=$(peak_kib $cmd_ctr)
	rm -rf "$T/oci"
	PEAK[$slug,skopeo]=$(peak_kib $cmd_skopeo)
	PEAK[$slug,curl]=$(peak_kib $cmd_curl)
done
CTRD_HWM=$(awk '/^VmHWM/ {print $2}' "/proc/$CTRD_PID/status")

echo "# cpull vs ctr content fetch vs skopeo copy, $(date -u +%F), $(nproc) cores, $(uname -r)"
echo "# median seconds of $RUNS cold runs; ratio = tool / cpull; peak RSS of the command"
printf '%-18s %-7s %9s %7s %10s\n' image tool median ratio peak_MiB
for image in $IMAGES; do
	slug=${image//[:\/]/-}
	for tool in cpull ctr skopeo curl; do
		awk -v i="$image" -v t="$tool" -v m="${MEDIAN[$slug,$tool]}" \
			-v c="${MEDIAN[$slug,cpull]}" -v p="${PEAK[$slug,$tool]}" \
			'BEGIN { printf "%-18s %-7s %9.3f %7.2f %10.1f\n", i, t, m, m / c, p / 1024 }'
	done
done
echo "# ctr's peak is the client only; the containerd daemon's VmHWM over the whole run: $((CTRD_HWM / 1024)) MiB"
echo "# curl: the same manifest and blobs to /dev/null, 3 at a time, unhashed: the registry's floor"
