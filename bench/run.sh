#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# run.sh - time `crun-task run --rm` of bench/busybox running `true`
# against `ctr run --rm` (containerd 1.6), without and with `--seccomp`
# (containerd's default profile, which crun-task's spec has), and bare
# `runc run` of prepared bundles, in one run, and print medians, ratios
# and crun-task's overhead over bare runc. One bundle has `runc spec`'s
# config, the other the config cspec writes for the image (containerd's
# seccomp profile and capabilities, as crun-task uses), so the difference between
# crun-task and that row is what crun-task adds to the runtime's work. A
# third bundle has the cspec config on an overlayfs mount of the image's
# snapshot, made once (crun-task and ctr mount one per run): it shows what
# an overlayfs root costs runc itself.
# The task state of every tool is on tmpfs, as their defaults are
# (/run/ckit, /run/runc, /run/containerd).
#
# usage: bench/run.sh [SHARED_BENCH_DIR]
#   SHARED_BENCH_DIR  the peer harness with `registry` and `make-images`
#                     (default ../shared/bench from the checkout)
# Env: RUNS (default 40) timed runs of each command, in ROUNDS (default
#      10) rounds with one warm-up each; PORT (default
#      5077) of the registry; BENCH_WORK (default /var/tmp/ckit-bench)
#      keeps the registry storage and the image cache between runs.
# Must run as root. Installs hyperfine and containerd with apt-get when
# they are missing. Starts a private containerd with its root, state and
# socket in a temp dir and stops it by its PID at exit. Stops the registry
# it started. Sends traffic only to 127.0.0.1.
set -euo pipefail
shopt -s inherit_errexit

die() { echo "run.sh: $*" >&2; exit 1; }
log() { echo "run.sh: $(date +%H:%M:%S) $*" >&2; }

TOP=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
SHARED=${1:-$TOP/../shared/bench}
RUNS=${RUNS:-40}
ROUNDS=${ROUNDS:-10}
PORT=${PORT:-5077}
W=${BENCH_WORK:-/var/tmp/ckit-bench}
REG=127.0.0.1:$PORT
NS=ckitbench
IMAGE=$REG/bench/busybox:latest

[[ $EUID -eq 0 ]] || die "must run as root"
[[ -x $SHARED/registry && -x $SHARED/make-images ]] ||
	die "no registry and make-images scripts in '$SHARED'"

# shellcheck source=lib.bash
source "$TOP/bench/lib.bash"

T=
TS=
CTRD_PID=
REGISTRY_STARTED=0

cleanup() {
	local rc=$?

	set +e
	if [[ -n $T ]]; then
		$C image rm --sync "$IMAGE" >/dev/null 2>&1
		umount "$T/overlay-root" 2>/dev/null
		umount -R "$T" 2>/dev/null
		[[ -n $TS ]] && umount -R "$TS" 2>/dev/null
	fi
	if [[ -n $CTRD_PID ]]; then
		kill "$CTRD_PID" 2>/dev/null
		wait "$CTRD_PID" 2>/dev/null
	fi
	[[ -n $T ]] && rm -rf "$T"
	[[ -n $TS ]] && rm -rf "$TS"
	((REGISTRY_STARTED)) && "$SHARED/registry" stop "$W/registry" >/dev/null
	exit "$rc"
}
trap cleanup EXIT

# Two runc bundles of the same busybox running true: one with runc's
# default spec, one with the spec cspec makes for the image.
make_bundles() {
	local dir=$T/bundle

	mkdir -p "$dir"
	skopeo copy -q --src-tls-verify=false "docker://$IMAGE" "oci:$T/oci:x"
	umoci raw unpack --image "$T/oci:x" "$dir/rootfs" >/dev/null
	(cd "$dir" && runc spec)
	jq '.process.terminal = false | .process.args = ["true"]' "$dir/config.json" >"$dir/c.json"
	mv "$dir/c.json" "$dir/config.json"
	mkdir "$T/bundle-ckit"
	"$TOP/tools/cspec/cspec" --image "$IMAGE" -- true |
		jq --arg r "$dir/rootfs" '.root.path = $r' >"$T/bundle-ckit/config.json"
	mkdir "$T/bundle-overlay" "$T/overlay-root"
	"$TOP/tools/csnapshot/csnapshot" prepare bench-overlay \
		"$(jq -r .chain_id "$T/unpack.json")" >/dev/null
	# The mount command csnapshot prints, with the target appended.
	eval "$("$TOP/tools/csnapshot/csnapshot" mounts bench-overlay "$T/overlay-root")"
	jq --arg r "$T/overlay-root" '.root.path = $r' "$T/bundle-ckit/config.json" \
		>"$T/bundle-overlay/config.json"
}

