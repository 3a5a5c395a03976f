# SPDX-License-Identifier: Apache-2.0
# Helpers for the ckit bats tests, loaded by every .bats file with
# `load helpers`.  setup_suite.bash starts the registry and exports REGISTRY
# and CKIT_TEST_CACHE.  The functions here give each test its own store, run
# the tools and compare results.

# run --separate-stderr needs bats 1.5.0 or later.
bats_require_minimum_version 1.5.0

TOP=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
FIXTURES=$TOP/tests/bats/fixtures
# Expected tree of test/layers:latest, in the format that assert_tree reads.
# shellcheck disable=SC2034 # used by the .bats files
LAYERS_EXPECTED=$FIXTURES/layers-expected.txt

CPULL=${CPULL:-$TOP/tools/cpull/cpull}
CUNPACK=${CUNPACK:-$TOP/tools/cunpack/cunpack}
CSPEC=${CSPEC:-$TOP/tools/cspec/cspec}
CRUN_TASK=${CRUN_TASK:-$TOP/tools/crun-task/crun-task}

CKIT_TEST_CACHE=${CKIT_TEST_CACHE:-/var/tmp/ckit-test-cache}

# Give the test its own store and state directories under $BATS_TEST_TMPDIR.
# They are not created, so the tools must create them.  Call from setup().
ckit_setup() {
	export CKIT_ROOT=$BATS_TEST_TMPDIR/root
	export CKIT_STATE=$BATS_TEST_TMPDIR/state
	unset CKIT_NAMESPACE
}

# Print the mount points at or below DIR, deepest first.
mounts_below() {
	local dir=$1 target

	# findmnt -r escapes blanks as \x20, which printf %b decodes.  Sorting
	# in reverse puts every mount point before its parent.
	findmnt -rn -o TARGET | while read -r target; do
		target=$(printf '%b' "$target")
		if [[ $target == "$dir" || $target == "$dir"/* ]]; then
			echo "$target"
		fi
	done | sort -r
}

# Unmount everything below $BATS_TEST_TMPDIR, deepest first, and detach loop
# devices backed by files in it, so that bats can delete it.  A mount that
# stays busy is detached lazily.  Call from teardown().
ckit_teardown() {
	local dir target device file

	dir=$(realpath -- "$BATS_TEST_TMPDIR")
	while read -r target; do
		echo "ckit_teardown: unmounting '$target'" >&2
		umount -R -- "$target" || umount -R -l -- "$target" || true
	done < <(mounts_below "$dir")

	while read -r device file; do
		if [[ $file == "$dir"/* ]]; then
			echo "ckit_teardown: detaching $device from '$file'" >&2
			losetup -d "$device" || true
		fi
	done < <(losetup -nl -O NAME,BACK-FILE 2>/dev/null || true)
}

# run_tool EXPECTED_STATUS TOOL ARGS...
# Run TOOL with bats `run --separate-stderr`, so $output is its stdout and
# $stderr its stderr, print the command, status and both streams (bats shows
# them when the test fails) and fail unless the status is EXPECTED_STATUS.
# TOOL is cpull, cunpack, cspec or crun-task for $CPULL, $CUNPACK, $CSPEC
# or $CRUN_TASK, or else any command.  Stdin is passed through.
# shellcheck disable=SC2154 # bats' run sets status, output and stderr
run_tool() {
	local expected=$1 tool=$2 mismatch=0
	shift 2

	if [[ ! $expected =~ ^[0-9]{1,3}$ ]] || ((10#$expected > 255)); then
		echo "run_tool: invalid expected status '$expected'" >&2
		return 1
	fi
	case $tool in
	cpull) tool=$CPULL ;;
	cunpack) tool=$CUNPACK ;;
	cspec) tool=$CSPEC ;;
	crun-task) tool=$CRUN_TASK ;;
	esac
	if [[ $tool == */* && ! -x $tool ]]; then
		echo "run_tool: '$tool' is missing or not executable; build it first" >&2
		return 1
	fi

	# run -N also keeps bats from warning about status 127, which
	# crun-task returns for a command not found in the container.
	run "-$expected" --separate-stderr -- "$tool" "$@" || mismatch=1

	printf '# command:'
	printf ' %q' "$tool" "$@"
	printf '\n# status: %s (expected %s)\n' "$status" "$expected"
	printf '# stdout:\n%s\n# stderr:\n%s\n' "$output" "$stderr"
	if ((mismatch)); then
		echo "run_tool: exit status $status, expected $expected" >&2
		return 1
	fi
}

# assert_eq ACTUAL EXPECTED [WHAT]
assert_eq() {
	if [[ $1 != "$2" ]]; then
		printf '%s differs\n  expected: %s\n  actual:   %s\n' \
			"${3:-value}" "$2" "$1" >&2
		return 1
	fi
}

