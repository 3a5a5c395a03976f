#!/usr/bin/env bats
# SPDX-License-Identifier: Apache-2.0
# cpull against the suite registry on 127.0.0.1 and, for bearer tokens,
# redirects, schema 1, digest headers and stalls, against a small Python
# server of this file that sits in front of it.

load helpers

setup() {
	ckit_setup
	MOCK_PID=
}

teardown() {
	if [[ -n $MOCK_PID ]]; then
		kill "$MOCK_PID" 2>/dev/null || true
		wait "$MOCK_PID" 2>/dev/null || true
	fi
	ckit_teardown
}

# Print the sha256 digest of the manifest REPO:TAG as skopeo reads it.
registry_digest() {
	skopeo inspect --raw --tls-verify=false "docker://$REGISTRY/$1" |
		sha256sum | sed 's/^\([0-9a-f]*\).*/sha256:\1/'
}

# Print the image record called NAME in namespace NS (default) as JSON.
record_of() {
	jq -c --arg n "$1" '.manifests[] |
		select(.annotations["org.opencontainers.image.ref.name"] == $n)' \
		"$CKIT_ROOT/namespaces/${2:-default}/index.json"
}

record_count() {
	jq '.manifests | length' "$CKIT_ROOT/namespaces/${1:-default}/index.json"
}

# Print how many GETs of blobs of REPO the suite registry has logged.
blob_gets() {
	grep -c "\"GET /v2/$1/blobs/" "$CKIT_TEST_REGISTRY_LOG" || true
}

assert_blob() {
	assert_file_exists "$CKIT_ROOT/content/blobs/sha256/${1#sha256:}" \
		"blob $1"
}

# Start the mock registry with the MODES given (comma-separated: auth,
# redirect, schema1, baddigest, stall) in front of $REGISTRY. Sets
# MOCK (127.0.0.1:port), MOCK_PID and MOCK_LOG, one line per request.
start_mock() {
	local modes=$1 attempt

	write_mock "$BATS_TEST_TMPDIR/mock.py"
	MOCK_LOG=$BATS_TEST_TMPDIR/mock.log
	python3 "$BATS_TEST_TMPDIR/mock.py" "$BATS_TEST_TMPDIR/mock.port" \
		"$REGISTRY" "$modes" "$MOCK_LOG" \
		>"$BATS_TEST_TMPDIR/mock.err" 2>&1 </dev/null 3>&- &
	MOCK_PID=$!
	for ((attempt = 0; attempt < 100; attempt++)); do
		if [[ -s $BATS_TEST_TMPDIR/mock.port ]]; then
			MOCK=127.0.0.1:$(<"$BATS_TEST_TMPDIR/mock.port")
			return 0
		fi
		sleep 0.1
	done
	cat "$BATS_TEST_TMPDIR/mock.err" >&2
	return 1
}

