#!/usr/bin/env bats
# SPDX-License-Identifier: Apache-2.0
# The registry client against misbehaving servers: fixtures/fault-server.py
# sits in front of the suite registry and answers with retries, redirects,
# missing headers, errors and broken connections, as each test asks.

load helpers
load registries

setup() {
	ckit_setup
}

teardown() {
	fault_stop
	ckit_teardown
}

# Print how many logged requests match the extended regex PATTERN.
fault_requests() {
	grep -cE -- "$1" "$FAULT_LOG" || true
}

@test "cpull (503, 500, then 200) retries" {
	fault_start flaky5xx
	run_tool 0 cpull "$FAULT/test/busybox"
	assert_eq "$output" "$FAULT/test/busybox:latest@$(fixture_digest busybox)" \
		"stdout"
	assert_eq "$(fault_requests '^(GET|HEAD) /v2/test/busybox/manifests/latest ')" 3 \
		"manifest requests"
	assert_eq "$(store_blob_count)" 3 "blob count"
}

@test "cpull (429 with Retry-After) waits, then pulls" {
	fault_start retry429
	SECONDS=0
	run_tool 0 cpull "$FAULT/test/busybox"
	((SECONDS >= 1))
	assert_eq "$(fault_requests '^(GET|HEAD) /v2/test/busybox/manifests/latest ')" 2 \
		"manifest requests"
}

@test "cpull (no Docker-Content-Digest) pulls" {
	fault_start nodigest
	run_tool 0 cpull "$FAULT/test/busybox"
	assert_eq "$output" "$FAULT/test/busybox:latest@$(fixture_digest busybox)" \
		"stdout"
}

@test "cpull (400 with errors) shows the message at once" {
	fault_start error400
	run_tool 1 cpull "$FAULT/test/busybox"
	assert_contains "$stderr" "returned HTTP 400" "stderr"
	assert_contains "$stderr" "(manifest invalid: it is broken)" "stderr"
	# A HEAD has no body to carry the message, so one GET follows it.
	(($(fault_requests '/manifests/latest ') <= 2))
}

@test "cpull (storage wants its own token) sends it only there" {
	fault_start auth,storageauth
	run_tool 0 cpull "$FAULT/test/busybox"
	assert_eq "$(store_blob_count)" 3 "blob count"
	assert_eq "$(fault_requests '^GET /storage/.* auth=registry')" 0 \
		"storage requests with the registry's token"
	(($(fault_requests '^GET /storage/.* auth=storage') >= 2))
	assert_eq "$(fault_requests '^GET /storage-token ')" 1 "storage token requests"
	assert_eq "$(fault_requests '^GET /v2/.* auth=storage')" 0 \
		"registry requests with the storage token"
}

@test "cpull (corrupt blob) stages nothing" {
	fault_start corrupt
	run_tool 1 cpull "$FAULT/test/busybox"
	assert_contains "$stderr" "failed verification" "stderr"
	assert_eq "$(store_blob_count)" 0 "blob count"
	assert_file_not_exists \
		"$CKIT_ROOT/content/ingest/$(fixture_config_digest busybox | cut -c8-).staged" \
		"staged config"
}

@test "cpull (token expired) fetches a new one first" {
	fault_start auth,ttl1,slowmanifest
	run_tool 0 cpull "$FAULT/test/busybox"
	(($(fault_requests '^GET /token ') >= 2))
	# Only the first request goes without a token: each later token
	# comes before the request that needs it, not after a 401.
	assert_eq "$(fault_requests '^(GET|HEAD) /v2/.* auth=none')" 1 \
		"registry requests without a token"
}

@test "cpull (token rejected) asks for another" {
	fault_start auth,revoke
	run_tool 0 cpull "$FAULT/test/busybox"
	(($(fault_requests '^GET /token ') >= 2))
	assert_eq "$(store_blob_count)" 3 "blob count"
}

@test "cpull (HEAD 403 at storage) falls back to GET" {
	fault_start headredirect
	# The first pull has no record of the name and GETs the tag; the
	# second resolves it with a HEAD.
	run_tool 0 cpull "$FAULT/test/busybox"
	: >"$FAULT_LOG"
	run_tool 0 cpull "$FAULT/test/busybox"
	assert_eq "$output" "$FAULT/test/busybox:latest@$(fixture_digest busybox)" \
		"stdout"
	assert_eq "$(fault_requests '^HEAD /storage/test/busybox/manifests/latest ')" 1 \
		"HEAD requests at storage"
	assert_eq "$(fault_requests '^GET /storage/test/busybox/manifests/latest ')" 1 \
		"GET requests at storage"
}

