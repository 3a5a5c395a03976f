#!/usr/bin/env bats
# SPDX-License-Identifier: Apache-2.0
# ccontainer: container records, their snapshots and spec files, label
# filters, kills half-way through create and rm, and rm of a container
# whose task runs under runc.

load helpers
load store

CCONTAINER=${CCONTAINER:-$TOP/tools/ccontainer/ccontainer}

setup() {
	requires root overlay
	ckit_setup
	pull_fixture busybox
	IMG=$REGISTRY/test/busybox:latest
	CONTAINERS=$CKIT_ROOT/namespaces/default/containers
	RUNC_ROOT=$CKIT_STATE/runc/default
	RUNC_IDS=()
	PIDS=()
}

teardown() {
	local id pid

	for id in "${RUNC_IDS[@]}"; do
		runc --root "$RUNC_ROOT" delete --force "$id" >/dev/null 2>&1 || true
	done
	for pid in "${PIDS[@]}"; do
		kill -KILL "$pid" 2>/dev/null || true
	done
	ckit_teardown
}

# wait_for COMMAND...: poll for up to 10 s until COMMAND succeeds.
wait_for() {
	local i

	for ((i = 0; i < 200; i++)); do
		"$@" && return 0
		sleep 0.05
	done
	echo "wait_for: timed out waiting for: $*" >&2
	return 1
}

# assert_container ID [KEY]: the record, the spec file and the snapshot
# KEY (default default/ID) are all there.
assert_container() {
	local key=${2:-default/$1}

	assert_file_exists "$CONTAINERS/$1.json" "record of $1"
	assert_file_exists "$CONTAINERS/specs/$1.json" "spec of $1"
	assert_file_exists "$(snapshot_meta "$key")" "snapshot '$key'"
}

# assert_no_container ID [KEY]: nothing of container ID is left: no
# record, spec file, journal entry or snapshot KEY (default default/ID).
assert_no_container() {
	local key=${2:-default/$1}

	assert_file_not_exists "$CONTAINERS/$1.json" "record of $1"
	assert_file_not_exists "$CONTAINERS/specs/$1.json" "spec of $1"
	assert_file_not_exists "$CONTAINERS/journal/$1.json" "journal entry of $1"
	assert_file_not_exists "$(snapshot_meta "$key")" "snapshot '$key'"
}

# start_task ID [create]: start the container's stored spec with runc, as
# crun-task would, with `sleep 1000` as the command, on an overlay of the
# container's snapshot default/ID over the busybox layer. With "create",
# runc creates the task but does not start it. The bundle is the task
# state directory $CKIT_STATE/default/ID.
start_task() {
	local id=$1 bundle=$CKIT_STATE/default/$1 upper

	upper=$(snapshot_fs "default/$id")
	mkdir -p "$bundle/rootfs"
	mount -t overlay overlay -o "lowerdir=$(snapshot_fs "$(chain_id_of busybox)"),upperdir=$upper,workdir=${upper%/fs}/work" \
		"$bundle/rootfs"
	jq '.root = {path: "rootfs", readonly: false}
		| .process.terminal = false
		| .process.args = ["sleep", "1000"]' \
		"$CONTAINERS/specs/$id.json" >"$bundle/config.json"
	RUNC_IDS+=("$id")
	# runc's stdio goes to a file: a detached container keeps it open.
	if [[ ${2:-} == create ]]; then
		runc --root "$RUNC_ROOT" create --pid-file "$bundle/init.pid" \
			-b "$bundle" "$id" </dev/null >"$BATS_TEST_TMPDIR/runc.log" 2>&1
	else
		runc --root "$RUNC_ROOT" run -d --pid-file "$bundle/init.pid" \
			-b "$bundle" "$id" </dev/null >"$BATS_TEST_TMPDIR/runc.log" 2>&1
	fi || { cat "$BATS_TEST_TMPDIR/runc.log"; return 1; }
}

runc_status() {
	runc --root "$RUNC_ROOT" state "$1" 2>/dev/null | jq -r .status
}

@test "ccontainer --help prints usage on one screen" {
	run_tool 0 "$CCONTAINER" --help
	assert_contains "$output" "usage: ccontainer create"
	assert_contains "$output" "ccontainer rm [--keep-snapshot] <id>..."
	assert_contains "$output" "Exit status: 0 done, 1 failed, 2 usage error."
	assert_eq "$(wc -l <<<"$output")" 24 "help lines"
	assert_eq "$(awk 'length > 80' <<<"$output")" "" "help lines over 80 columns"
}

@test "ccontainer --bogus (bad option) exits 2" {
	run_tool 2 "$CCONTAINER" --bogus ls
	assert_contains "$stderr" "ccontainer: invalid option '--bogus'"
	assert_contains "$stderr" "Try 'ccontainer --help'."
	run_tool 2 "$CCONTAINER" create --bogus "$IMG" c1
	assert_contains "$stderr" "ccontainer: invalid option '--bogus'"
}

@test "ccontainer (no or unknown command) exits 2" {
	run_tool 2 "$CCONTAINER"
	assert_contains "$stderr" "ccontainer: missing command"
	run_tool 2 "$CCONTAINER" frob
	assert_contains "$stderr" "ccontainer: unknown command 'frob'"
	run_tool 2 "$CCONTAINER" create "$IMG"
	assert_contains "$stderr" "create needs an image and a container ID"
}