write_mock() {
	cat >"$1" <<-'EOF'
	import json, os, sys, time, urllib.error, urllib.parse, urllib.request
	from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

	PORT_FILE, UPSTREAM, MODES, LOG = sys.argv[1:5]
	MODES = set(MODES.split(","))
	TOKEN = "ckit-test-token"
	SERVICE = 'ckit test, "mock"'
	SCHEMA1 = json.dumps({"schemaVersion": 1, "name": "test/busybox",
			      "tag": "old", "architecture": "amd64",
			      "fsLayers": [], "history": []}).encode()

	class Handler(BaseHTTPRequestHandler):
	    protocol_version = "HTTP/1.1"

	    def log_message(self, fmt, *args):
	        pass

	    def record(self):
	        auth = self.headers.get("Authorization")
	        with open(LOG, "a") as f:
	            f.write("%s host=%s auth=%s\n" % (
	                self.path, self.headers.get("Host"),
	                "yes" if auth else "no"))

	    def send(self, status, body=b"", headers=()):
	        self.send_response(status)
	        for k, v in headers:
	            self.send_header(k, v)
	        self.send_header("Content-Length", str(len(body)))
	        self.end_headers()
	        self.wfile.write(body)

	    def upstream(self, path):
	        req = urllib.request.Request("http://" + UPSTREAM + path)
	        if self.headers.get("Accept"):
	            req.add_header("Accept", self.headers["Accept"])
	        try:
	            with urllib.request.urlopen(req, timeout=10) as r:
	                return r.status, dict(r.headers), r.read()
	        except urllib.error.HTTPError as e:
	            return e.code, dict(e.headers), e.read()

	    def proxy(self, path):
	        status, hdrs, body = self.upstream(path)
	        out = [(k, hdrs[k]) for k in ("Content-Type",
	               "Docker-Content-Digest") if k in hdrs]
	        if "baddigest" in MODES and "/manifests/" in path:
	            out = [(k, "sha256:" + "0" * 64 if k ==
	                    "Docker-Content-Digest" else v) for k, v in out]
	        self.send(status, body, out)

	    def challenge(self):
	        port = self.server.server_address[1]
	        realm = "http://127.0.0.1:%d/token?kind=anonymous" % port
	        self.send_response(401)
	        self.send_header("WWW-Authenticate", 'Basic realm="mock, basic"')
	        self.send_header("WWW-Authenticate",
	                         'Bearer realm="%s",service="ckit test, '
	                         '\\"mock\\"", scope="repository:test/busybox:pull",'
	                         'error="invalid_token"' % realm)
	        self.send_header("Content-Length", "0")
	        self.end_headers()

	    # One header: an unquoted realm, a lower-case scheme, an escaped
	    # quote and a Basic challenge first whose realm contains commas.
	    def challenge_alt(self):
	        port = self.server.server_address[1]
	        self.send_response(401)
	        self.send_header("WWW-Authenticate",
	                         'Basic realm="a, b=c", bearer '
	                         'scope="repository:test/busybox:pull", '
	                         'realm=http://127.0.0.1:%d/token?kind=anonymous ,'
	                         'service="ckit test, \\"mock\\""' % port)
	        self.send_header("Content-Length", "0")
	        self.end_headers()

	    def token(self, query):
	        q = urllib.parse.parse_qs(query)
	        if (q.get("kind") != ["anonymous"] or q.get("service") !=
	                [SERVICE] or q.get("scope") !=
	                ["repository:test/busybox:pull"]):
	            return self.send(400, b"bad token request")
	        key = "access_token" if "authalt" in MODES else "token"
	        self.send(200, json.dumps({key: TOKEN}).encode(),
	                  [("Content-Type", "application/json")])

	    def stall(self, path):
	        status, hdrs, body = self.upstream(path)
	        self.send_response(200)
	        self.send_header("Content-Length", str(len(body)))
	        self.end_headers()
	        self.wfile.write(body[:100])
	        self.wfile.flush()
	        time.sleep(20)

	    def do_GET(self):
	        self.record()
	        url = urllib.parse.urlsplit(self.path)
	        path = url.path
	        if path == "/token":
	            return self.token(url.query)
	        if path.startswith("/storage/"):
	            return self.proxy("/v2/" + path[len("/storage/"):])
	        authorized = self.headers.get("Authorization") == "Bearer " + TOKEN
	        if "auth" in MODES and not authorized:
	            return self.challenge()
	        if "authalt" in MODES and not authorized:
	            return self.challenge_alt()
	        if "schema1" in MODES and "/manifests/" in path:
	            mt = "application/vnd.docker.distribution.manifest.v1+prettyjws"
	            return self.send(200, SCHEMA1, [("Content-Type", mt)])
	        if "/blobs/" in path and "redirect" in MODES:
	            port = self.server.server_address[1]
	            loc = "http://localhost:%d/storage/%s?sig=secret" % (
	                port, path[len("/v2/"):])
	            return self.send(307, b"", [("Location", loc)])
	        if "/blobs/" in path and "stall" in MODES:
	            return self.stall(path)
	        self.proxy(path)

	server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
	server.daemon_threads = True
	with open(PORT_FILE + ".tmp", "w") as f:
	    f.write(str(server.server_address[1]))
	os.rename(PORT_FILE + ".tmp", PORT_FILE)
	server.serve_forever()
	EOF
}

@test "cpull --help (stdout) exits 0" {
	run_tool 0 cpull --help
	assert_contains "$output" "usage: cpull" "help"
	assert_contains "$output" "Exit status: 0 pulled, 1 failed, 2 usage" "help"
	assert_contains "$output" "--all-platforms" "help"
	assert_contains "$output" "[--platform <platform>]..." "help"
	assert_eq "$stderr" "" "stderr"
}

@test "cpull --bogus (bad option) exits 2" {
	run_tool 2 cpull --bogus "$REGISTRY/test/busybox"
	assert_eq "$output" "" "stdout"
	assert_contains "$stderr" "cpull: unknown option '--bogus'" "stderr"
	assert_contains "$stderr" "Try 'cpull --help'." "stderr"
}

@test "cpull (no reference) exits 2" {
	run_tool 2 cpull
	assert_contains "$stderr" "cpull: missing image reference" "stderr"
}

@test "cpull --root (missing argument) exits 2" {
	run_tool 2 cpull --root
	assert_contains "$stderr" "cpull: missing argument for option '--root'" \
		"stderr"
}

@test "cpull (two references) exits 2" {
	run_tool 2 cpull "$REGISTRY/test/busybox" "$REGISTRY/test/user"
	assert_contains "$stderr" "unexpected argument" "stderr"
}

# A malformed reference is a bad operand value, not misuse: exit 1.
@test "cpull (malformed reference) exits 1" {
	run_tool 1 cpull "$REGISTRY/Test/BusyBox"
	assert_contains "$stderr" "cpull: invalid reference '$REGISTRY/Test/BusyBox'" \
		"stderr"
	run_tool 1 cpull "$REGISTRY/test/busybox@sha256:abc"
	assert_contains "$stderr" "invalid digest 'sha256:abc'" "stderr"
	assert_eq "$(store_blob_count)" 0 "blob count"
}

@test "cpull (OCI image) prints name and digest" {
	requires skopeo
	local digest

	digest=$(registry_digest test/busybox:latest)
	run_tool 0 cpull "$REGISTRY/test/busybox"
	assert_eq "$output" "$REGISTRY/test/busybox:latest@$digest" "stdout"
	assert_eq "$digest" "$(fixture_digest busybox)" "digest"
}

