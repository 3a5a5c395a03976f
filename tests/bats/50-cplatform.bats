#!/usr/bin/env bats
# SPDX-License-Identifier: Apache-2.0
# cplatform: host detection, parsing, matching, select and ls; and cpull's
# platform choice on test/levels, an index of linux/amd64, linux/amd64/v2,
# linux/amd64/v3, linux/arm64/v8 and linux/arm/v7 images whose /platform
# file names the platform each was built for.

load helpers
load store

CPLATFORM=${CPLATFORM:-$TOP/tools/cplatform/cplatform}

setup() {
	ckit_setup
	LEVELS=$REGISTRY/test/levels:latest
}

teardown() {
	ckit_teardown
}

# fixture_index NAME: write the index of fixture NAME to a file and print
# its path.
fixture_index() {
	local file=$BATS_TEST_TMPDIR/$1-index.json

	fixture_blob "$1" "$(fixture_digest "$1")" >"$file"
	echo "$file"
}

# entry_digest NAME N: print the digest of entry N (0-based) of the index
# of fixture NAME.
entry_digest() {
	fixture_blob "$1" "$(fixture_digest "$1")" | jq -r ".manifests[$2].digest"
}

# check_select NAME [OPTIONS...] PLATFORM N: select PLATFORM from the index
# of fixture NAME on stdin and check that entry N (0-based) is printed,
# or, for N "-", that nothing matches.
check_select() {
	local name=$1 index n=${*: -1} platform=${*: -2:1}
	local options=("${@:2:$#-3}")

	index=$(fixture_index "$name")
	if [[ $n == - ]]; then
		run_tool 1 "$CPLATFORM" select "${options[@]}" --platform "$platform" <"$index"
		assert_contains "$stderr" "no manifest for platform" "stderr for $platform"
		return
	fi
	run_tool 0 "$CPLATFORM" select "${options[@]}" --platform "$platform" <"$index"
	assert_eq "$(jq -c . <<<"$output")" "$(jq -c ".manifests[$n]" "$index")" \
		"descriptor selected for $platform ${options[*]}"
}

# Print the variant this machine's x86-64 CPU supports according to the
# glibc loader: the highest x86-64-vN hwcaps subdirectory it lists as
# supported, v1 when it lists none.
ldso_level() {
	env -u GLIBC_TUNABLES /lib64/ld-linux-x86-64.so.2 --help |
		sed -n 's/^ *x86-64-\(v[0-9]\) (supported.*/\1/p' | sort -V |
		tail -n 1 | grep . || echo v1
}

# Print the test/levels platform that this machine's level picks: its
# detected level, at most v3, as the index names it.
host_levels_platform() {
	local host

	host=$("$CPLATFORM" host)
	case $host in
	linux/amd64/v2) echo linux/amd64/v2 ;;
	linux/amd64/v[3-9]) echo linux/amd64/v3 ;;
	*) echo linux/amd64 ;;
	esac
}

# Unpack test/levels as recorded in the test store and set $unpacked to its
# /platform, read through a read-only overlay of the snapshots.
read_unpacked_platform() {
	local view=$BATS_TEST_TMPDIR/view

	run_tool 0 cunpack "$LEVELS"
	mount_chain "$output" "$view"
	unpacked=$(<"$view/platform")
	umount "$view"
}

# check_pull PLATFORM EXPECTED: pull test/levels with --platform PLATFORM
# and check the record and the unpacked /platform against EXPECTED.
check_pull() {
	run_tool 0 cpull --json --platform "$1" "$LEVELS"
	assert_eq "$(jq -r .platform <<<"$output")" "$2" "platform pulled for $1"
	read_unpacked_platform
	assert_eq "$unpacked" "$2" "/platform of the image unpacked for $1"
}

# Print every distinct blob digest of fixture NAME's index, sorted.
fixture_all_blobs() {
	local index manifest

	index=$(fixture_digest "$1")
	{
		echo "$index"
		for manifest in $(fixture_blob "$1" "$index" | jq -r '.manifests[].digest'); do
			echo "$manifest"
			fixture_blob "$1" "$manifest" | jq -r '.config.digest, .layers[].digest'
		done
	} | sort -u
}