@test "ccontainer create writes record, spec and snapshot" {
	run_tool 0 "$CCONTAINER" create "$IMG" c1
	assert_eq "$output" "" "stdout"
	assert_container c1

	local rec=$CONTAINERS/c1.json spec=$CONTAINERS/specs/c1.json
	assert_eq "$(jq -r .id "$rec")" c1 "id"
	assert_eq "$(jq -r .image "$rec")" "$IMG" "image"
	assert_eq "$(jq -r .manifest_digest "$rec")" \
		"$(fixture_manifest_digest busybox)" "manifest digest"
	assert_eq "$(jq -r .snapshotter "$rec")" overlayfs "snapshotter"
	assert_eq "$(jq -r .snapshot_key "$rec")" default/c1 "snapshot key"
	assert_eq "$(jq -r .snapshot_kind "$rec")" active "snapshot kind"
	assert_eq "$(jq -r .runtime "$rec")" runc "runtime"
	assert_eq "$(jq -r '.created | test("^[0-9-]+T[0-9:]+Z$")' "$rec")" true "created"

	assert_eq "$(jq -r .linux.cgroupsPath "$spec")" /ckit/default/c1 "cgroup path"
	assert_eq "$(jq -r .hostname "$spec")" c1 "host name"
	assert_eq "$(jq -c .process.args "$spec")" '["sh"]' "args"
	assert_eq "$(jq -r .root.readonly "$spec")" false "root read-only"

	local meta
	meta=$(snapshot_meta default/c1)
	assert_eq "$(jq -r .kind "$meta")" active "snapshot record kind"
	assert_eq "$(jq -r .parent "$meta")" "$(chain_id_of busybox)" "snapshot parent"
}

@test "ccontainer create --image ID ARGS sets the command" {
	run_tool 0 "$CCONTAINER" create --runtime crun --image "$IMG" c2 echo hi
	assert_eq "$(jq -c .process.args "$CONTAINERS/specs/c2.json")" '["echo","hi"]' "args"
	assert_eq "$(jq -r .runtime "$CONTAINERS/c2.json")" crun "runtime"
}

@test "ccontainer create -e -u (spec options) reach the spec" {
	run_tool 0 "$CCONTAINER" create -e GREETING=hi -u 1000:1000 --hostname h "$IMG" c3
	local spec=$CONTAINERS/specs/c3.json
	assert_contains "$(jq -r '.process.env[]' "$spec")" "GREETING=hi" "env"
	assert_eq "$(jq -r .process.user.uid "$spec")" 1000 "uid"
	assert_eq "$(jq -r .hostname "$spec")" h "host name"
}

@test "ccontainer create (image not pulled) fails, leaves nothing" {
	run_tool 1 "$CCONTAINER" create "$REGISTRY/test/absent:latest" c1
	assert_contains "$stderr" "ccontainer: create container 'c1': image"
	assert_contains "$stderr" "not found"
	assert_no_container c1
}

@test "ccontainer create (bad IDs) exits 2" {
	local id
	for id in 'bad/id' '-x' '.hidden' '' "$(printf 'a%.0s' {1..77})"; do
		run_tool 2 "$CCONTAINER" create --image "$IMG" -- "$id"
		assert_contains "$stderr" "invalid container ID '$id'"
	done
	assert_file_not_exists "$CONTAINERS" "containers directory"
}

@test "ccontainer create (same ID twice) fails, keeps the first" {
	run_tool 0 "$CCONTAINER" create --label v=1 "$IMG" c1
	run_tool 1 "$CCONTAINER" create --label v=2 "$IMG" c1
	assert_contains "$stderr" "container 'c1' already exists in namespace 'default'"
	assert_container c1
	assert_eq "$(jq -r .labels.v "$CONTAINERS/c1.json")" 1 "label of the first"
	assert_file_not_exists "$CONTAINERS/journal/c1.json" "journal entry"
}

@test "ccontainer create (two namespaces) allows the same ID" {
	run_tool 0 cpull -n other "$IMG"
	run_tool 0 "$CCONTAINER" create "$IMG" c1
	run_tool 0 "$CCONTAINER" -n other create "$IMG" c1
	assert_container c1
	assert_file_exists "$CKIT_ROOT/namespaces/other/containers/c1.json" "record in other"
	assert_eq "$(jq -r .snapshot_key "$CKIT_ROOT/namespaces/other/containers/c1.json")" \
		other/c1 "snapshot key in other"
	assert_eq "$(jq -r .linux.cgroupsPath "$CKIT_ROOT/namespaces/other/containers/specs/c1.json")" \
		/ckit/other/c1 "cgroup path in other"
	run_tool 0 "$CCONTAINER" rm c1
	assert_file_exists "$(snapshot_meta other/c1)" "snapshot other/c1"
	run_tool 0 "$CCONTAINER" ls -n other -q
	assert_eq "$output" c1 "containers in other"
}

@test "ccontainer create --snapshot names the snapshot" {
	run_tool 0 "$CCONTAINER" create --snapshot my-root "$IMG" c1
	assert_container c1 my-root
	assert_eq "$(jq -r .snapshot_key "$CONTAINERS/c1.json")" my-root "snapshot key"
	run_tool 0 "$CCONTAINER" rm c1
	assert_no_container c1 my-root
}

@test "ccontainer create --snapshot (key taken) fails, leaves nothing" {
	run_tool 0 "$CCONTAINER" create --snapshot shared "$IMG" c1
	run_tool 1 "$CCONTAINER" create --snapshot shared "$IMG" c2
	assert_contains "$stderr" "snapshot 'shared' already exists"
	assert_file_not_exists "$CONTAINERS/c2.json" "record of c2"
	assert_file_not_exists "$CONTAINERS/specs/c2.json" "spec of c2"
	assert_file_not_exists "$CONTAINERS/journal/c2.json" "journal entry of c2"
	assert_container c1 shared
}