@test "cpull (OCI image) stores blobs and record" {
	local name=$REGISTRY/test/busybox:latest digest record

	run_tool 0 cpull "$REGISTRY/test/busybox"
	for digest in $(fixture_manifest_digest busybox) \
		$(fixture_config_digest busybox) $(fixture_layer_digests busybox); do
		assert_blob "$digest"
	done
	assert_eq "$(store_blob_count)" 3 "blob count"
	record=$(record_of "$name")
	assert_eq "$(jq -r .digest <<<"$record")" \
		"$(fixture_manifest_digest busybox)" "record digest"
	assert_eq "$(jq -r .mediaType <<<"$record")" \
		application/vnd.oci.image.manifest.v1+json "record media type"
	assert_eq "$(jq -r '.platform | "\(.os)/\(.architecture)"' <<<"$record")" \
		linux/amd64 "record platform"
	assert_eq "$(jq -r '.annotations["io.ckit.image.target.digest"]' <<<"$record")" \
		"$(fixture_digest busybox)" "record target digest"
	assert_eq "$(find "$CKIT_ROOT/content/ingest" -type f | wc -l)" 0 \
		"files left in ingest"
}

@test "cpull (Docker schema 2) prints digest" {
	requires skopeo
	local digest record

	digest=$(registry_digest test/busybox:docker)
	run_tool 0 cpull "$REGISTRY/test/busybox:docker"
	assert_eq "$output" "$REGISTRY/test/busybox:docker@$digest" "stdout"
	assert_blob "$digest"
	record=$(record_of "$REGISTRY/test/busybox:docker")
	assert_eq "$(jq -r .mediaType <<<"$record")" \
		application/vnd.docker.distribution.manifest.v2+json \
		"record media type"
	assert_eq "$(jq -r .digest <<<"$record")" "$digest" "record digest"
	assert_eq "$(store_blob_count)" 3 "blob count"
}

@test "cpull (by digest) prints the name once" {
	local digest

	digest=$(fixture_digest busybox)
	run_tool 0 cpull "$REGISTRY/test/busybox@$digest"
	assert_eq "$output" "$REGISTRY/test/busybox@$digest" "stdout"
	assert_eq "$(jq -r .digest <<<"$(record_of "$REGISTRY/test/busybox@$digest")")" \
		"$digest" "record digest"
}

@test "cpull (unknown digest) fails not found" {
	local digest=sha256:$(printf '%064d' 0)

	run_tool 1 cpull "$REGISTRY/test/busybox@$digest"
	assert_contains "$stderr" "manifest '$digest'" "stderr"
	assert_contains "$stderr" "not found at registry '$REGISTRY'" "stderr"
}

@test "cpull then skopeo (oci: namespace) reads it" {
	requires skopeo
	local name=$REGISTRY/test/busybox:latest layer

	run_tool 0 cpull "$REGISTRY/test/busybox"
	run -0 skopeo copy \
		"oci:$CKIT_ROOT/namespaces/default:$name" \
		"dir:$BATS_TEST_TMPDIR/copy"
	for layer in $(fixture_layer_digests busybox); do
		cmp "$BATS_TEST_TMPDIR/copy/${layer#sha256:}" \
			"$(fixture_layout busybox)/blobs/sha256/${layer#sha256:}"
	done
	assert_eq "$(sha256sum <"$BATS_TEST_TMPDIR/copy/manifest.json" | cut -c1-64)" \
		"$(fixture_digest busybox | cut -c8-)" "manifest copied by skopeo"
}

@test "cpull (twice) fetches no blob again" {
	local before first

	run_tool 0 cpull "$REGISTRY/test/busybox"
	first=$output
	before=$(blob_gets test/busybox)
	CKIT_DEBUG=1 run_tool 0 cpull "$REGISTRY/test/busybox"
	assert_eq "$output" "$first" "stdout"
	assert_eq "$(blob_gets test/busybox)" "$before" "blob GETs in registry log"
	assert_not_contains "$stderr" "/blobs/" "debug output"
	assert_eq "$(store_blob_count)" 3 "blob count"
	assert_eq "$(record_count)" 1 "record count"
}

@test "cpull -n (second namespace) adds no blobs" {
	local before

	run_tool 0 cpull "$REGISTRY/test/busybox"
	before=$(blob_gets test/busybox)
	run_tool 0 cpull -n other "$REGISTRY/test/busybox"
	assert_eq "$(blob_gets test/busybox)" "$before" "blob GETs in registry log"
	assert_eq "$(store_blob_count)" 3 "blob count"
	assert_eq "$(jq -r .digest <<<"$(record_of "$REGISTRY/test/busybox:latest" other)")" \
		"$(fixture_manifest_digest busybox)" "record in namespace other"
	assert_eq "$(record_count default)" 1 "records in namespace default"
}

@test "cpull -n (invalid namespace) exits 1" {
	run_tool 1 cpull -n 'Bad/NS' "$REGISTRY/test/busybox"
	assert_contains "$stderr" "invalid namespace 'Bad/NS'" "stderr"
}