@test "cpull (no record of the name) GETs the tag without HEAD" {
	fault_start none
	run_tool 0 cpull "$FAULT/test/busybox"
	assert_eq "$(fault_requests '^HEAD ')" 0 "HEAD requests"
	assert_eq "$(fault_requests '^GET /v2/test/busybox/manifests/latest ')" 1 \
		"GETs of the tag"
	assert_eq "$(fault_requests '^GET /v2/test/busybox/manifests/sha256:')" 0 \
		"GETs of the manifest by digest"
	: >"$FAULT_LOG"
	run_tool 0 cpull "$FAULT/test/busybox"
	assert_eq "$(fault_requests '^HEAD /v2/test/busybox/manifests/latest ')" 1 \
		"HEADs of the tag in the second pull"
	assert_eq "$(fault_requests '^GET /v2/test/busybox/manifests/')" 0 \
		"manifest GETs in the second pull"
}

@test "cpull (partial file with the whole blob) stages it without a request" {
	local layer size
	layer=$(fixture_layer_digests busybox)
	size=$(stat -c %s "$(fixture_layout busybox)/blobs/sha256/${layer#sha256:}")
	seed_partial "$layer" "$size"
	fault_start none
	run_tool 0 cpull "$FAULT/test/busybox"
	assert_eq "$(fault_requests "^GET /v2/test/busybox/blobs/$layer ")" 0 \
		"requests of the layer"
	assert_blob_file "$layer"
}

@test "cpull (partial file with the whole blob, wrong bytes) fetches it again" {
	local layer size
	layer=$(fixture_layer_digests busybox)
	size=$(stat -c %s "$(fixture_layout busybox)/blobs/sha256/${layer#sha256:}")
	seed_partial "$layer" "$size" random
	fault_start none
	run_tool 0 cpull "$FAULT/test/busybox"
	assert_eq "$(fault_requests "^GET /v2/test/busybox/blobs/$layer range=-")" 1 \
		"requests of the layer from byte 0"
	assert_blob_file "$layer"
}

@test "cpull (registry without HEAD) uses GET" {
	fault_start nohead
	run_tool 0 cpull "$FAULT/test/busybox"
	assert_eq "$(fault_requests '^GET /v2/test/busybox/manifests/latest ')" 1 \
		"GET of the tag"
	assert_eq "$(store_blob_count)" 3 "blob count"
}

# The layer of test/debian has tens of MB; the server cuts every response
# after 4 MiB, so the pull only completes by resuming again and again.
@test "cpull (connection cut again and again) resumes" {
	fixture_debian
	FAULT_CUT=$((4 << 20)) fault_start cut
	run_tool 0 cpull -v "$FAULT/test/debian:bookworm"
	assert_contains "$stderr" "resuming blob" "stderr"
	local layer ranges
	layer=$(fixture_layer_digests debian)
	ranges=$(fault_requests "^GET /v2/test/debian/blobs/$layer range=bytes=")
	((ranges >= 3))
	assert_eq "$(fault_requests "^GET /v2/test/debian/blobs/$layer range=-")" 1 \
		"requests of the layer from byte 0"
	assert_blob_file "$layer"
}

# Writes the first N bytes of fixture blob DIGEST (or random bytes with
# "random") as the partial file a killed pull would leave.
seed_partial() {
	local digest=$1 n=$2 how=${3:-copy} dir=$CKIT_ROOT/content/ingest

	mkdir -p "$dir"
	if [[ $how == random ]]; then
		head -c "$n" /dev/urandom >"$dir/${digest#sha256:}.partial"
	else
		head -c "$n" "$(fixture_layout busybox)/blobs/sha256/${digest#sha256:}" \
			>"$dir/${digest#sha256:}.partial"
	fi
}

@test "cpull (partial file) resumes with Range" {
	local layer
	layer=$(fixture_layer_digests busybox)
	seed_partial "$layer" 300000
	fault_start none
	run_tool 0 cpull "$FAULT/test/busybox"
	assert_eq "$(fault_requests "^GET /v2/test/busybox/blobs/$layer range=bytes=300000- ")" 1 \
		"resumed request"
	assert_eq "$(fault_requests "^GET /v2/test/busybox/blobs/$layer range=- ")" 0 \
		"requests from byte 0"
	assert_blob_file "$layer"
}