@test "ccontainer create --view shares the image read-only" {
	pull_fixture user
	local img=$REGISTRY/test/user:latest chain before
	chain=$(chain_id_of user)
	run_tool 0 "$CCONTAINER" create "$img" warmup
	run_tool 0 "$CCONTAINER" rm warmup
	before=$(snapshot_keys | wc -l)

	run_tool 0 "$CCONTAINER" create --view "$img" v1
	run_tool 0 "$CCONTAINER" create --view "$img" v2
	local id meta
	for id in v1 v2; do
		meta=$(snapshot_meta "default/$id")
		assert_eq "$(jq -r .kind "$meta")" view "snapshot kind of $id"
		assert_eq "$(jq -r .parent "$meta")" "$chain" "snapshot parent of $id"
		assert_eq "$(jq -r .snapshot_kind "$CONTAINERS/$id.json")" view "record kind of $id"
		assert_eq "$(jq -r .root.readonly "$CONTAINERS/specs/$id.json")" true "root read-only of $id"
		assert_eq "$(ls -A "$(snapshot_fs "default/$id")")" "" "files copied into $id"
	done
	assert_eq "$(snapshot_keys | wc -l)" $((before + 2)) "snapshot count"
	assert_eq "$(jq -r .process.user.uid "$CONTAINERS/specs/v1.json")" 1000 "user from the image"
}

@test "ccontainer create --spec - stores cspec's spec" {
	run_tool 0 cunpack "$IMG"
	"$CSPEC" --image "$IMG" -e FROM=cspec -- echo piped >"$BATS_TEST_TMPDIR/spec.json"
	run_tool 0 "$CCONTAINER" create --spec - "$IMG" s1 <"$BATS_TEST_TMPDIR/spec.json"
	assert_eq "$(jq -S . "$CONTAINERS/specs/s1.json")" \
		"$(jq -S . "$BATS_TEST_TMPDIR/spec.json")" "stored spec"

	run_tool 0 "$CCONTAINER" create --view --spec "$BATS_TEST_TMPDIR/spec.json" "$IMG" s2
	assert_eq "$(jq -r .root.readonly "$CONTAINERS/specs/s2.json")" true "view spec read-only"
	assert_eq "$(jq -c .process.args "$CONTAINERS/specs/s2.json")" '["echo","piped"]' "args"
}

@test "ccontainer create --spec (invalid) fails, leaves nothing" {
	echo '{"ociVersion": ' >"$BATS_TEST_TMPDIR/bad.json"
	run_tool 1 "$CCONTAINER" create --spec "$BATS_TEST_TMPDIR/bad.json" "$IMG" s1
	assert_contains "$stderr" "invalid spec '$BATS_TEST_TMPDIR/bad.json'"
	run_tool 1 "$CCONTAINER" create --spec - "$IMG" s1 <<<'[]'
	assert_contains "$stderr" "not an OCI runtime spec"
	assert_no_container s1
}

@test "ccontainer create --spec with spec options exits 2" {
	run_tool 2 "$CCONTAINER" create --spec x.json -e A=1 "$IMG" s1
	assert_contains "$stderr" "--spec cannot be combined with spec options"
	run_tool 2 "$CCONTAINER" create --spec x.json "$IMG" s1 echo
	assert_contains "$stderr" "--spec cannot be combined"
}

@test "ccontainer create --label (bad pairs) exits 2" {
	run_tool 2 "$CCONTAINER" create --label novalue "$IMG" c1
	assert_contains "$stderr" "invalid label 'novalue'"
	run_tool 2 "$CCONTAINER" create --label =x "$IMG" c1
	assert_contains "$stderr" "the key is empty"
	run_tool 2 "$CCONTAINER" create --label "k=$(printf 'a\tb')" "$IMG" c1
	assert_contains "$stderr" "control characters"
	run_tool 2 "$CCONTAINER" create --label "k=$(head -c 4096 /dev/zero | tr '\0' x)" "$IMG" c1
	assert_contains "$stderr" "exceed 4096 bytes"
}

@test "ccontainer ls prints ID, image and runtime sorted" {
	run_tool 0 "$CCONTAINER" create "$IMG" b2
	run_tool 0 "$CCONTAINER" create --runtime crun "$IMG" a1
	run_tool 0 "$CCONTAINER" ls
	assert_eq "$output" "$(printf 'a1\t%s\tcrun\nb2\t%s\trunc' "$IMG" "$IMG")" "ls output"
	run_tool 0 "$CCONTAINER" ls -q
	assert_eq "$output" $'a1\nb2' "ls -q output"
}

@test "ccontainer ls (empty namespace) prints nothing" {
	run_tool 0 "$CCONTAINER" ls
	assert_eq "$output" "" "ls output"
	assert_eq "$stderr" "" "ls stderr"
}

@test "ccontainer ls (terminal) prints a header" {
	run_tool 0 "$CCONTAINER" create "$IMG" c1
	run script -qec "$CCONTAINER ls" /dev/null
	assert_eq "$status" 0 "status"
	assert_eq "${output//$'\r'/}" "$(printf 'CONTAINER\tIMAGE\tRUNTIME\nc1\t%s\trunc' "$IMG")" "ls output"
}

@test "ccontainer ls (other JSON files) skips them" {
	run_tool 0 "$CCONTAINER" create "$IMG" c1
	echo '{"ociVersion": "1.0.2"}' >"$CONTAINERS/c1.spec.json"
	run_tool 0 "$CCONTAINER" ls -q
	assert_eq "$output" c1 "containers"
	assert_eq "$stderr" "" "stderr"
}

@test "ccontainer ls (unreadable records) lists the rest, exits 1" {
	run_tool 0 "$CCONTAINER" create "$IMG" c1
	echo '{"id": ' >"$CONTAINERS/broken.json"
	jq '.id = "other"' "$CONTAINERS/c1.json" >"$CONTAINERS/moved.json"
	run_tool 1 "$CCONTAINER" ls -q
	assert_eq "$output" c1 "containers"
	assert_contains "$stderr" "ccontainer: warning: skipping container 'broken'"
	assert_contains "$stderr" "skipping container 'moved': container record 'moved' names another ID, 'other'"
	assert_contains "$stderr" "2 container records could not be read and were left out"
}