@test "cpull --json (local registry) prints digest" {
	local size=0 digest

	run_tool 0 cpull --json "$REGISTRY/test/busybox"
	for digest in $(fixture_manifest_digest busybox) \
		$(fixture_config_digest busybox) $(fixture_layer_digests busybox); do
		size=$((size + $(stat -c %s "$CKIT_ROOT/content/blobs/sha256/${digest#sha256:}")))
	done
	assert_eq "$(jq -r .name <<<"$output")" "$REGISTRY/test/busybox:latest" "name"
	assert_eq "$(jq -r .digest <<<"$output")" "$(fixture_digest busybox)" "digest"
	assert_eq "$(jq -r .manifest <<<"$output")" \
		"$(fixture_manifest_digest busybox)" "manifest"
	assert_eq "$(jq -r .platform <<<"$output")" linux/amd64 "platform"
	assert_eq "$(jq -r .size <<<"$output")" "$size" "size"
	assert_eq "$(wc -l <<<"$output")" 1 "lines"
}

@test "cpull (multiarch, host amd64) picks amd64" {
	[[ $(uname -m) == x86_64 ]] || skip "host is $(uname -m), not x86_64"
	local index

	index=$(fixture_digest multiarch)
	run_tool 0 cpull --json "$REGISTRY/test/multiarch"
	assert_eq "$(jq -r .digest <<<"$output")" "$index" "digest"
	assert_eq "$(jq -r .manifest <<<"$output")" \
		"$(fixture_manifest_digest multiarch)" "manifest"
	assert_eq "$(jq -r .platform <<<"$output")" linux/amd64 "platform"
	assert_blob "$index"
	assert_eq "$(store_blob_count)" \
		"$(($(fixture_layer_digests multiarch | sort -u | wc -l) + 3))" \
		"blob count (index, manifest, config and layers)"
}

@test "cpull (CKIT_PLATFORM=linux/arm/v7) picks arm" {
	local want

	want=$(fixture_blob multiarch "$(fixture_digest multiarch)" | jq -r \
		'.manifests[] | select(.platform.architecture == "arm") | .digest')
	CKIT_PLATFORM=linux/arm/v7 run_tool 0 cpull --json "$REGISTRY/test/multiarch"
	assert_eq "$(jq -r .manifest <<<"$output")" "$want" "manifest"
	assert_eq "$(jq -r .platform <<<"$output")" linux/arm/v7 "platform"
}

@test "cpull --platform linux/arm64 picks arm64" {
	local want record

	want=$(fixture_blob multiarch "$(fixture_digest multiarch)" | jq -r \
		'.manifests[] | select(.platform.architecture == "arm64") | .digest')
	run_tool 0 cpull --json --platform linux/arm64 "$REGISTRY/test/multiarch"
	assert_eq "$(jq -r .manifest <<<"$output")" "$want" "manifest"
	assert_eq "$(jq -r .platform <<<"$output")" linux/arm64/v8 "platform"
	record=$(record_of "$REGISTRY/test/multiarch:latest")
	assert_eq "$(jq -r .digest <<<"$record")" "$want" "record digest"
	assert_eq "$(jq -r .platform.architecture <<<"$record")" arm64 \
		"record architecture"
	assert_blob "$want"
}

@test "cpull --platform (invalid) exits 1" {
	run_tool 1 cpull --platform 'linux//' "$REGISTRY/test/multiarch"
	assert_contains "$stderr" "invalid platform 'linux//'" "stderr"
}

@test "cpull (otherarch) lists platforms, keeps none" {
	run_tool 1 cpull --platform linux/amd64 "$REGISTRY/test/otherarch"
	assert_eq "$output" "" "stdout"
	assert_eq "$stderr" "cpull: image '$REGISTRY/test/otherarch:latest': no manifest for platform 'linux/amd64'; the index offers linux/arm64, linux/s390x; choose one with --platform" \
		"stderr"
	assert_eq "$(store_blob_count)" 0 "blob count"
	assert_eq "$(record_count)" 0 "record count"
}

@test "cpull (missing tag) fails not found" {
	run_tool 1 cpull "$REGISTRY/test/busybox:nope"
	assert_contains "$stderr" "cpull: tag 'nope' of repository 'test/busybox' not found at registry '$REGISTRY'" \
		"stderr"
	assert_eq "$(record_count)" 0 "record count"
}

@test "cpull (missing repository) fails not found" {
	run_tool 1 cpull "$REGISTRY/test/no-such-repo"
	assert_contains "$stderr" "not found at registry '$REGISTRY'" "stderr"
}

@test "cpull (unknown host) fails to resolve" {
	run_tool 1 cpull ckit-test.invalid/test/busybox
	assert_contains "$stderr" "could not resolve host 'ckit-test.invalid'" \
		"stderr"
	assert_eq "$(store_blob_count)" 0 "blob count"
}

@test "cpull (closed port) fails to connect" {
	run_tool 1 cpull 127.0.0.1:1/test/busybox
	assert_contains "$stderr" "could not connect to '127.0.0.1:1'" "stderr"
}

@test "cpull (corrupt layer) names both digests" {
	local layer

	layer=$(fixture_layer_digests corrupt)
	run_tool 1 cpull "$REGISTRY/test/corrupt"
	assert_contains "$stderr" "blob '$layer' failed verification" "stderr"
	assert_contains "$stderr" "hashes to 'sha256:" "stderr"
	assert_eq "$(store_blob_count)" 0 "blob count"
	assert_eq "$(record_count)" 0 "record count"
	assert_eq "$(find "$CKIT_ROOT/content/ingest" -name '*.partial' | wc -l)" \
		0 "partial files"
}