# assert_contains HAYSTACK NEEDLE [WHAT]: NEEDLE is a plain substring.
assert_contains() {
	if [[ $1 != *"$2"* ]]; then
		printf '%s does not contain the expected text\n  expected: %s\n  actual:   %s\n' \
			"${3:-text}" "$2" "$1" >&2
		return 1
	fi
}

# assert_not_contains HAYSTACK NEEDLE [WHAT]
assert_not_contains() {
	if [[ $1 == *"$2"* ]]; then
		printf '%s contains unexpected text\n  unexpected: %s\n  actual:     %s\n' \
			"${3:-text}" "$2" "$1" >&2
		return 1
	fi
}

# assert_file_exists PATH [WHAT]: PATH exists as any type, and a dangling
# symlink counts.
assert_file_exists() {
	if [[ ! -e $1 && ! -L $1 ]]; then
		printf '%s does not exist\n  expected: %s\n  actual:   contents of %s:\n' \
			"${2:-file}" "$1" "$(dirname -- "$1")" >&2
		ls -la -- "$(dirname -- "$1")" >&2 || true
		return 1
	fi
}

# assert_file_not_exists PATH [WHAT]
assert_file_not_exists() {
	if [[ -e $1 || -L $1 ]]; then
		printf '%s exists but should not\n  path:   %s\n  actual: %s\n' \
			"${2:-file}" "$1" "$(ls -ld -- "$1")" >&2
		return 1
	fi
}

# Succeed if the kernel supports file system type NAME, either built in or
# as a module that mount(2) would load.
kernel_has_fs() {
	grep -qw -- "$1" /proc/filesystems ||
		modprobe -n -q -- "$1" 2>/dev/null
}

# requires NAME...: skip the test, naming the reason, unless every NAME is
# available.  An unknown NAME fails the test.
#   root         running as uid 0
#   overlay      overlayfs in the kernel
#   btrfs        btrfs in the kernel, plus mkfs.btrfs and btrfs
#   runc skopeo umoci debootstrap
#                the command is in PATH
#   criu         criu is in PATH and `criu check` passes
# NOTE: the criu case has only run on hosts without criu.
requires() {
	local name

	for name in "$@"; do
		case $name in
		root)
			[[ $EUID -eq 0 ]] || skip "requires root (running as uid $EUID)"
			;;
		overlay)
			kernel_has_fs overlay || skip "requires overlayfs in the kernel"
			;;
		btrfs)
			kernel_has_fs btrfs || skip "requires btrfs in the kernel"
			if ! command -v mkfs.btrfs >/dev/null || ! command -v btrfs >/dev/null; then
				skip "requires mkfs.btrfs and btrfs (btrfs-progs)"
			fi
			;;
		runc | skopeo | umoci | debootstrap | strace)
			command -v "$name" >/dev/null || skip "requires $name in PATH"
			;;
		criu)
			command -v criu >/dev/null || skip "requires criu in PATH"
			criu check >/dev/null 2>&1 || skip "requires 'criu check' to pass"
			;;
		*)
			echo "requires: unknown requirement '$name'" >&2
			return 1
			;;
		esac
	done
}

# Print the number of files in the store's blob directory, 0 if it is absent.
store_blob_count() {
	local dir=$CKIT_ROOT/content/blobs/sha256

	if [[ ! -d $dir ]]; then
		echo 0
		return
	fi
	find "$dir" -mindepth 1 -maxdepth 1 -type f | wc -l
}