@test "ccontainer ls (hand-edited records) skips bad fields, rm removes them" {
	run_tool 0 "$CCONTAINER" create "$IMG" c1
	jq '.id = "c2" | .image = "a\tb"' "$CONTAINERS/c1.json" >"$CONTAINERS/c2.json"
	jq '.id = "c3" | .runtime = "runc\nc9\tfake"' "$CONTAINERS/c1.json" >"$CONTAINERS/c3.json"
	echo '{"id": "c4"}' >"$CONTAINERS/c4.json"
	jq '.id = "c5" | .created = 5' "$CONTAINERS/c1.json" >"$CONTAINERS/c5.json"
	jq '.id = "c6" | .snapshotter = "zfs"' "$CONTAINERS/c1.json" >"$CONTAINERS/c6.json"
	jq '.id = "c7" | .runtime = ""' "$CONTAINERS/c1.json" >"$CONTAINERS/c7.json"
	jq '.id = "c8" | .labels = {"k\nfake": "v"}' "$CONTAINERS/c1.json" >"$CONTAINERS/c8.json"
	jq '.id = "c9" | .labels = {"a": "b\u0085"}' "$CONTAINERS/c1.json" >"$CONTAINERS/c9.json"
	run_tool 1 "$CCONTAINER" ls
	assert_eq "$output" "$(printf 'c1\t%s\trunc' "$IMG")" "ls output"
	assert_contains "$stderr" "skipping container 'c2': container record 'c2' is invalid: bad field image; remove it with 'ccontainer rm c2'"
	assert_contains "$stderr" "container record 'c3' is invalid: bad field runtime"
	assert_contains "$stderr" "container record 'c4' is invalid: bad field image"
	assert_contains "$stderr" "container record 'c5' is invalid: bad field created"
	assert_contains "$stderr" "container record 'c6' is invalid: bad field snapshotter"
	assert_contains "$stderr" "container record 'c7' is invalid: bad field runtime"
	assert_contains "$stderr" "container record 'c8' is invalid: bad field labels"
	assert_contains "$stderr" "container record 'c9' is invalid: bad field labels"
	assert_contains "$stderr" "8 container records could not be read and were left out"
	run_tool 2 "$CCONTAINER" label c1 $'a=b\xc2\x85'
	assert_contains "$stderr" "control characters are not allowed" "label with a C1 control"
	run_tool 0 "$CCONTAINER" rm c2 c3 c4 c5 c6 c7 c8 c9
	[[ $stderr != *"remove it with 'ccontainer rm"* ]]
	run_tool 0 "$CCONTAINER" ls -q
	assert_eq "$output" c1 "containers after rm"
}

@test "ccontainer create --runtime (control character or empty) exits 2" {
	run_tool 2 "$CCONTAINER" create --runtime $'runc\tx' "$IMG" c1
	assert_contains "$stderr" "invalid runtime"
	run_tool 2 "$CCONTAINER" create --runtime '' "$IMG" c1
	assert_contains "$stderr" "invalid runtime: empty"
	run_tool 2 "$CCONTAINER" create --runtime $'run\xffc' "$IMG" c1
	assert_contains "$stderr" "invalid runtime: it is not valid UTF-8"
	run_tool 2 "$CCONTAINER" create --runtime $'run\xc2\x9bc' "$IMG" c1
	assert_contains "$stderr" "invalid runtime: it contains control character U+009B"
	assert_file_not_exists "$CONTAINERS/c1.json" "record"
}

@test "ccontainer (no store at the root) creates none" {
	local root=$BATS_TEST_TMPDIR/typo

	CKIT_ROOT=$root run_tool 0 "$CCONTAINER" ls
	assert_eq "$output" "" "ls output"
	assert_contains "$stderr" "ccontainer: warning: no store at '$root': pull an image into it with cpull, or check --root and \$CKIT_ROOT"
	CKIT_ROOT=$root run_tool 1 "$CCONTAINER" info c1
	assert_contains "$stderr" "no store at '$root'" "info"
	CKIT_ROOT=$root run_tool 1 "$CCONTAINER" rm c1
	assert_contains "$stderr" "no store at '$root'" "rm"
	CKIT_ROOT=$root run_tool 1 "$CCONTAINER" create "$IMG" c1
	assert_contains "$stderr" "no store at '$root'" "create"
	assert_file_not_exists "$root" "store root"
}

@test "ccontainer rm (record copied by hand) keeps the shared snapshot" {
	run_tool 0 "$CCONTAINER" create "$IMG" c1
	jq '.id = "c2"' "$CONTAINERS/c1.json" >"$CONTAINERS/c2.json"
	run_tool 0 "$CCONTAINER" rm c2
	assert_contains "$stderr" "keeping snapshot 'default/c1' of container 'c2': container 'default/c1' uses it too"
	assert_file_exists "$(snapshot_meta default/c1)" "snapshot record"
	run_tool 0 "$CCONTAINER" rm c1
	assert_eq "$stderr" "" "stderr of the last rm"
	assert_file_not_exists "$(snapshot_meta default/c1)" "snapshot record after the last rm"
	# A copy whose ID was left as it was counts by its file name.
	run_tool 0 "$CCONTAINER" create "$IMG" c3
	cp "$CONTAINERS/c3.json" "$CONTAINERS/c3copy.json"
	run_tool 0 "$CCONTAINER" rm c3
	assert_contains "$stderr" "keeping snapshot 'default/c3' of container 'c3': container 'default/c3copy' uses it too"
	assert_file_exists "$(snapshot_meta default/c3)" "snapshot record of c3"
}

# label_until_full ID COUNT SIZE: adds COUNT labels of SIZE bytes per call
# to container ID until a call fails; leaves that call's status and
# stderr in $status and $output. The labels printed go to /dev/null.
label_until_full() {
	local value round=0 i labels

	value=$(printf "%${3}s" '' | tr ' ' v)
	while :; do
		labels=()
		for ((i = 0; i < $2; i++)); do
			labels+=("f$3_${round}_$i=$value")
		done
		status=0
		"$CCONTAINER" label "$1" "${labels[@]}" >/dev/null \
			2>"$BATS_TEST_TMPDIR/label.err" || status=$?
		output=$(<"$BATS_TEST_TMPDIR/label.err")
		((status == 0)) || return 0
		round=$((round + 1))
	done
}