@test "cplatform --help (stdout) exits 0" {
	run_tool 0 "$CPLATFORM" --help
	assert_contains "$output" "usage: cplatform host" "help"
	assert_contains "$output" \
		"Exit status: 0 done or matched, 1 no match or failure, 2 usage error." "help"
	assert_eq "$stderr" "" "stderr"
	(($(wc -l <<<"$output") <= 24)) || { echo "help has more than 24 lines" >&2; return 1; }
	(($(awk '{ print length }' <<<"$output" | sort -n | tail -n 1) <= 80)) ||
		{ echo "help is wider than 80 columns" >&2; return 1; }
}

@test "cplatform --bogus (bad option) exits 2" {
	run_tool 2 "$CPLATFORM" --bogus host
	assert_eq "$output" "" "stdout"
	assert_contains "$stderr" "cplatform: unknown option '--bogus'" "stderr"
	assert_contains "$stderr" "Try 'cplatform --help'." "stderr"
}

@test "cplatform (usage errors) exit 2" {
	run_tool 2 "$CPLATFORM"
	assert_contains "$stderr" "cplatform: missing command" "stderr"
	run_tool 2 "$CPLATFORM" frob
	assert_contains "$stderr" "cplatform: unknown command 'frob'" "stderr"
	run_tool 2 "$CPLATFORM" ls --strict x
	assert_contains "$stderr" "option '--strict' does not apply to 'ls'" "stderr"
	run_tool 2 "$CPLATFORM" match linux/amd64
	assert_contains "$stderr" "match needs <want> and <have>" "stderr"
	run_tool 2 "$CPLATFORM" host extra
	assert_contains "$stderr" "unexpected argument 'extra' for 'host'" "stderr"
	run_tool 2 "$CPLATFORM" select --platform
	assert_contains "$stderr" "missing argument for option '--platform'" "stderr"
}

@test "cplatform host prints this machine's platform" {
	local arch

	case $(uname -m) in
	x86_64) arch=amd64 ;;
	aarch64) arch=arm64 ;;
	armv*) arch=arm ;;
	*) arch=$(uname -m) ;;
	esac
	run_tool 0 "$CPLATFORM" host
	[[ $output =~ ^linux/$arch(/v[0-9]+)?$ ]] ||
		{ echo "host '$output' is not linux/$arch[/variant]" >&2; return 1; }
	run_tool 0 "$CPLATFORM" host --json
	assert_eq "$(jq -r '.os + "/" + .architecture + (if .variant then "/" + .variant else "" end)' <<<"$output")" \
		"$("$CPLATFORM" host)" "host --json"
}

