#!/usr/bin/env bats
# SPDX-License-Identifier: Apache-2.0
# Self-checks of the test fixtures: the suite registry, the pushed images and
# the helpers.  They run first and fast, and no ckit tool runs here.

load helpers

MT_MANIFEST=application/vnd.oci.image.manifest.v1+json
MT_INDEX=application/vnd.oci.image.index.v1+json
MT_DOCKER_MANIFEST=application/vnd.docker.distribution.manifest.v2+json

setup() {
	ckit_setup
}

teardown() {
	ckit_teardown
}

# Print "<status> <content type> <digest>" of GET manifest REPO:TAG.
manifest_status() {
	curl -sS --noproxy '*' --max-time 10 -o /dev/null \
		-H "Accept: $MT_MANIFEST, $MT_INDEX, $MT_DOCKER_MANIFEST" \
		-w '%{http_code} %{content_type} %header{docker-content-digest}' \
		"http://$REGISTRY/v2/$1/manifests/$2"
}

@test "registry /v2/ (suite registry) returns 200" {
	assert_eq "${REGISTRY%:*}" 127.0.0.1 "REGISTRY host"

	run curl -sS --noproxy '*' --max-time 10 -D - -o /dev/null "http://$REGISTRY/v2/"
	assert_contains "$output" "HTTP/1.1 200" "response"
	assert_contains "$output" "Docker-Distribution-Api-Version: registry/2.0" "response"
}

@test "fixture manifests (registry) match layouts" {
	local name reference

	for name in busybox user layers multiarch otherarch notar corrupt truncated; do
		reference=test/$name:latest
		run manifest_status "test/$name" latest
		assert_eq "${output%% *}" 200 "$reference status"
		assert_eq "${output##* }" "$(fixture_digest "$name")" "$reference digest"
	done
}

@test "fixture test/busybox:docker (v2s2) is served" {
	local code type digest

	run manifest_status test/busybox docker
	read -r code type digest <<<"$output"
	assert_eq "$code" 200 "status"
	assert_eq "$type" "$MT_DOCKER_MANIFEST" "media type"
	assert_contains "$digest" "sha256:" "digest"
}

@test "fixture test/multiarch (skopeo) has 3 platforms" {
	requires skopeo

	run -0 skopeo inspect --raw --tls-verify=false "docker://$REGISTRY/test/multiarch:latest"
	assert_eq "$(jq -r .mediaType <<<"$output")" "$MT_INDEX" "media type"
	assert_eq "$(jq -r '[.manifests[].platform | [.os, .architecture, .variant // empty] | join("/")] | join(" ")' <<<"$output")" \
		"linux/arm64/v8 linux/arm/v7 linux/amd64" "platforms"
}

@test "fixture test/otherarch (skopeo) lacks amd64" {
	requires skopeo

	run -0 skopeo inspect --raw --tls-verify=false "docker://$REGISTRY/test/otherarch:latest"
	assert_eq "$(jq -r '[.manifests[].platform.architecture] | join(" ")' <<<"$output")" \
		"arm64 s390x" "architectures"
}