@test "ccontainer label (record past 16 MiB) fails, record stays readable" {
	run_tool 0 "$CCONTAINER" create "$IMG" c1
	# Labels of 4,000 bytes up to 200 bytes below 16 MiB less 4 KiB.
	python3 - "$CONTAINERS/c1.json" <<-'PY'
		import json, sys
		path = sys.argv[1]
		rec = json.load(open(path))
		labels = rec.setdefault("labels", {})
		size = lambda: len(json.dumps(rec, separators=(",", ":")))
		target = (16 << 20) - 4096 - 200
		cur, i = size(), 0
		while target - cur > 4050:
		    labels["p%d" % i] = "v" * 4000
		    cur += len("p%d" % i) + 4006
		    i += 1
		labels["pad"] = ""
		labels["pad"] = "v" * (target - size())
		assert size() == target and len(labels["pad"]) < 4090
		open(path, "w").write(json.dumps(rec, separators=(",", ":")))
	PY
	label_until_full c1 1 4000
	assert_eq "$status" 1 "status of the label call past the limit"
	assert_contains "$output" "more than the 16773120 bytes a record may take; use fewer or shorter labels"
	run_tool 0 "$CCONTAINER" ls -q
	assert_eq "$output" c1 "containers"
	# Fill the record to within a few bytes of its limit: the delete's
	# journal entry wraps the record and must still fit.
	label_until_full c1 1 40
	label_until_full c1 1 4
	run_tool 0 "$CCONTAINER" rm c1
}

@test "ccontainer create (bad --spec, other snapshotter) unpacks nothing" {
	run_tool 0 "$CCONTAINER" create "$IMG" web1
	run_tool 1 "$CCONTAINER" create --snapshotter native --spec "$BATS_TEST_TMPDIR/missing.json" "$IMG" c1
	assert_contains "$stderr" "invalid spec '$BATS_TEST_TMPDIR/missing.json'"
	assert_eq "$(<"$CKIT_ROOT/snapshots/default")" overlayfs "store default"
	run ls "$CKIT_ROOT/snapshots/native/meta"
	assert_eq "$output" "" "native snapshot records"
	run_tool 0 "$TOP/tools/csnapshot/csnapshot" info default/web1
}

@test "ccontainer (namespace that does not exist) creates none" {
	run_tool 0 "$CCONTAINER" -n typo ls
	assert_eq "$output" "" "ls output"
	run_tool 1 "$CCONTAINER" -n typo info c1
	assert_contains "$stderr" "container 'c1' not found in namespace 'typo'" "info"
	run_tool 1 "$CCONTAINER" -n typo label c1 a=b
	assert_contains "$stderr" "container 'c1' not found in namespace 'typo'" "label"
	run_tool 1 "$CCONTAINER" -n typo rm c1
	assert_contains "$stderr" "container 'c1' not found in namespace 'typo'" "rm"
	run_tool 1 "$CCONTAINER" -n typo create "$IMG" c1
	assert_contains "$stderr" "not found in namespace 'typo'" "create"
	run_tool 1 cunpack -n typo "$IMG"
	assert_contains "$stderr" "image '$IMG' not found in namespace 'typo'" "cunpack"
	assert_file_not_exists "$CKIT_ROOT/namespaces/typo" "namespace"
}

@test "ccontainer ls, rm (FIFO and dangling symlink records) fail fast" {
	run_tool 0 "$CCONTAINER" create "$IMG" c1
	mkfifo "$CONTAINERS/c2.json"
	ln -s /nonexistent "$CONTAINERS/c3.json"
	run_tool 1 timeout 10 "$CCONTAINER" ls -q
	assert_eq "$output" c1 "containers"
	assert_contains "$stderr" "skipping container 'c2': '$CONTAINERS/c2.json' is a FIFO, not a regular file; remove it by hand"
	assert_contains "$stderr" "skipping container 'c3': '$CONTAINERS/c3.json' is a symbolic link to a missing file; remove it by hand"
	run_tool 1 timeout 10 "$CCONTAINER" rm c2 c3
	assert_contains "$stderr" "is a FIFO, not a regular file" "rm c2"
	assert_contains "$stderr" "is a symbolic link to a missing file" "rm c3"
}

@test "ccontainer (record a symlink to a record) keeps its snapshot" {
	run_tool 0 "$CCONTAINER" create "$IMG" c1
	mv "$CONTAINERS/c1.json" "$BATS_TEST_TMPDIR/c1.json"
	ln -s "$BATS_TEST_TMPDIR/c1.json" "$CONTAINERS/c1.json"
	run_tool 0 "$CCONTAINER" ls -q
	assert_eq "$output" c1 "containers"
	run_tool 1 "$TOP/tools/csnapshot/csnapshot" rm default/c1
	assert_contains "$stderr" "is used by container 'default/c1'" "csnapshot rm"
	assert_file_exists "$(snapshot_meta default/c1)" "snapshot record"
}

@test "ccontainer info (FIFO spec file) fails fast" {
	run_tool 0 "$CCONTAINER" create "$IMG" c1
	rm "$CONTAINERS/specs/c1.json"
	mkfifo "$CONTAINERS/specs/c1.json"
	run_tool 1 timeout 10 "$CCONTAINER" info c1
	assert_contains "$stderr" "is a FIFO, not a regular file; remove it by hand"
}