@test "cplatform host (x86-64) agrees with ld.so hwcaps" {
	[[ $(uname -m) == x86_64 ]] || skip "host is $(uname -m), not x86_64"
	[[ -x /lib64/ld-linux-x86-64.so.2 ]] || skip "requires /lib64/ld-linux-x86-64.so.2"
	local variant

	run_tool 0 "$CPLATFORM" host
	variant=${output#linux/amd64}
	variant=${variant#/}
	assert_eq "${variant:-v1}" "$(ldso_level)" "variant against the loader's hwcaps"
}

@test "cplatform parse (aliases) prints normalised forms" {
	local input expected
	local cases=(
		linux/amd64=linux/amd64 LINUX/AMD64=linux/amd64
		x86_64=linux/amd64 linux/x86-64=linux/amd64
		linux/amd64/v1=linux/amd64 amd64/v3=linux/amd64/v3
		aarch64=linux/arm64 aarch64/8=linux/arm64
		linux/arm64/v8=linux/arm64 armhf=linux/arm/v7
		armel=linux/arm/v6 arm=linux/arm/v7 linux/arm/7=linux/arm/v7
		i386=linux/386 macos/arm64=darwin/arm64 s390x=linux/s390x
		'windows(10.0.17763+b+a)/amd64=windows(10.0.17763+a+b)/amd64'
	)

	for input in "${cases[@]}"; do
		expected=${input##*=}
		input=${input%=*}
		run_tool 0 "$CPLATFORM" parse "$input"
		assert_eq "$output" "$expected" "parse '$input'"
	done
}

@test "cplatform parse (bare os) takes the host's arch" {
	run_tool 0 "$CPLATFORM" parse linux
	assert_eq "$output" "$("$CPLATFORM" host)" "parse linux"
}

@test "cplatform parse --json prints OCI objects" {
	run_tool 0 "$CPLATFORM" parse --json arm64 linux/amd64/v3 'windows(10.0+x)/amd64'
	assert_eq "${lines[0]}" '{"architecture":"arm64","os":"linux"}' "arm64"
	assert_eq "${lines[1]}" '{"architecture":"amd64","os":"linux","variant":"v3"}' "amd64/v3"
	assert_eq "${lines[2]}" \
		'{"architecture":"amd64","os":"windows","os.version":"10.0","os.features":["x"]}' \
		"windows with os.version"
	assert_eq "$(jq -s length <<<"$output")" 3 "objects"
}

@test "cplatform parse (malformed) exits 1 naming it" {
	local bad

	for bad in '' / linux/ /amd64 linux//v7 linux/amd64/v2/x 'lin ux' \
		'linux/amd*64' frobnicate; do
		run_tool 1 "$CPLATFORM" parse "$bad"
		assert_contains "$stderr" "cplatform: invalid platform '$bad'" "stderr for '$bad'"
		assert_eq "$output" "" "stdout for '$bad'"
	done
	run_tool 1 "$CPLATFORM" parse linux/arm64 'a/b/c/d' armhf
	assert_eq "$output" $'linux/arm64\nlinux/arm/v7' "valid ones still printed"
	assert_contains "$stderr" "invalid platform 'a/b/c/d': expected" "stderr"
}

@test "cplatform match (levels, arm) exits 0 or 1" {
	local c want have expected
	local cases=(
		"linux/amd64/v3 linux/amd64 0" "linux/amd64/v3 linux/amd64/v2 0"
		"linux/amd64/v3 linux/amd64/v4 1" "linux/amd64/v2 linux/amd64/v3 1"
		"linux/amd64/v4 linux/amd64/v3 0" "linux/amd64 linux/amd64/v2 1"
		"linux/amd64 linux/386 0" "linux/arm64 linux/arm/v7 0"
		"linux/arm64 linux/arm/v5 0" "linux/arm64/v8 linux/arm64 0"
		"linux/arm/v7 linux/arm/v6 0" "linux/arm/v6 linux/arm/v7 1"
		"linux/arm/v8 linux/arm/v7 0" "linux/arm/v7 linux/arm64 1"
		"linux/amd64 windows/amd64 1" "linux/arm64 linux/amd64 1"
	)

	for c in "${cases[@]}"; do
		read -r want have expected <<<"$c"
		run_tool "$expected" "$CPLATFORM" match "$want" "$have"
		assert_eq "$output$stderr" "" "output of match $want $have"
	done
}

@test "cplatform match --strict (lower variant) exits 1" {
	run_tool 1 "$CPLATFORM" match --strict linux/amd64/v3 linux/amd64/v2
	run_tool 1 "$CPLATFORM" match --strict linux/arm64 linux/arm/v7
	run_tool 1 "$CPLATFORM" match --strict linux/amd64 linux/386
	run_tool 0 "$CPLATFORM" match --strict linux/arm64 linux/aarch64/v8
	run_tool 0 "$CPLATFORM" match --strict linux/amd64/v1 x86_64
	run_tool 0 "$CPLATFORM" match --strict armhf linux/arm
}

@test "cplatform match (invalid platform) exits 1" {
	run_tool 1 "$CPLATFORM" match linux/amd64 'linux//'
	assert_contains "$stderr" "cplatform: invalid platform 'linux//'" "stderr"
}

@test "cplatform select (levels index) picks each level" {
	check_select levels linux/amd64 0
	check_select levels amd64 0
	check_select levels linux/amd64/v2 1
	check_select levels linux/amd64/v3 2
	check_select levels x86_64/v3 2
	check_select levels linux/amd64/v4 2
	check_select levels linux/arm64 3
	check_select levels aarch64 3
	check_select levels linux/arm/v7 4
	check_select levels linux/arm/v8 4
	check_select levels linux/arm/v6 -
	check_select levels linux/386 -
}

@test "cplatform select --strict (levels index) no lower level" {
	check_select levels --strict linux/amd64/v3 2
	check_select levels --strict linux/amd64 0
	check_select levels --strict linux/arm64 3
	check_select levels --strict linux/amd64/v4 -
	check_select levels --strict linux/arm/v8 -
}

@test "cplatform select (multiarch index) picks each arch" {
	check_select multiarch linux/amd64 2
	check_select multiarch linux/amd64/v3 2
	check_select multiarch linux/arm64 0
	check_select multiarch linux/arm/v7 1
	check_select multiarch --strict linux/arm64 0
	check_select multiarch --strict linux/amd64/v2 -
	check_select multiarch linux/arm/v6 -
}

@test "cplatform select (otherarch index) picks each arch" {
	check_select otherarch linux/arm64 0
	check_select otherarch linux/arm64/v8 0
	check_select otherarch linux/s390x 1
	check_select otherarch --strict linux/s390x 1
	check_select otherarch linux/arm/v7 -
	check_select otherarch linux/amd64 -
}

@test "cplatform select (no match) lists the platforms" {
	local index

	index=$(fixture_index levels)
	run_tool 1 "$CPLATFORM" select --platform linux/arm/v6 <"$index"
	assert_eq "$output" "" "stdout"
	assert_eq "$stderr" "cplatform: no manifest for platform 'linux/arm/v6'; the index offers linux/amd64, linux/amd64/v2, linux/amd64/v3, linux/arm64, linux/arm/v7" \
		"stderr"
	index=$(fixture_index otherarch)
	run_tool 1 "$CPLATFORM" select --strict --platform linux/amd64 <"$index"
	assert_eq "$stderr" "cplatform: no manifest for platform 'linux/amd64' (strict); the index offers linux/arm64, linux/s390x" \
		"stderr"
}

@test "cplatform select (Docker manifest list) picks v2" {
	local list=$BATS_TEST_TMPDIR/list.json

	fixture_blob levels "$(fixture_digest levels)" | jq -c '
		.mediaType = "application/vnd.docker.distribution.manifest.list.v2+json"
		| .manifests[].mediaType = "application/vnd.docker.distribution.manifest.v2+json"' \
		>"$list"
	run_tool 0 "$CPLATFORM" select --platform linux/amd64/v2 <"$list"
	assert_eq "$(jq -r .digest <<<"$output")" "$(entry_digest levels 1)" "digest"
	assert_eq "$(jq -r .mediaType <<<"$output")" \
		application/vnd.docker.distribution.manifest.v2+json "media type"
}

@test "cplatform select (attestation, no platform) skips them" {
	local index=$BATS_TEST_TMPDIR/index.json

	fixture_blob levels "$(fixture_digest levels)" | jq -c '
		.manifests |= [.[0] | .platform = {os: "unknown", architecture: "unknown"}]
			+ [.[1] | del(.platform)] + [.[2]]' >"$index"
	run_tool 0 "$CPLATFORM" select --platform linux/amd64/v4 <"$index"
	assert_eq "$(jq -r .digest <<<"$output")" "$(entry_digest levels 2)" "digest"
	run_tool 1 "$CPLATFORM" select --platform linux/amd64 <"$index"
	assert_contains "$stderr" "the index offers linux/amd64/v3" "stderr"
}

@test "cplatform select (CKIT_PLATFORM, stdin -) takes it" {
	local index

	index=$(fixture_index levels)
	CKIT_PLATFORM=linux/arm/v7 run_tool 0 "$CPLATFORM" select - <"$index"
	assert_eq "$(jq -r .digest <<<"$output")" "$(entry_digest levels 4)" "digest"
}

@test "cplatform select (not an index) exits 1" {
	run_tool 1 "$CPLATFORM" select --platform linux/amd64 <<<'{"schemaVersion": 2}'
	assert_contains "$stderr" "cplatform: stdin: invalid index: no 'manifests' array" "stderr"
	run_tool 1 "$CPLATFORM" select --platform linux/amd64 <<<'not json'
	assert_contains "$stderr" "cplatform: stdin: invalid index" "stderr"
}

@test "cplatform select REF (store) reads the image's index" {
	run_tool 0 cpull --platform linux/amd64 "$LEVELS"
	run_tool 0 "$CPLATFORM" select --platform linux/arm/v7 "$LEVELS"
	assert_eq "$(jq -r .digest <<<"$output")" "$(entry_digest levels 4)" "digest"
	CKIT_PLATFORM=linux/amd64/v2 run_tool 0 "$CPLATFORM" select "$LEVELS"
	assert_eq "$(jq -r .digest <<<"$output")" "$(entry_digest levels 1)" "digest"
	run_tool 1 "$CPLATFORM" select --platform linux/s390x "$LEVELS"
	assert_contains "$stderr" "cplatform: image '$LEVELS': no manifest for platform 'linux/s390x'" "stderr"
}

@test "cplatform select REF (single manifest) uses the record" {
	pull_fixture busybox
	run_tool 0 "$CPLATFORM" select --platform linux/amd64 "$REGISTRY/test/busybox"
	assert_eq "$(jq -r .digest <<<"$output")" "$(fixture_manifest_digest busybox)" "digest"
	assert_eq "$(jq -c .platform <<<"$output")" '{"architecture":"amd64","os":"linux"}' "platform"
	run_tool 1 "$CPLATFORM" select --platform linux/arm64 "$REGISTRY/test/busybox"
	assert_contains "$stderr" "the index offers linux/amd64" "stderr"
}

@test "cplatform ls (levels, v2 pulled) marks the record" {
	local i line expected

	run_tool 0 cpull --platform linux/amd64/v2 "$LEVELS"
	run_tool 0 "$CPLATFORM" ls "$LEVELS"
	assert_eq "${#lines[@]}" 5 "lines"
	i=0
	for expected in linux/amd64 linux/amd64/v2 linux/amd64/v3 linux/arm64 linux/arm/v7; do
		IFS=$'\t' read -r -a line <<<"${lines[i]}"
		assert_eq "${line[0]}" "$expected" "platform of line $i"
		assert_eq "${line[1]}" "$(entry_digest levels "$i")" "digest of line $i"
		assert_eq "${line[2]}" "$(fixture_blob levels "$(fixture_digest levels)" |
			jq -r ".manifests[$i].size")" "size of line $i"
		if ((i == 1)); then
			assert_eq "${line[3]} ${line[4]}" "* stored" "marks of line $i"
		else
			assert_eq "${line[3]} ${line[4]}" "- missing" "marks of line $i"
		fi
		assert_eq "${line[5]} ${line[6]}" "- -" "os.version and os.features of line $i"
		i=$((i + 1))
	done
}

@test "cplatform ls --json (levels) prints JSON Lines" {
	run_tool 0 cpull --platform linux/arm64 "$LEVELS"
	run_tool 0 "$CPLATFORM" ls --json "$LEVELS"
	assert_eq "$(jq -s length <<<"$output")" 5 "objects"
	assert_eq "$(jq -r 'select(.current) | .platform' <<<"$output")" linux/arm64 "current"
	assert_eq "$(jq -r 'select(.stored) | .digest' <<<"$output")" \
		"$(entry_digest levels 3)" "stored"
	assert_eq "$(jq -c 'select(.current) | [.os_version, .os_features, .media_type, .size]' <<<"$output")" \
		"[null,[],\"application/vnd.oci.image.manifest.v1+json\",$(fixture_blob levels "$(fixture_digest levels)" |
			jq '.manifests[3].size')]" "fields"
}