@test "cpull (server ignores Range) starts over" {
	local layer
	layer=$(fixture_layer_digests busybox)
	seed_partial "$layer" 300000
	fault_start norange
	run_tool 0 cpull "$FAULT/test/busybox"
	assert_eq "$(fault_requests "^GET /v2/test/busybox/blobs/$layer range=bytes=300000- ")" 1 \
		"resumed request"
	assert_blob_file "$layer"
}

@test "cpull (206 at another offset) starts over" {
	local layer
	layer=$(fixture_layer_digests busybox)
	seed_partial "$layer" 300000
	fault_start badrange
	run_tool 0 cpull "$FAULT/test/busybox"
	assert_eq "$(fault_requests "^GET /v2/test/busybox/blobs/$layer range=- ")" 1 \
		"request from byte 0 after the wrong range"
	assert_blob_file "$layer"
}

@test "cpull (partial file with wrong bytes) fetches again" {
	local layer
	layer=$(fixture_layer_digests busybox)
	seed_partial "$layer" 300000 random
	fault_start none
	run_tool 0 cpull "$FAULT/test/busybox"
	assert_contains "$stderr" "fetching it again from the start" "stderr"
	assert_eq "$(fault_requests "^GET /v2/test/busybox/blobs/$layer range=- ")" 1 \
		"request from byte 0"
	assert_blob_file "$layer"
}

@test "cpull (killed mid-download) resumes in the next run" {
	local layer partial size
	layer=$(fixture_layer_digests busybox)
	partial=$CKIT_ROOT/content/ingest/${layer#sha256:}.partial
	fault_start slowblob
	"$CPULL" -q "$FAULT/test/busybox" 2>/dev/null &
	local pid=$!
	for _ in $(seq 50); do
		size=$(stat -c %s "$partial" 2>/dev/null || echo 0)
		((size > 200000)) && break
		sleep 0.1
	done
	kill -9 "$pid"
	wait "$pid" || true
	size=$(stat -c %s "$partial")
	((size > 0))
	fault_stop
	fault_start none
	run_tool 0 cpull "$FAULT/test/busybox"
	assert_eq "$(fault_requests "^GET /v2/test/busybox/blobs/$layer range=bytes=$size- ")" 1 \
		"resumed request"
	assert_blob_file "$layer"
}

@test "cpull (three downloads at once) overlaps them" {
	fault_start slowblob
	run_tool 0 cpull --max-concurrent-downloads 3 "$FAULT/test/layers"
	local times first third
	times=$(grep -E '^GET /v2/test/layers/blobs/' "$FAULT_LOG" |
		sed 's/.* t=//' | sort -n)
	first=$(sed -n 1p <<<"$times")
	third=$(sed -n 3p <<<"$times")
	# Serial downloads would start each 0.1 s or more after the last
	# piece of the one before.
	((third - first < 100))
}

@test "cpull --max-concurrent-downloads 1 fetches one at a time" {
	fault_start slowblob
	run_tool 0 cpull --max-concurrent-downloads 1 "$FAULT/test/layers"
	local times first second
	times=$(grep -E '^GET /v2/test/layers/blobs/' "$FAULT_LOG" |
		sed 's/.* t=//' | sort -n)
	first=$(sed -n 1p <<<"$times")
	second=$(sed -n 2p <<<"$times")
	((second - first >= 100))
}

@test "cpull (foreign layer missing) names the option" {
	fault_start foreign
	run_tool 1 cpull "$FAULT/test/busybox:foreign"
	assert_contains "$stderr" "non-distributable layer 'sha256:$(printf 'f%.0s' {1..64})'" \
		"stderr"
	assert_contains "$stderr" "--skip-nondistributable" "stderr"
	assert_eq "$(store_blob_count)" 0 "blob count"
}

@test "cpull --skip-nondistributable skips the layer" {
	fault_start foreign
	run_tool 0 cpull --skip-nondistributable "$FAULT/test/busybox:foreign"
	assert_contains "$stderr" "warning: skipping non-distributable layer" "stderr"
	assert_eq "$(store_blob_count)" 3 "blob count"
	assert_file_not_exists "$CKIT_ROOT/content/blobs/sha256/$(printf 'f%.0s' {1..64})" \
		"foreign layer"
}