@test "ccontainer ls (ID ending in .spec, damaged) warns, exits 1" {
	run_tool 0 "$CCONTAINER" create "$IMG" app.spec
	jq -c '.labels = [1]' "$CONTAINERS/app.spec.json" >"$BATS_TEST_TMPDIR/r"
	mv "$BATS_TEST_TMPDIR/r" "$CONTAINERS/app.spec.json"
	run_tool 1 "$CCONTAINER" ls -q
	assert_eq "$output" "" "containers"
	assert_contains "$stderr" "skipping container 'app.spec'"
}

@test "ccontainer create (FIFO journal entry) warns, does not block" {
	run_tool 0 "$CCONTAINER" create "$IMG" c1
	mkfifo "$CONTAINERS/journal/c2.json"
	run_tool 0 timeout 10 "$CCONTAINER" create "$IMG" c3
	assert_contains "$stderr" "'$CONTAINERS/journal/c2.json' is a FIFO, not a regular file" "warning"
	run_tool 0 "$CCONTAINER" ls -q
	assert_eq "$output" "$(printf 'c1\nc3')" "containers"
}

@test "ccontainer ls (stdout full) exits 1" {
	run_tool 0 "$CCONTAINER" create "$IMG" c1
	run bash -c '"$1" ls -q >/dev/full' _ "$CCONTAINER"
	assert_eq "$status" 1 "status"
	assert_contains "$output" "write to stdout: No space left on device" "message"
}

@test "ccontainer ls --json prints one object per line" {
	run_tool 0 "$CCONTAINER" create --label role=web "$IMG" c1
	run_tool 0 "$CCONTAINER" create --view "$IMG" c2
	run_tool 0 "$CCONTAINER" ls --json
	assert_eq "$(wc -l <<<"$output")" 2 "lines"
	assert_eq "$(jq -r .id <<<"$output" | paste -sd ' ')" "c1 c2" "ids"
	assert_eq "$(head -1 <<<"$output" | jq -r .labels.role)" web "label"
	assert_eq "$(tail -1 <<<"$output" | jq -r .snapshot_kind)" view "kind"
	assert_eq "$(head -1 <<<"$output" | jq -r .manifest_digest)" \
		"$(fixture_manifest_digest busybox)" "manifest digest"
	run_tool 2 "$CCONTAINER" ls -q --json
}

@test "ccontainer ls --filter matches labels" {
	run_tool 0 "$CCONTAINER" create --label role=web --label tier=front "$IMG" a
	run_tool 0 "$CCONTAINER" create --label role=db "$IMG" b
	run_tool 0 "$CCONTAINER" create "$IMG" c

	run_tool 0 "$CCONTAINER" ls -q --filter label.role
	assert_eq "$output" $'a\nb' "label.role"
	run_tool 0 "$CCONTAINER" ls -q --filter label.role=web
	assert_eq "$output" "a" "label.role=web"
	run_tool 0 "$CCONTAINER" ls -q --filter label.role --filter label.tier=front
	assert_eq "$output" "a" "both filters"
	run_tool 0 "$CCONTAINER" ls -q --filter label.role=db --filter label.tier
	assert_eq "$output" "" "filters no container has together"
	run_tool 0 "$CCONTAINER" ls -q --filter label.role=
	assert_eq "$output" "" "empty value"
}

@test "ccontainer ls --filter (bad filter) exits 2" {
	local f
	for f in role=web label. label.=x image=x; do
		run_tool 2 "$CCONTAINER" ls --filter "$f"
		assert_contains "$stderr" "invalid filter '$f'"
	done
}

@test "ccontainer info prints the record and the spec" {
	run_tool 0 "$CCONTAINER" create --label a=1 "$IMG" c1 echo hi
	run_tool 0 "$CCONTAINER" info c1
	assert_eq "$(jq -r .id <<<"$output")" c1 "id"
	assert_eq "$(jq -r .snapshot_key <<<"$output")" default/c1 "snapshot key"
	assert_eq "$(jq -r .labels.a <<<"$output")" 1 "label"
	assert_eq "$(jq -c .spec.process.args <<<"$output")" '["echo","hi"]' "spec args"
	assert_eq "$(jq -S .spec <<<"$output")" "$(jq -S . "$CONTAINERS/specs/c1.json")" "spec"
}

@test "ccontainer info (missing ID) fails" {
	run_tool 1 "$CCONTAINER" info nope
	assert_contains "$stderr" "ccontainer: container 'nope' not found in namespace 'default'"
	run_tool 2 "$CCONTAINER" info a b
	assert_contains "$stderr" "info takes one container ID"
}

@test "ccontainer label sets, lists and removes labels" {
	run_tool 0 "$CCONTAINER" create --label keep=yes "$IMG" c1
	run_tool 0 "$CCONTAINER" label c1 b=2 a=1
	assert_eq "$output" $'a=1\nb=2\nkeep=yes' "labels after set"
	run_tool 0 "$CCONTAINER" label c1 a= b=3
	assert_eq "$output" $'b=3\nkeep=yes' "labels after remove"
	run_tool 0 "$CCONTAINER" label c1
	assert_eq "$output" $'b=3\nkeep=yes' "labels listed"
	assert_eq "$(jq -c .labels "$CONTAINERS/c1.json")" '{"keep":"yes","b":"3"}' "record labels"
	assert_container c1
}

@test "ccontainer label (bad pair or missing ID) fails" {
	run_tool 0 "$CCONTAINER" create "$IMG" c1
	run_tool 2 "$CCONTAINER" label c1 novalue
	assert_contains "$stderr" "invalid label 'novalue'"
	run_tool 2 "$CCONTAINER" label c1 =x
	assert_contains "$stderr" "the key is empty"
	run_tool 1 "$CCONTAINER" label nope a=1
	assert_contains "$stderr" "container 'nope' not found"
}

@test "ccontainer rm removes record, spec and snapshot" {
	run_tool 0 "$CCONTAINER" create "$IMG" c1
	run_tool 0 "$CCONTAINER" rm c1
	assert_eq "$output" "" "stdout"
	assert_no_container c1
	assert_file_exists "$(snapshot_meta "$(chain_id_of busybox)")" "image snapshot"
	run_tool 0 "$CCONTAINER" create "$IMG" c1
	assert_container c1
}