@test "cplatform ls (os.version, attestation) shows them" {
	local index hex record=$CKIT_ROOT/namespaces/default/index.json

	run_tool 0 cpull --platform linux/amd64 "$LEVELS"
	# Point the record at an edited copy of the index, stored as a blob.
	index=$(fixture_blob levels "$(fixture_digest levels)" | jq -c '
		.manifests[1].platform += {"os.version": "10.0.17763",
			"os.features": ["win32k", "a"]}
		| .manifests[2].platform = {os: "unknown", architecture: "unknown"}
		| .manifests[3] |= del(.platform)')
	hex=$(printf '%s' "$index" | sha256sum | cut -c1-64)
	printf '%s' "$index" >"$CKIT_ROOT/content/blobs/sha256/$hex"
	jq -c --arg d "sha256:$hex" --arg s "${#index}" '.manifests[0].annotations
		+= {"io.ckit.image.target.digest": $d, "io.ckit.image.target.size": $s}' \
		"$record" >"$record.new"
	mv "$record.new" "$record"

	run_tool 0 "$CPLATFORM" ls "$LEVELS"
	assert_eq "${lines[1]}" "linux/amd64/v2	$(entry_digest levels 1)	559	-	missing	10.0.17763	a,win32k" \
		"entry with os.version and os.features"
	assert_eq "$(cut -f1,4 <<<"${lines[0]}")" "linux/amd64	*" "recorded entry"
	assert_eq "$(cut -f1 <<<"${lines[2]}")" unknown/unknown "attestation entry"
	assert_eq "$(cut -f1 <<<"${lines[3]}")" - "entry without a platform"
	run_tool 0 "$CPLATFORM" ls --json "$LEVELS"
	assert_eq "$(jq -sc '.[1] | [.os_version, .os_features]' <<<"$output")" \
		'["10.0.17763",["a","win32k"]]' "JSON os.version and os.features"
	assert_eq "$(jq -sc '.[3].platform' <<<"$output")" null "JSON entry without a platform"
	# arm64 is gone from the index, so an arm64 host takes arm/v7.
	run_tool 0 "$CPLATFORM" select --platform linux/arm64 "$LEVELS"
	assert_eq "$(jq -r .digest <<<"$output")" "$(entry_digest levels 4)" "select"
}

@test "cplatform ls - (cpull output, single manifest) lists one" {
	pull_fixture busybox
	run_tool 0 "$CPLATFORM" ls - <<<"$output"
	assert_eq "$output" "linux/amd64	$(fixture_manifest_digest busybox)	$(fixture_blob busybox \
		"$(fixture_digest busybox)" | wc -c)	*	stored	-	-" "ls line"
}

@test "cplatform ls (image not pulled) exits 1" {
	run_tool 1 "$CPLATFORM" ls "$LEVELS"
	assert_contains "$stderr" "cplatform: no store at '$CKIT_ROOT'" "no store"
	assert_file_not_exists "$CKIT_ROOT/content" "store"
	mkdir -p "$CKIT_ROOT/content"
	run_tool 1 "$CPLATFORM" ls "$LEVELS"
	assert_contains "$stderr" "cplatform: image '$LEVELS' not found" "stderr"
}

@test "cpull --platform linux/amd64 (levels) gets v1" {
	requires root overlay
	check_pull linux/amd64 linux/amd64
}

@test "cpull --platform linux/amd64/v2 (levels) gets v2" {
	requires root overlay
	check_pull linux/amd64/v2 linux/amd64/v2
}

@test "cpull --platform linux/amd64/v3 (levels) gets v3" {
	requires root overlay
	check_pull linux/amd64/v3 linux/amd64/v3
}

@test "cpull --platform linux/amd64/v4 (levels) gets v3" {
	requires root overlay
	check_pull linux/amd64/v4 linux/amd64/v3
}

@test "cpull --platform linux/arm64 (levels) gets arm64" {
	requires root overlay
	check_pull linux/arm64 linux/arm64/v8
}

@test "cpull --platform linux/arm/v7 (levels) gets arm" {
	requires root overlay
	check_pull linux/arm/v7 linux/arm/v7
}

@test "cpull (CKIT_PLATFORM=linux/amd64/v2, levels) gets v2" {
	requires root overlay
	CKIT_PLATFORM=linux/amd64/v2 run_tool 0 cpull "$LEVELS"
	read_unpacked_platform
	assert_eq "$unpacked" linux/amd64/v2 "/platform"
}

@test "cpull (CKIT_PLATFORM=aarch64, levels) gets arm64" {
	requires root overlay
	CKIT_PLATFORM=aarch64 run_tool 0 cpull "$LEVELS"
	read_unpacked_platform
	assert_eq "$unpacked" linux/arm64/v8 "/platform"
}

@test "cpull (host default, levels) gets host level" {
	[[ $(uname -m) == x86_64 ]] || skip "host is $(uname -m), not x86_64"
	requires root overlay
	local expected

	expected=$(host_levels_platform)
	unset CKIT_PLATFORM
	run_tool 0 cpull --json "$LEVELS"
	assert_eq "$(jq -r .platform <<<"$output")" "$expected" "platform pulled"
	read_unpacked_platform
	assert_eq "$unpacked" "$expected" "/platform"
}

@test "crun-task run (levels per --platform) runs it" {
	[[ $(uname -m) == x86_64 ]] || skip "host is $(uname -m), not x86_64"
	requires root overlay runc
	local platform host

	host=$("$CPLATFORM" host)
	for platform in linux/amd64 linux/amd64/v2 linux/amd64/v3; do
		if ! "$CPLATFORM" match "$host" "$platform"; then
			echo "# $platform skipped: this CPU is $host" >&3
			continue
		fi
		run_tool 0 cpull --platform "$platform" "$LEVELS"
		run_tool 0 crun-task run --rm "$LEVELS" levels1 cat /platform
		assert_eq "$output" "$platform" "/platform inside the container"
	done
}

@test "cpull --all-platforms (levels) stores every manifest" {
	local blobs expected

	run_tool 0 cpull --json --all-platforms "$LEVELS"
	assert_eq "$(jq -r '.manifests | length' <<<"$output")" 5 "manifests pulled"
	assert_eq "$(jq -r '.manifests[0].digest' <<<"$output")" \
		"$(jq -r .manifest <<<"$output")" "recorded manifest comes first"
	expected=$(CKIT_PLATFORM=$("$CPLATFORM" host) "$CPLATFORM" select <"$(fixture_index levels)" |
		jq -r .digest)
	assert_eq "$(jq -r .manifest <<<"$output")" "$expected" "recorded manifest"
	blobs=$(fixture_all_blobs levels)
	assert_eq "$(store_blob_count)" "$(wc -l <<<"$blobs")" "blob count"
	for digest in $blobs; do
		assert_file_exists "$CKIT_ROOT/content/blobs/sha256/${digest#sha256:}" "blob $digest"
	done
	run_tool 0 "$CPLATFORM" ls --json "$LEVELS"
	assert_eq "$(jq -s 'map(select(.stored)) | length' <<<"$output")" 5 "stored manifests"
	assert_eq "$(find "$CKIT_ROOT/content/ingest" -type f | wc -l)" 0 "files left in ingest"
}

@test "cpull --all-platforms --platform (levels) records it" {
	run_tool 0 cpull --json --all-platforms --platform linux/arm/v7 "$LEVELS"
	assert_eq "$(jq -r .manifest <<<"$output")" "$(entry_digest levels 4)" "recorded manifest"
	assert_eq "$(jq -r .platform <<<"$output")" linux/arm/v7 "recorded platform"
	assert_eq "$(store_blob_count)" "$(fixture_all_blobs levels | wc -l)" "blob count"
}

@test "cpull --all-platforms (otherarch) records the first" {
	run_tool 0 cpull --json --all-platforms --platform linux/amd64 "$REGISTRY/test/otherarch"
	assert_contains "$stderr" "has no manifest for platform 'linux/amd64'; recording 'linux/arm64'" "stderr"
	assert_eq "$(jq -r .manifest <<<"$output")" "$(entry_digest otherarch 0)" "recorded manifest"
	assert_eq "$(store_blob_count)" "$(fixture_all_blobs otherarch | wc -l)" "blob count"
}

@test "cpull --platform twice (levels) stores exactly those" {
	requires root overlay
	local expected digest

	run_tool 0 cpull --json --platform linux/arm/v7 --platform linux/amd64/v2 "$LEVELS"
	assert_eq "$(jq -r .manifest <<<"$output")" "$(entry_digest levels 4)" "recorded manifest"
	assert_eq "$(jq -r .platform <<<"$output")" linux/arm/v7 "recorded platform"
	assert_eq "$(jq -r '[.manifests[].digest] | join(" ")' <<<"$output")" \
		"$(entry_digest levels 4) $(entry_digest levels 1)" "manifests pulled"
	expected=$({
		fixture_digest levels
		for digest in $(entry_digest levels 4) $(entry_digest levels 1); do
			echo "$digest"
			fixture_blob levels "$digest" | jq -r '.config.digest, .layers[].digest'
		done
	} | sort -u)
	assert_eq "$(cd "$CKIT_ROOT/content/blobs/sha256" && ls | sed 's/^/sha256:/' | sort)" \
		"$expected" "blobs stored"
	run_tool 0 "$CPLATFORM" ls "$LEVELS"
	assert_eq "$(cut -f1,4,5 <<<"$output")" $'linux/amd64\t-\tmissing
linux/amd64/v2\t-\tstored
linux/amd64/v3\t-\tmissing
linux/arm64\t-\tmissing
linux/arm/v7\t*\tstored' "ls marks"
	read_unpacked_platform
	assert_eq "$unpacked" linux/arm/v7 "/platform of the recorded manifest"
}

@test "cpull --platform (one has no match) stores nothing" {
	run_tool 1 cpull --platform linux/amd64 --platform linux/s390x "$LEVELS"
	assert_contains "$stderr" "no manifest for platform 'linux/s390x'" "stderr"
	assert_eq "$(store_blob_count)" 0 "blob count"
	assert_file_not_exists "$CKIT_ROOT/namespaces/default/index.json.tmp" "temporary index"
	assert_eq "$(jq '.manifests | length' "$CKIT_ROOT/namespaces/default/index.json" 2>/dev/null || echo 0)" \
		0 "records"
}

@test "cplatform bash completion (commands, options) fills in" {
	source "$TOP/completions/bash/cplatform"
	COMP_WORDS=(cplatform "")
	COMP_CWORD=1
	_cplatform
	assert_eq "${COMPREPLY[*]}" "host parse match select ls" "commands"
	COMP_WORDS=(cplatform select --platform linux/amd64/)
	COMP_CWORD=3
	_cplatform
	assert_eq "${COMPREPLY[*]}" "linux/amd64/v2 linux/amd64/v3 linux/amd64/v4" "--platform values"
	COMP_WORDS=(cplatform --root /tmp match --s)
	COMP_CWORD=4
	_cplatform
	assert_eq "${COMPREPLY[*]}" "--strict" "match options"
	COMP_WORDS=(cplatform ls --j)
	COMP_CWORD=2
	_cplatform
	assert_eq "${COMPREPLY[*]}" "--json" "ls options"
}

@test "cplatform bash completion (ls) offers image names" {
	pull_fixture busybox
	source "$TOP/completions/bash/cplatform"
	COMP_WORDS=(cplatform ls "$REGISTRY/test/b")
	COMP_CWORD=2
	_cplatform
	assert_eq "${COMPREPLY[*]}" "$REGISTRY/test/busybox:latest" "image names"
}

@test "cpull bash completion (--platform) offers platforms" {
	source "$TOP/completions/bash/cpull"
	COMP_WORDS=(cpull --platform linux/arm)
	COMP_CWORD=2
	_cpull
	assert_eq "${COMPREPLY[*]}" "linux/arm64 linux/arm/v7 linux/arm/v6" "--platform values"
	COMP_WORDS=(cpull --platform linux/amd64 --platform linux/amd64/)
	COMP_CWORD=4
	_cpull
	assert_eq "${COMPREPLY[*]}" "linux/amd64/v2 linux/amd64/v3 linux/amd64/v4" "second --platform"
	COMP_WORDS=(cpull --all)
	COMP_CWORD=1
	_cpull
	assert_eq "${COMPREPLY[*]}" "--all-platforms" "options"
}

@test "zsh -n (cplatform and cpull completions) passes" {
	command -v zsh >/dev/null || skip "requires zsh in PATH"
	run -0 zsh -n "$TOP/completions/zsh/_cplatform"
	run -0 zsh -n "$TOP/completions/zsh/_cpull"
}
