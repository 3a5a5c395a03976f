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