ensure_tools hyperfine:hyperfine containerd:containerd ctr:containerd \
	runc:runc jq:jq curl:curl umoci:umoci skopeo:skopeo
make -C "$TOP" -s
mkdir -p "$W"
if ! curl -fsS -o /dev/null "http://$REG/v2/" 2>/dev/null; then
	"$SHARED/registry" start "$W/registry" "$PORT" >&2
	REGISTRY_STARTED=1
fi
"$SHARED/make-images" "$REG" "$W/cache" >&2 || die "make-images failed"

T=$(mktemp -d /var/tmp/ckit-run-bench.XXXXXX)
TS=$(mktemp -d /run/ckit-run-bench.XXXXXX)
CTRD_STATE=$TS/containerd-state
start_containerd
$C image pull --plain-http "$IMAGE" >/dev/null
export CKIT_ROOT=$T/ckit CKIT_STATE=$TS/ckit-state
"$TOP/tools/cpull/cpull" -q "$IMAGE" >/dev/null
"$TOP/tools/cunpack/cunpack" -q --json "$IMAGE" >"$T/unpack.json"
make_bundles

# The machine's speed drifts over a run (other tenants, containerd's
# own background work after ctr). So the commands take turns: ROUNDS
# rounds of RUNS/ROUNDS runs each, in an order that rotates every round.
# The medians are over all runs of a command.
names=(crun-task ctr ctr-seccomp runc runc-ckit-spec runc-overlay)
cmds=(
	"$TOP/tools/crun-task/crun-task run --rm $IMAGE bench1 true"
	"$C run --rm $IMAGE bench2 true"
	"$C run --rm --seccomp $IMAGE bench6 true"
	"runc --root $TS/runc-root run --bundle $T/bundle bench3"
	"runc --root $TS/runc-root run --bundle $T/bundle-ckit bench4"
	"runc --root $TS/runc-root run --bundle $T/bundle-overlay bench5"
)
per=$(((RUNS + ROUNDS - 1) / ROUNDS))
log "timing $((per * ROUNDS)) runs each, in $ROUNDS rounds"
for ((r = 0; r < ROUNDS; r++)); do
	for ((k = 0; k < ${#names[@]}; k++)); do
		i=$(((r + k) % ${#names[@]}))
		hyperfine --style none -N --runs "$per" --warmup 1 \
			--export-json "$T/run-$r-$i.json" -n "${names[i]}" "${cmds[i]}" >&2
	done
done
jq -s '{results: [group_by(.results[0].command)[] |
	{command: .[0].results[0].command,
	 times: ([.[].results[0].times[]] | sort)} |
	.median = .times[(.times | length) / 2 | floor]]}' \
	"$T"/run-*.json >"$T/run.json"

median() {
	jq -r --arg n "$1" '.results[] | select(.command == $n) | .median' "$T/run.json"
}
ours=$(median crun-task)
ctr=$(median ctr)
ctr_seccomp=$(median ctr-seccomp)
bare=$(median runc)
same=$(median runc-ckit-spec)
overlay=$(median runc-overlay)
echo "# crun-task run --rm vs ctr run --rm vs runc run, busybox running true"
echo "# $(date -u +%F), $(nproc) cores, $(uname -r); median of $((per * ROUNDS)) runs in $ROUNDS rounds"
awk -v o="$ours" -v c="$ctr" -v cs="$ctr_seccomp" -v r="$bare" -v s="$same" \
	-v v="$overlay" 'BEGIN {
	printf "%-16s %10s %12s\n", "tool", "median_ms", "vs_crun-task"
	printf "%-16s %10.1f %12.2f\n", "crun-task", o * 1000, 1
	printf "%-16s %10.1f %12.2f\n", "ctr", c * 1000, c / o
	printf "%-16s %10.1f %12.2f\n", "ctr-seccomp", cs * 1000, cs / o
	printf "%-16s %10.1f %12.2f\n", "runc", r * 1000, r / o
	printf "%-16s %10.1f %12.2f\n", "runc-ckit-spec", s * 1000, s / o
	printf "%-16s %10.1f %12.2f\n", "runc-overlay", v * 1000, v / o
	printf "# crun-task overhead over runc with the same spec: %.1f ms\n", (o - s) * 1000
	printf "# crun-task overhead over runc with the same spec on an overlayfs root: %.1f ms\n", (o - v) * 1000
	printf "# crun-task overhead over runc with its default spec: %.1f ms\n", (o - r) * 1000
}'