@test "ccontainer rm --keep-snapshot keeps the snapshot" {
	run_tool 0 "$CCONTAINER" create "$IMG" c1
	echo data >"$(snapshot_fs default/c1)/kept"
	run_tool 0 "$CCONTAINER" rm --keep-snapshot c1
	assert_file_not_exists "$CONTAINERS/c1.json" "record"
	assert_file_not_exists "$CONTAINERS/specs/c1.json" "spec"
	assert_eq "$(cat "$(snapshot_fs default/c1)/kept")" data "kept file"
	run_tool 1 "$CCONTAINER" create "$IMG" c1
	assert_contains "$stderr" "snapshot 'default/c1' already exists"
}

@test "ccontainer rm (missing ID) fails" {
	run_tool 1 "$CCONTAINER" rm nope
	assert_contains "$stderr" "ccontainer: remove container 'nope': container 'nope' not found in namespace 'default'"
	run_tool 2 "$CCONTAINER" rm
	assert_contains "$stderr" "rm needs a container ID"
	run_tool 2 "$CCONTAINER" rm 'bad/id'
	assert_contains "$stderr" "invalid container ID 'bad/id'"
}

@test "ccontainer rm (damaged record) removes it, keeps the snapshot" {
	local damage
	for damage in "" '{"id": 5}'; do
		run_tool 0 "$CCONTAINER" create "$IMG" c1
		printf '%s' "$damage" >"$CONTAINERS/c1.json"
		run_tool 1 "$CCONTAINER" ls -q
		assert_eq "$output" "" "ls"
		run_tool 0 "$CCONTAINER" rm c1
		assert_contains "$stderr" "record of container 'c1' is damaged" "rm warning"
		assert_contains "$stderr" "csnapshot rm" "rm hint"
		assert_file_not_exists "$CONTAINERS/c1.json" "record"
		assert_file_not_exists "$CONTAINERS/specs/c1.json" "spec"
		assert_file_exists "$(snapshot_meta default/c1)" "snapshot record"
		run_tool 0 "$TOP/tools/csnapshot/csnapshot" rm default/c1
	done
}

@test "ccontainer rm (one of three missing) removes the others, exits 1" {
	run_tool 0 "$CCONTAINER" create "$IMG" c1
	run_tool 0 "$CCONTAINER" create "$IMG" c3
	run_tool 1 "$CCONTAINER" rm c1 c2 c3
	assert_contains "$stderr" "container 'c2' not found"
	assert_no_container c1
	assert_no_container c3
}

@test "ccontainer create (killed before its snapshot) is undone by the next" {
	local lock=$CKIT_ROOT/snapshots/overlayfs/lock fd pid
	run_tool 0 "$CCONTAINER" create "$IMG" warmup

	# Holding the snapshotter's lock stops create inside the snapshot
	# step, after its journal entry and spec file are written.
	exec {fd}>"$lock"
	flock -x "$fd"
	"$CCONTAINER" create "$IMG" k1 {fd}>&- >"$BATS_TEST_TMPDIR/out" 2>&1 &
	pid=$!
	PIDS+=("$pid")
	wait_for test -e "$CONTAINERS/specs/k1.json"
	kill -KILL "$pid"
	wait "$pid" || true
	exec {fd}>&-

	assert_file_exists "$CONTAINERS/journal/k1.json" "journal entry"
	assert_file_not_exists "$CONTAINERS/k1.json" "record"
	run_tool 0 "$CCONTAINER" ls -q
	assert_eq "$output" warmup "containers after the kill"

	run_tool 0 "$CCONTAINER" create "$IMG" other
	assert_no_container k1
	run_tool 0 "$CCONTAINER" create "$IMG" k1
	assert_container k1
	assert_file_not_exists "$CONTAINERS/journal/k1.json" "journal entry"
}

@test "ccontainer rm (killed after the record) is finished by the next" {
	local lock=$CKIT_ROOT/snapshots/overlayfs/lock fd pid
	run_tool 0 "$CCONTAINER" create "$IMG" r1

	# rm removes the record, then waits for the snapshotter's lock.
	exec {fd}>"$lock"
	flock -x "$fd"
	"$CCONTAINER" rm r1 {fd}>&- >"$BATS_TEST_TMPDIR/out" 2>&1 &
	pid=$!
	PIDS+=("$pid")
	wait_for test ! -e "$CONTAINERS/r1.json"
	kill -KILL "$pid"
	wait "$pid" || true
	exec {fd}>&-

	assert_file_exists "$CONTAINERS/journal/r1.json" "journal entry"
	assert_file_exists "$(snapshot_meta default/r1)" "snapshot"
	run_tool 0 "$CCONTAINER" ls -q
	assert_eq "$output" "" "containers after the kill"

	run_tool 0 "$CCONTAINER" rm r1
	assert_no_container r1
}

@test "ccontainer create (kill -9 at random moments) stays whole" {
	# The loop variable is not named i: bats' run assigns a global i.
	local round pid start took delay made=0
	run_tool 0 "$CCONTAINER" create "$IMG" warmup
	start=$(date +%s%N)
	"$CCONTAINER" create "$IMG" timed
	took=$((($(date +%s%N) - start) / 1000))
	run_tool 0 "$CCONTAINER" rm timed
	# The kills spread over the time one create took, in microseconds.
	# Starting sleep adds a few milliseconds, so some kills land after
	# the create has finished.
	for ((round = 0; round < 30; round++)); do
		delay=$((took * round / 30))
		delay=$(printf '%d.%06d' $((delay / 1000000)) $((delay % 1000000)))
		"$CCONTAINER" create "$IMG" k1 >/dev/null 2>&1 &
		pid=$!
		sleep "$delay"
		kill -KILL "$pid" 2>/dev/null || true
		wait "$pid" || true
		if [[ -e $CONTAINERS/k1.json ]]; then
			made=$((made + 1))
			assert_container k1
			run_tool 0 "$CCONTAINER" rm k1
		else
			run_tool 1 "$CCONTAINER" rm k1
			assert_contains "$stderr" "container 'k1' not found"
		fi
		assert_no_container k1
	done
	echo "# $made of 30 creates finished before the kill; one takes $took us"
	assert_eq "$(ls "$CONTAINERS/journal")" "" "journal entries left"
	assert_eq "$(ls "$CONTAINERS/specs")" "warmup.json" "spec files left"
	assert_eq "$(ls "$CONTAINERS")" $'journal\nspecs\nwarmup.json' "containers directory"
	assert_eq "$(snapshot_keys)" "$(printf '%s\n' default/warmup "$(chain_id_of busybox)" | sort)" \
		"snapshots left"
}