# assert_blob_file DIGEST: the store has blob DIGEST, and its content
# hashes to DIGEST.
assert_blob_file() {
	assert_file_exists "$CKIT_ROOT/content/blobs/sha256/${1#sha256:}" "blob $1"
	assert_eq "$(sha256sum <"$CKIT_ROOT/content/blobs/sha256/${1#sha256:}" | cut -c1-64)" \
		"${1#sha256:}" "content of blob $1"
}

# Print the OCI layout directory of fixture NAME (busybox, user, layers,
# layers-gzip, multiarch, otherarch, notar, corrupt, truncated, debian).
# Its tag is latest, or bookworm for debian.
fixture_layout() {
	echo "$CKIT_TEST_CACHE/oci/$1"
}

# Print the digest of the manifest or index that fixture NAME tags.
fixture_digest() {
	jq -r '.manifests[0].digest' "$CKIT_TEST_CACHE/oci/$1/index.json"
}

# Print the JSON of blob DIGEST of fixture NAME.
fixture_blob() {
	cat "$CKIT_TEST_CACHE/oci/$1/blobs/sha256/${2#sha256:}"
}

# Print the manifest digest of fixture NAME for linux/amd64, taken from the
# index if the fixture has one.
fixture_manifest_digest() {
	local digest

	digest=$(fixture_digest "$1")
	if [[ $(jq -r '.manifests[0].mediaType' "$CKIT_TEST_CACHE/oci/$1/index.json") == \
		application/vnd.oci.image.index.v1+json ]]; then
		digest=$(fixture_blob "$1" "$digest" | jq -r '
			.manifests[] | select(.platform.os == "linux"
				and .platform.architecture == "amd64") | .digest')
	fi
	echo "$digest"
}

# Print the config digest of fixture NAME (linux/amd64).
fixture_config_digest() {
	fixture_blob "$1" "$(fixture_manifest_digest "$1")" | jq -r '.config.digest'
}

# Print the layer digests of fixture NAME (linux/amd64), one per line.
fixture_layer_digests() {
	fixture_blob "$1" "$(fixture_manifest_digest "$1")" | jq -r '.layers[].digest'
}

# Build test/debian:bookworm unless cached and push it to $REGISTRY.  The
# first build runs debootstrap against the Debian mirror, which took 32 s
# with a fast mirror and can take minutes.
fixture_debian() {
	"$FIXTURES/build-images" debian
}

# assert_tree ROOTFS SPEC
# Compare the tree under ROOTFS with SPEC, in the format described at the
# top of layers-expected.txt, print every mismatch and fail if any.
assert_tree() {
	local root=$1 spec=$2 kind path a b c d e mismatches=0

	while IFS=$'\t' read -r kind path a b c d e; do
		case $kind in
		'' | '#'*)
			continue
			;;
		present)
			tree_check_present "$root" "$path" "$a" "$b" "$c" "$d" "$e" ||
				mismatches=$((mismatches + 1))
			;;
		absent)
			if [[ -e $root$path || -L $root$path ]]; then
				echo "$path: exists but should not" >&2
				mismatches=$((mismatches + 1))
			fi
			;;
		samefile)
			if [[ ! $root$path -ef $root$a ]]; then
				echo "$path: not a hardlink of $a" >&2
				mismatches=$((mismatches + 1))
			fi
			;;
		listing)
			tree_check_listing "$root" "$path" "$a" ||
				mismatches=$((mismatches + 1))
			;;
		*)
			echo "assert_tree: invalid line kind '$kind' in '$spec'" >&2
			return 1
			;;
		esac
	done <"$spec"
	if ((mismatches > 0)); then
		echo "assert_tree: $mismatches mismatches between '$root' and '$spec'" >&2
		return 1
	fi
}

# Check one "present" line of an assert_tree spec and print each mismatch.
tree_check_present() {
	local root=$1 path=$2 type=$3 mode=$4 owner=$5 mtime=$6 content=$7
	local file=$1$2 actual_type actual_mode actual_owner actual_mtime actual_content
	local failed=0

	if [[ ! -e $file && ! -L $file ]]; then
		echo "$path: missing" >&2
		return 1
	fi
	IFS='|' read -r actual_type actual_mode actual_owner actual_mtime \
		< <(stat -c '%F|%a|%u:%g|%Y' -- "$file")
	case $actual_type in
	'regular file' | 'regular empty file') actual_type='file' ;;
	directory) actual_type=dir ;;
	'symbolic link') actual_type=symlink ;;
	esac
	actual_mode=$(printf '%04o' "0$actual_mode")

	if [[ $actual_type != "$type" ]]; then
		echo "$path: type is $actual_type, expected $type" >&2
		return 1
	fi
	if [[ $mode != - && $actual_mode != "$mode" ]]; then
		echo "$path: mode is $actual_mode, expected $mode" >&2
		failed=1
	fi
	if [[ $owner != - && $actual_owner != "$owner" ]]; then
		echo "$path: owner is $actual_owner, expected $owner" >&2
		failed=1
	fi
	if [[ $mtime != - && $actual_mtime != "$mtime" ]]; then
		echo "$path: mtime is $actual_mtime, expected $mtime" >&2
		failed=1
	fi
	if [[ $content != - ]]; then
		case $type in
		file) actual_content=$(<"$file") ;;
		symlink) actual_content=$(readlink -- "$file") ;;
		*) actual_content=- ;;
		esac
		if [[ $actual_content != "$content" ]]; then
			echo "$path: content is '$actual_content', expected '$content'" >&2
			failed=1
		fi
	fi
	return "$failed"
}

# Check one "listing" line of an assert_tree spec.
tree_check_listing() {
	local root=$1 path=$2 expected=$3 actual

	actual=$(cd -- "$root$path" && find . -mindepth 1 -maxdepth 1 -printf '%P\n' |
		LC_ALL=C sort | paste -sd ' ')
	if [[ $actual != "$expected" ]]; then
		printf '%s: entries differ\n  expected: %s\n  actual:   %s\n' \
			"$path" "$expected" "$actual" >&2
		return 1
	fi
}