@test "fixture test/corrupt (registry) fails digest" {
	local digest

	digest=$(fixture_layer_digests corrupt)
	curl -sS --noproxy '*' --max-time 10 -o "$BATS_TEST_TMPDIR/blob" \
		"http://$REGISTRY/v2/test/corrupt/blobs/$digest"
	assert_eq "$(stat -c %s "$BATS_TEST_TMPDIR/blob")" \
		"$(stat -c %s "$(fixture_layout corrupt)/blobs/sha256/${digest#sha256:}")" "served size"
	run sha256sum "$BATS_TEST_TMPDIR/blob"
	assert_not_contains "$output" "${digest#sha256:}" "sha256 of the served blob"
}

@test "fixture test/truncated (registry) is half size" {
	local digest size

	digest=$(fixture_layer_digests truncated)
	size=$(stat -c %s "$(fixture_layout truncated)/blobs/sha256/${digest#sha256:}")
	run -0 curl -sS --noproxy '*' --max-time 10 -o "$BATS_TEST_TMPDIR/blob" \
		-w '%{http_code} %header{content-length}' \
		"http://$REGISTRY/v2/test/truncated/blobs/$digest"
	assert_eq "$output" "200 $((size / 2))" "status and Content-Length"
	assert_eq "$(stat -c %s "$BATS_TEST_TMPDIR/blob")" "$((size / 2))" "served size"
}

@test "fixture test/notar (gunzip) is not a tar" {
	local digest layer

	digest=$(fixture_layer_digests notar)
	layer=$(fixture_layout notar)/blobs/sha256/${digest#sha256:}
	run -0 bash -c "gzip -dc '$layer' | sha256sum"
	assert_eq "${output%% *}" \
		"$(fixture_blob notar "$(fixture_config_digest notar)" | jq -r '.rootfs.diff_ids[0]' | cut -d: -f2)" \
		"diff_id"
	run bash -c "gzip -dc '$layer' | tar -t"
	[[ $status -ne 0 ]]
}

@test "fixture test/layers (umoci) matches the spec" {
	requires root umoci

	umoci raw unpack --image "$(fixture_layout layers-gzip):latest" "$BATS_TEST_TMPDIR/rootfs"
	assert_tree "$BATS_TEST_TMPDIR/rootfs" "$LAYERS_EXPECTED"
}

@test "fixture test/layers (layers-gzip) shares diff_ids" {
	local layers gzip

	layers=$(fixture_blob layers "$(fixture_config_digest layers)" | jq -c .rootfs.diff_ids)
	gzip=$(fixture_blob layers-gzip "$(fixture_config_digest layers-gzip)" | jq -c .rootfs.diff_ids)
	assert_eq "$gzip" "$layers" "diff_ids"
	run -0 jq -r '[.layers[].mediaType | sub(".*layer.v1."; "")] | join(" ")' \
		<<<"$(fixture_blob layers "$(fixture_manifest_digest layers)")"
	assert_eq "$output" "tar+gzip tar+gzip tar tar+zstd" "layer media types"
}

@test "fixture test/user (umoci) runs id as app" {
	requires root umoci
	local rootfs=$BATS_TEST_TMPDIR/rootfs

	umoci raw unpack --image "$(fixture_layout user):latest" "$rootfs"
	assert_eq "$(stat -c %u:%g "$rootfs/home/app")" 1000:1000 "owner of /home/app"
	run -0 chroot --userspec=1000:1000 --groups=2000 "$rootfs" /bin/sh -c id
	assert_eq "$output" "uid=1000(app) gid=1000(app) groups=2000(extra)" "id output"
}

@test "requires (unknown name) fails" {
	run requires no-such-thing
	assert_eq "$status" 1 "status"
	assert_contains "$output" "unknown requirement 'no-such-thing'" "message"
}

@test "run_tool (status match) splits streams" {
	run_tool 3 sh -c 'echo out; echo err >&2; exit 3'
	assert_eq "$status" 3 "status"
	assert_eq "$output" out "stdout"
	# shellcheck disable=SC2154 # run_tool sets stderr through bats' run
	assert_eq "$stderr" err "stderr"
}

@test "run_tool (status mismatch) fails" {
	run run_tool 0 false
	assert_eq "$status" 1 "status"
	assert_contains "$output" "exit status 1, expected 0" "message"
}

@test "ckit_setup (per test) sets store paths" {
	assert_eq "$CKIT_ROOT" "$BATS_TEST_TMPDIR/root" "CKIT_ROOT"
	assert_eq "$CKIT_STATE" "$BATS_TEST_TMPDIR/state" "CKIT_STATE"
	assert_eq "${CKIT_NAMESPACE-unset}" unset "CKIT_NAMESPACE"
	assert_eq "$(store_blob_count)" 0 "blob count of a missing store"
}

@test "ckit_teardown (tmpfs left) unmounts it" {
	requires root
	mkdir -p "$BATS_TEST_TMPDIR/a/b"
	mount -t tmpfs ckit-test "$BATS_TEST_TMPDIR/a"
	mkdir -p "$BATS_TEST_TMPDIR/a/b"
	mount -t tmpfs ckit-test "$BATS_TEST_TMPDIR/a/b"

	ckit_teardown
	run findmnt -rn -o TARGET
	assert_not_contains "$output" "$BATS_TEST_TMPDIR" "mount table"
}