@test "cpull (truncated layer) fails, keeps none" {
	local layer

	layer=$(fixture_layer_digests truncated)
	run_tool 1 cpull "$REGISTRY/test/truncated"
	assert_contains "$stderr" "blob '$layer' is truncated" "stderr"
	assert_eq "$(store_blob_count)" 0 "blob count"
	assert_eq "$(record_count)" 0 "record count"
}

@test "cpull (after a failed pull) reuses staged blobs" {
	local before

	run_tool 1 cpull "$REGISTRY/test/corrupt"
	before=$(blob_gets test/corrupt)
	assert_file_exists "$CKIT_ROOT/content/ingest/$(fixture_config_digest corrupt | cut -c8-).staged" \
		"staged config"
	run_tool 1 cpull "$REGISTRY/test/corrupt"
	# Only the damaged layer is fetched again; the config stayed staged.
	assert_eq "$(blob_gets test/corrupt)" "$((before + 1))" \
		"blob GETs in registry log"
	assert_eq "$(store_blob_count)" 0 "blob count"
}

@test "cpull (multi-layer image) stores all layers" {
	local digest

	run_tool 0 cpull "$REGISTRY/test/layers"
	for digest in $(fixture_layer_digests layers); do
		assert_blob "$digest"
	done
	assert_eq "$(store_blob_count)" \
		"$(($(fixture_layer_digests layers | sort -u | wc -l) + 2))" \
		"blob count"
}

@test "cpull (two at once) both succeed" {
	local dir=$BATS_TEST_TMPDIR pid1 pid2 status1=0 status2=0

	"$CPULL" "$REGISTRY/test/layers" >"$dir/out1" 2>"$dir/err1" &
	pid1=$!
	"$CPULL" "$REGISTRY/test/layers" >"$dir/out2" 2>"$dir/err2" &
	pid2=$!
	wait "$pid1" || status1=$?
	wait "$pid2" || status2=$?
	cat "$dir/err1" "$dir/err2"
	assert_eq "$status1" 0 "status of the first cpull"
	assert_eq "$status2" 0 "status of the second cpull"
	assert_eq "$(<"$dir/out1")" "$(<"$dir/out2")" "stdout"
	assert_eq "$(<"$dir/out1")" \
		"$REGISTRY/test/layers:latest@$(fixture_digest layers)" "stdout"
	assert_eq "$(record_count)" 1 "record count"
	assert_eq "$(find "$CKIT_ROOT/content/ingest" -type f | wc -l)" 0 \
		"files left in ingest"
}

@test "cpull (stderr a pipe) prints no progress" {
	run_tool 0 cpull "$REGISTRY/test/busybox"
	assert_eq "$stderr" "" "stderr"
}

@test "cpull (stderr a terminal) draws progress" {
	command -v script >/dev/null || skip "requires script (util-linux)"

	run -0 script -qec "'$CPULL' '$REGISTRY/test/busybox'" /dev/null
	assert_contains "$output" "layer 1/1" "terminal output"
	assert_contains "$output" "done" "terminal output"
	run -0 script -qec "'$CPULL' -q '$REGISTRY/test/user'" /dev/null
	assert_not_contains "$output" "layer 1/" "terminal output with -q"
}

@test "cpull -v (info) logs each blob" {
	run_tool 0 cpull -v "$REGISTRY/test/busybox"
	assert_contains "$stderr" "cpull: info: resolved '$REGISTRY/test/busybox:latest'" \
		"stderr"
	assert_contains "$stderr" "fetched layer 1/1" "stderr"
}

@test "cpull (bearer token) authenticates" {
	start_mock auth
	run_tool 0 cpull "$MOCK/test/busybox"
	assert_eq "$output" "$MOCK/test/busybox:latest@$(fixture_digest busybox)" \
		"stdout"
	assert_contains "$(<"$MOCK_LOG")" "/token?kind=anonymous&service=" \
		"mock log"
	assert_eq "$(grep -c '^/token' "$MOCK_LOG")" 1 "token requests"
	assert_not_contains "$(grep '/blobs/' "$MOCK_LOG")" "auth=no" \
		"blob requests without a token"
}

@test "cpull (other challenge shape) authenticates" {
	start_mock authalt
	run_tool 0 cpull "$MOCK/test/busybox"
	assert_eq "$output" "$MOCK/test/busybox:latest@$(fixture_digest busybox)" \
		"stdout"
	assert_eq "$(grep -c '^/token' "$MOCK_LOG")" 1 "token requests"
}

@test "cpull (blob redirect) sends no token" {
	start_mock auth,redirect
	run_tool 0 cpull "$MOCK/test/busybox"
	assert_eq "$(store_blob_count)" 3 "blob count"
	assert_contains "$(<"$MOCK_LOG")" "/storage/test/busybox/blobs/" "mock log"
	assert_eq "$(grep '^/storage/' "$MOCK_LOG" | grep -c 'auth=yes')" 0 \
		"storage requests with a token"
	assert_contains "$(grep '^/storage/' "$MOCK_LOG")" "host=localhost:" \
		"storage host"
}

@test "cpull (schema 1 manifest) is rejected" {
	start_mock schema1
	run_tool 1 cpull "$MOCK/test/busybox:old"
	assert_contains "$stderr" "Docker schema 1 manifest, which is not supported" \
		"stderr"
	assert_eq "$(store_blob_count)" 0 "blob count"
}