@test "ccontainer rm (task running under runc) is refused" {
	requires runc
	run_tool 0 "$CCONTAINER" create "$IMG" t1
	start_task t1
	wait_for test -s "$CKIT_STATE/default/t1/init.pid"
	assert_eq "$(runc_status t1)" running "runc status"

	run_tool 1 "$CCONTAINER" rm t1
	assert_contains "$stderr" "container 't1' has a running task; stop the task first"
	assert_container t1

	runc --root "$RUNC_ROOT" kill t1 KILL
	wait_for test "$(runc_status t1)" = stopped
	run_tool 0 "$CCONTAINER" rm t1
	assert_no_container t1
	assert_file_not_exists "$CKIT_STATE/default/t1" "task state"
	assert_eq "$(runc --root "$RUNC_ROOT" list -q)" "" "runc containers"
	assert_eq "$(mounts_below "$(realpath "$CKIT_STATE")")" "" "mounts left"
}

@test "ccontainer rm (task created, not started) is refused" {
	requires runc
	run_tool 0 "$CCONTAINER" create "$IMG" t2
	start_task t2 create
	assert_eq "$(runc_status t2)" created "runc status"
	run_tool 1 "$CCONTAINER" rm t2
	assert_contains "$stderr" "running task"
	runc --root "$RUNC_ROOT" delete --force t2
	run_tool 0 "$CCONTAINER" rm t2
	assert_no_container t2
}

@test "ccontainer rm (init.pid of a live older process) is refused" {
	local pid
	run_tool 0 "$CCONTAINER" create "$IMG" t3
	sleep 1000 &
	pid=$!
	PIDS+=("$pid")
	mkdir -p "$CKIT_STATE/default/t3"
	echo "$pid" >"$CKIT_STATE/default/t3/init.pid"
	run_tool 1 "$CCONTAINER" rm t3
	assert_contains "$stderr" "running task"
	kill -KILL "$pid"
	wait "$pid" || true
	run_tool 0 "$CCONTAINER" rm t3
	assert_file_not_exists "$CKIT_STATE/default/t3" "task state"
	assert_no_container t3
}

@test "ccontainer rm (init.pid of a reused pid) removes the container" {
	local pid
	run_tool 0 "$CCONTAINER" create "$IMG" t4
	sleep 1000 &
	pid=$!
	PIDS+=("$pid")
	mkdir -p "$CKIT_STATE/default/t4"
	echo "$pid" >"$CKIT_STATE/default/t4/init.pid"
	touch -d '1 hour ago' "$CKIT_STATE/default/t4/init.pid"
	run_tool 0 "$CCONTAINER" rm t4
	assert_no_container t4
	assert_file_not_exists "$CKIT_STATE/default/t4" "task state"
	kill -0 "$pid"
}

@test "ccontainer rm (stopped task held by a shim) is refused" {
	local fd
	run_tool 0 "$CCONTAINER" create "$IMG" t5
	mkdir -p "$CKIT_STATE/default/t5"
	exec {fd}>"$CKIT_STATE/default/t5/shim.lock"
	flock -x "$fd"
	run_tool 1 "$CCONTAINER" rm t5
	assert_contains "$stderr" "container 't5' has a stopped task that crun-task still holds"
	assert_contains "$stderr" "'crun-task delete t5'"
	assert_container t5
	exec {fd}>&-
	run_tool 0 "$CCONTAINER" rm t5
	assert_no_container t5
	assert_file_not_exists "$CKIT_STATE/default/t5" "task state"
}

@test "completion ccontainer lists commands, IDs and images" {
	local script=$TOP/completions/bash/ccontainer
	run_tool 0 "$CCONTAINER" create "$IMG" web1
	run_tool 0 "$CCONTAINER" create "$IMG" web2
	bash -n "$script"
	zsh -n "$TOP/completions/zsh/_ccontainer"

	complete_words() {
		bash -c 'source "$1"; shift
			COMP_WORDS=("$@"); COMP_CWORD=$(($# - 1))
			_ccontainer; printf "%s\n" "${COMPREPLY[@]}"' _ "$script" "$@"
	}
	run complete_words ccontainer ""
	assert_eq "$output" $'create\ninfo\nlabel\nls\nrm' "commands"
	run complete_words ccontainer rm --keep-snapshot we
	assert_eq "$output" $'web1\nweb2' "IDs for rm"
	run complete_words ccontainer info ""
	assert_eq "$output" $'web1\nweb2' "IDs for info"
	run complete_words ccontainer create --view ""
	assert_eq "$output" "$IMG" "images for create"
	run complete_words ccontainer ls --f
	assert_eq "$output" "--filter" "ls options"
}

@test "ccontainer, crun-task and cspec (no applier) load no libarchive" {
	local tool
	for tool in ccontainer crun-task cspec; do
		run ldd "$TOP/tools/$tool/$tool"
		assert_eq "$status" 0 "ldd $tool"
		assert_not_contains "$output" libarchive "libraries of $tool"
	done
}