@test "cpull (wrong Docker-Content-Digest) fails" {
	start_mock baddigest
	run_tool 1 cpull "$MOCK/test/busybox"
	assert_contains "$stderr" "Docker-Content-Digest 'sha256:$(printf '%064d' 0)'" \
		"stderr"
	assert_contains "$stderr" "hashes to '$(fixture_digest busybox)'" "stderr"
	assert_eq "$(store_blob_count)" 0 "blob count"
}

@test "cpull (stalled transfer) times out" {
	start_mock stall
	SECONDS=0
	CKIT_STALL_TIMEOUT=1 run_tool 1 cpull "$MOCK/test/busybox"
	assert_contains "$stderr" "timed out" "stderr"
	((SECONDS < 15))
	assert_eq "$(store_blob_count)" 0 "blob count"
	assert_eq "$(record_count)" 0 "record count"
}

@test "cpull (invalid CKIT_STALL_TIMEOUT) exits 1" {
	CKIT_STALL_TIMEOUT=soon run_tool 1 cpull "$REGISTRY/test/busybox"
	assert_contains "$stderr" "invalid CKIT_STALL_TIMEOUT 'soon'" "stderr"
}

# Runs servers on 192.0.2.1 (TEST-NET-1) inside a network namespace of the
# test, one with TLS and one without, each answering 404 to every GET.
@test "cpull (host not loopback) uses HTTPS" {
	requires root
	command -v unshare >/dev/null || skip "requires unshare (util-linux)"
	command -v openssl >/dev/null || skip "requires openssl"
	local dir=$BATS_TEST_TMPDIR

	openssl req -x509 -newkey rsa:2048 -nodes -days 1 -subj /CN=192.0.2.1 \
		-keyout "$dir/key.pem" -out "$dir/cert.pem" 2>/dev/null
	cat >"$dir/serve.py" <<-'PY'
	import os, ssl, sys
	from http.server import BaseHTTPRequestHandler, HTTPServer

	class Handler(BaseHTTPRequestHandler):
	    def do_GET(self):
	        self.send_response(404)
	        self.send_header("Content-Length", "0")
	        self.end_headers()

	    def log_message(self, fmt, *args):
	        pass

	server = HTTPServer(("192.0.2.1", int(sys.argv[1])), Handler)
	if len(sys.argv) > 3:
	    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
	    ctx.load_cert_chain(sys.argv[3], sys.argv[4])
	    server.socket = ctx.wrap_socket(server.socket, server_side=True)
	open(sys.argv[2], "w").close()
	server.serve_forever()
	PY
	cat >"$dir/netns.sh" <<-'SH'
	set -u
	dir=$1 cpull=$2
	ip link set lo up
	ip addr add 192.0.2.1/32 dev lo
	python3 "$dir/serve.py" 8443 "$dir/tls.ready" "$dir/cert.pem" "$dir/key.pem" &
	tls=$!
	python3 "$dir/serve.py" 8080 "$dir/plain.ready" &
	plain=$!
	for _ in $(seq 100); do
		[ -e "$dir/tls.ready" ] && [ -e "$dir/plain.ready" ] && break
		sleep 0.1
	done
	"$cpull" 192.0.2.1:8443/test/busybox 2>"$dir/tls.err"
	echo "tls $?"
	"$cpull" 192.0.2.1:8080/test/busybox 2>"$dir/plain.err"
	echo "plain $?"
	"$cpull" --plain-http 192.0.2.1:8080/test/busybox 2>"$dir/flag.err"
	echo "flag $?"
	kill "$tls" "$plain"
	wait
	SH
	run -0 unshare -n bash "$dir/netns.sh" "$dir" "$CPULL"
	assert_eq "$output" "$(printf 'tls 1\nplain 1\nflag 1')" "exit statuses"
	assert_contains "$(<"$dir/tls.err")" \
		"TLS certificate of '192.0.2.1:8443' is not trusted" "HTTPS to TLS"
	assert_contains "$(<"$dir/plain.err")" \
		"TLS connection to '192.0.2.1:8080' failed" "HTTPS to plain HTTP"
	assert_contains "$(<"$dir/flag.err")" \
		"not found at registry '192.0.2.1:8080'" "--plain-http"
}

@test "cpull (localhost name) uses plain HTTP" {
	run_tool 0 cpull "localhost:${REGISTRY##*:}/test/busybox"
	assert_eq "$output" \
		"localhost:${REGISTRY##*:}/test/busybox:latest@$(fixture_digest busybox)" \
		"stdout"
}

@test "cpull --max-concurrent-downloads (invalid) exits 2" {
	local bad
	for bad in 0 33 x 2x; do
		run_tool 2 cpull --max-concurrent-downloads "$bad" "$REGISTRY/test/busybox"
		assert_contains "$stderr" "invalid --max-concurrent-downloads '$bad'" \
			"stderr for $bad"
	done
}

@test "cpull (stderr a terminal) shows rate and state" {
	command -v script >/dev/null || skip "requires script (util-linux)"

	run -0 script -qec "'$CPULL' '$REGISTRY/test/layers'" /dev/null
	assert_contains "$output" "config" "terminal output"
	assert_contains "$output" "layer 3/" "terminal output"
	assert_contains "$output" "/s " "terminal output (rate)"
	run -0 script -qec "'$CPULL' '$REGISTRY/test/layers'" /dev/null
	assert_contains "$output" "exists" "terminal output of a second pull"
}

@test "cpull (Debian image) stays under 32 MiB" {
	local peak
	fixture_debian
	run -0 /usr/bin/time -f %M -o "$BATS_TEST_TMPDIR/peak" \
		"$CPULL" -q "$REGISTRY/test/debian:bookworm"
	peak=$(tail -n 1 "$BATS_TEST_TMPDIR/peak")
	echo "# peak RSS: $peak KiB"
	((peak < 32 * 1024))
}

@test "cpull (two processes, Debian image) store one copy" {
	local layer out1 out2 before
	fixture_debian
	layer=$(fixture_layer_digests debian)
	before=$(grep -c "\"GET /v2/test/debian/blobs/$layer" "$CKIT_TEST_REGISTRY_LOG" || true)
	"$CPULL" -q "$REGISTRY/test/debian:bookworm" >"$BATS_TEST_TMPDIR/1.out" 2>&1 &
	local pid1=$!
	"$CPULL" -q -n other "$REGISTRY/test/debian:bookworm" >"$BATS_TEST_TMPDIR/2.out" 2>&1 &
	local pid2=$!
	wait "$pid1"
	wait "$pid2"
	out1=$(<"$BATS_TEST_TMPDIR/1.out")
	out2=$(<"$BATS_TEST_TMPDIR/2.out")
	assert_eq "$out1" "$REGISTRY/test/debian:bookworm@$(fixture_digest debian)" \
		"first output"
	assert_eq "$out2" "$out1" "second output"
	assert_eq "$(store_blob_count)" 3 "blob count"
	# One process fetched the layer; the other waited for its lock and
	# found it staged.
	assert_eq "$(grep -c "\"GET /v2/test/debian/blobs/$layer" "$CKIT_TEST_REGISTRY_LOG")" \
		"$((before + 1))" "GETs of the layer"
	assert_eq "$(find "$CKIT_ROOT/content/ingest" -name "${layer#sha256:}*" | wc -l)" \
		0 "ingest files of the layer"
}

# put_blob REPO FILE: upload FILE as a blob with curl; prints its digest.
put_blob() {
	local repo=$1 file=$2 digest loc
	digest=sha256:$(sha256sum <"$file" | cut -c1-64)
	loc=$(curl -fsS -X POST -D - -o /dev/null "http://$REGISTRY/v2/$repo/blobs/uploads/" |
		tr -d '\r' | sed -n 's/^[Ll]ocation: //p')
	[[ $loc == http* ]] || loc=http://$REGISTRY$loc
	curl -fsS -X PUT --data-binary "@$file" -H 'Content-Type: application/octet-stream' \
		"$loc$([[ $loc == *\?* ]] && echo '&' || echo '?')digest=$digest" >/dev/null
	echo "$digest"
}

# put_manifest REPO TAG FILE: upload FILE as an OCI manifest with curl.
put_manifest() {
	curl -fsS -X PUT --data-binary "@$3" \
		-H 'Content-Type: application/vnd.oci.image.manifest.v1+json' \
		"http://$REGISTRY/v2/$1/manifests/$2" >/dev/null
}

@test "cpull (stored blob, manifest with another size) fails" {
	run_tool 0 cpull "$REGISTRY/test/busybox:latest"
	local m=$BATS_TEST_TMPDIR/m.json
	fixture_blob busybox "$(fixture_manifest_digest busybox)" |
		jq -c '.layers[0].size += 1000' >"$m"
	put_manifest test/busybox badsize "$m"
	run_tool 1 cpull "$REGISTRY/test/busybox:badsize"
	assert_contains "$stderr" "the manifest says" "message"
	run_tool 1 cunpack "$REGISTRY/test/busybox:badsize"
}

@test "cpull (one layer listed twice) stores it once" {
	local m=$BATS_TEST_TMPDIR/m.json
	fixture_blob busybox "$(fixture_manifest_digest busybox)" |
		jq -c '.layers = [.layers[0], .layers[0], .layers[0]]' >"$m"
	put_manifest test/busybox thrice "$m"
	run_tool 0 cpull -q --max-concurrent-downloads 3 "$REGISTRY/test/busybox:thrice"
	assert_eq "$(store_blob_count)" 3 "blobs: manifest, config, layer"
	assert_blob_file "$(fixture_layer_digests busybox)"
	run find "$CKIT_ROOT/content/ingest" -type f
	assert_eq "$output" "" "files left in the ingest"
}

@test "cpull (fsync of a blob fails) fails, rerun completes" {
	requires strace
	# The first fsync stages the manifest; every later one fails.
	run strace -f -o /dev/null -e trace=fsync -e inject=fsync:error=EIO:when=2+ \
		"$CPULL" -q "$REGISTRY/test/busybox:latest"
	assert_eq "$status" 1 "status: $output"
	assert_contains "$output" "Input/output error" "message"
	assert_eq "$(store_blob_count)" 0 "blobs"
	run find "$CKIT_ROOT/content/ingest" -name '*.partial'
	assert_eq "$output" "" "partial files"
	run_tool 0 cpull -q "$REGISTRY/test/busybox:latest"
	assert_eq "$(store_blob_count)" 3 "blobs after the rerun"
}

@test "cpull (slow fsync, 120 layers, 44 descriptors) succeeds" {
	requires strace skopeo
	local layout=$BATS_TEST_TMPDIR/deep
	mkdir -p "$BATS_TEST_TMPDIR/host"
	"$FIXTURES/mklayers" deep "$layout" "$BATS_TEST_TMPDIR/host"
	skopeo copy -q --dest-tls-verify=false "oci:$layout:latest" \
		"docker://$REGISTRY/test/case-deep:latest"
	# Verified blobs wait for a slow fsync, each with its descriptor; the
	# queue of them must stay within the descriptor limit.
	run strace -f -o /dev/null -e trace=fsync -e inject=fsync:delay_exit=20000 \
		bash -c 'ulimit -n 44 && exec "$1" -q --max-concurrent-downloads 8 "$2"' \
		- "$CPULL" "$REGISTRY/test/case-deep:latest"
	assert_eq "$status" 0 "status: $output"
	assert_eq "$(store_blob_count)" 122 "blobs: 120 layers, config, manifest"
}

@test "cpull (config not JSON) fails and records nothing" {
	local m=$BATS_TEST_TMPDIR/m.json cfg=$BATS_TEST_TMPDIR/cfg d
	printf 'this is not json' >"$cfg"
	d=$(put_blob test/busybox "$cfg")
	fixture_blob busybox "$(fixture_manifest_digest busybox)" |
		jq -c --arg d "$d" --argjson s "$(stat -c %s "$cfg")" \
			'.config.digest = $d | .config.size = $s' >"$m"
	put_manifest test/busybox badcfg "$m"
	run_tool 1 cpull "$REGISTRY/test/busybox:badcfg"
	assert_contains "$stderr" "invalid image config '$d'" "message"
	assert_eq "$(store_blob_count)" 0 "blobs"
}

@test "cpull (store files left empty by a crash) writes them again" {
	run_tool 0 cpull -q "$REGISTRY/test/busybox:latest"
	: >"$CKIT_ROOT/namespaces/default/index.json"
	: >"$CKIT_ROOT/namespaces/default/oci-layout"
	: >"$CKIT_ROOT/content/oci-layout"
	run_tool 0 cpull -q "$REGISTRY/test/busybox:latest"
	run jq -r '.manifests | length' "$CKIT_ROOT/namespaces/default/index.json"
	assert_eq "$output" 1 "images in the index"
	run jq -r .imageLayoutVersion "$CKIT_ROOT/content/oci-layout" \
		"$CKIT_ROOT/namespaces/default/oci-layout"
	assert_eq "$output" $'1.0.0\n1.0.0' "layout versions"
}

@test "cpull (FIFO or dangling symlink as index.json) fails and keeps it" {
	local idx=$CKIT_ROOT/namespaces/default/index.json

	run_tool 0 cpull -q "$REGISTRY/test/busybox:latest"
	rm "$idx"
	mkfifo "$idx"
	run_tool 1 timeout 10 "$CPULL" -q "$REGISTRY/test/busybox:latest"
	assert_contains "$stderr" "'$idx' is a FIFO, not a regular file; remove it by hand"
	[[ -p $idx ]]
	rm "$idx"
	ln -s "$BATS_TEST_TMPDIR/missing" "$idx"
	run_tool 1 cunpack "$REGISTRY/test/busybox:latest"
	assert_contains "$stderr" "'$idx' is a symbolic link to a missing file; remove it by hand"
	[[ -L $idx ]]
	assert_file_not_exists "$BATS_TEST_TMPDIR/missing" "link target"
}

@test "cpull (filesystem without RENAME_NOREPLACE) creates the store" {
	requires strace
	run strace -f -o /dev/null -e inject=renameat2:error=EINVAL \
		"$CPULL" -q "$REGISTRY/test/busybox:latest"
	assert_eq "$status" 0 "status: $output"
	run jq -r '.manifests | length' "$CKIT_ROOT/namespaces/default/index.json"
	assert_eq "$output" 1 "images in the index"
	run jq -r .imageLayoutVersion "$CKIT_ROOT/content/oci-layout"
	assert_eq "$output" 1.0.0 "layout version"
}

@test "cpull (empty index.json, two at once) keeps both records" {
	requires strace
	run_tool 0 cpull -q "$REGISTRY/test/layers:latest"
	: >"$CKIT_ROOT/namespaces/default/index.json"
	# The first rename of this pull is the repair of index.json: hold it
	# back 2 s while a second pull writes its record.
	strace -f -o /dev/null -e inject=rename:delay_enter=2000000:when=1 \
		"$CPULL" -q "$REGISTRY/test/layers:latest" >/dev/null &
	local pid=$!
	sleep 0.5
	run_tool 0 cpull -q "$REGISTRY/test/busybox:latest"
	wait "$pid"
	run jq -r '.manifests[].annotations["io.containerd.image.name"]' \
		"$CKIT_ROOT/namespaces/default/index.json"
	assert_contains "$output" "test/busybox:latest" "records"
	assert_contains "$output" "test/layers:latest" "records"
}
