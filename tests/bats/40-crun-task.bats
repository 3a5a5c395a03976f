#!/usr/bin/env bats
# SPDX-License-Identifier: Apache-2.0
# crun-task run and delete through runc.

load helpers
load store
load spec

setup() {
	requires root overlay runc
	ckit_setup
	pull_fixture busybox
	IMG=$REGISTRY/test/busybox:latest
}

teardown() {
	ckit_teardown
}

@test "crun-task --help prints usage" {
	run_tool 0 crun-task --help
	assert_contains "$output" "usage: crun-task run"
	assert_contains "$output" "125"
}

@test "crun-task (no command) exits 2" {
	run_tool 2 crun-task
	assert_contains "$stderr" "crun-task: missing command"
}

@test "crun-task run --bogus (bad option) exits 2" {
	run_tool 2 crun-task run --bogus "$IMG" c1
	assert_contains "$stderr" "invalid option '--bogus'"
}

@test "crun-task run (bad ID) fails naming it" {
	run_tool 125 crun-task run --rm "$IMG" 'bad/id' true
	assert_contains "$stderr" "invalid container ID 'bad/id'"
}

@test "crun-task run prints from inside the container" {
	run_tool 0 crun-task run --rm "$IMG" c1 sh -c 'echo hello from $(hostname)'
	assert_eq "$output" "hello from c1" "stdout"
}

@test "crun-task run passes exit codes 0, 1 and 42" {
	local code
	for code in 0 1 42; do
		run_tool "$code" crun-task run --rm "$IMG" "c$code" sh -c "exit $code"
	done
}

@test "crun-task run (killed by SIGKILL) exits 137" {
	"$CRUN_TASK" run --rm "$IMG" victim sleep 30 &
	local pid=$! i
	for ((i = 0; i < 200; i++)); do
		[[ -s $CKIT_STATE/default/victim/init.pid ]] && break
		sleep 0.05
	done
	sleep 0.2
	kill -KILL "$(cat "$CKIT_STATE/default/victim/init.pid")"
	local rc=0
	wait "$pid" || rc=$?
	assert_eq "$rc" 137 "exit status"
}

@test "crun-task run forwards SIGTERM to the container" {
	"$CRUN_TASK" run --rm "$IMG" term sh -c 'trap "exit 7" TERM; while :; do sleep 0.1; done' &
	local pid=$! i
	for ((i = 0; i < 200; i++)); do
		[[ -s $CKIT_STATE/default/term/init.pid ]] && break
		sleep 0.05
	done
	sleep 0.3
	kill -TERM "$pid"
	local rc=0
	wait "$pid" || rc=$?
	assert_eq "$rc" 7 "exit status"
}

@test "crun-task run pipes stdin through" {
	run_tool 0 crun-task run --rm "$IMG" cat1 cat <<<"piped text"
	assert_eq "$output" "piped text" "stdout"
}

@test "crun-task run keeps stderr apart" {
	run_tool 3 crun-task run --rm "$IMG" err1 sh -c 'echo out; echo err >&2; exit 3'
	assert_eq "$output" "out" "stdout"
	assert_eq "$stderr" "err" "stderr"
}

@test "crun-task run (command not found) exits 127" {
	run_tool 127 crun-task run --rm "$IMG" nf1 /no/such/command
	assert_contains "$stderr" "crun-task: run container 'nf1'"
	# runc prints its error to the stderr the task shares with the caller.
	assert_eq "$(grep -c '/no/such/command' <<<"$stderr")" 1 "lines with runc's message"
	assert_file_not_exists "$CKIT_ROOT/namespaces/default/containers/nf1.json"
}

@test "crun-task run --rm leaves no container, snapshot or mount" {
	run_tool 0 crun-task run --rm "$IMG" gone true
	assert_file_not_exists "$CKIT_ROOT/namespaces/default/containers/gone.json"
	assert_file_not_exists "$CKIT_STATE/default/gone"
	run snapshot_keys
	assert_not_contains "$output" "default/gone" "snapshot keys"
	run findmnt -rn -o TARGET
	assert_not_contains "$output" "$BATS_TEST_TMPDIR" "mounts"
}

# cgroup_dirs ID: the task's cgroup directories, in every hierarchy.
cgroup_dirs() {
	compgen -G "/sys/fs/cgroup/*/ckit/default/$1" || true
	compgen -G "/sys/fs/cgroup/ckit/default/$1" || true
}

@test "crun-task delete removes the cgroups and runc state of an exited task" {
	run_tool 0 crun-task run -d "$IMG" cg1 sleep 30
	run cgroup_dirs cg1
	assert_contains "$output" /ckit/default/cg1 "cgroups while it runs"
	assert_file_exists "$CKIT_STATE/runc/default/cg1/state.json" "runc state"
	run_tool 0 crun-task kill cg1
	run_tool 0 crun-task wait cg1
	run_tool 0 crun-task delete cg1
	run cgroup_dirs cg1
	assert_eq "$output" "" "cgroups left"
	assert_file_not_exists "$CKIT_STATE/runc/default/cg1"
	run runc --root "$CKIT_STATE/runc/default" list -q
	assert_not_contains "$output" cg1 "runc list"
	run_tool 0 crun-task run --rm "$IMG" cg2 true
	run cgroup_dirs cg2
	assert_eq "$output" "" "cgroups left by run --rm"
	assert_file_not_exists "$CKIT_STATE/runc/default/cg2"
}

# synced_files LOG: the files and directories of the store that the
# strace LOG shows synced.
synced_files() {
	grep -o 'fsync([0-9]*<[^>]*>' "$1" | sed 's/.*<//; s/>$//' |
		grep "^$CKIT_ROOT/" || true
}

@test "crun-task run --rm syncs none of its records; run without --rm does" {
	requires strace
	run_tool 0 cunpack "$IMG"
	strace -f -y -o "$BATS_TEST_TMPDIR/rm.log" -e trace=fsync,fdatasync,syncfs \
		"$CRUN_TASK" run --rm "$IMG" vol1 true
	run synced_files "$BATS_TEST_TMPDIR/rm.log"
	assert_eq "$output" "" "files synced by run --rm"
	strace -f -y -o "$BATS_TEST_TMPDIR/keep.log" -e trace=fsync,fdatasync,syncfs \
		"$CRUN_TASK" run "$IMG" dur1 true
	run synced_files "$BATS_TEST_TMPDIR/keep.log"
	assert_contains "$output" "/containers/dur1.json" "container record"
	assert_contains "$output" "/containers/specs/dur1.json" "spec"
	assert_contains "$output" "/snapshots/overlayfs/meta/" "snapshot record"
}

@test "ccontainer rm and csnapshot rm clear the damaged records a crash leaves" {
	# A crash during run --rm may leave its unsynced records empty.
	run_tool 0 crun-task run "$IMG" crash1 true
	run_tool 0 crun-task run "$IMG" crash2 true
	: >"$(snapshot_meta default/crash2)"
	: >"$CKIT_ROOT/namespaces/default/containers/crash2.json"
	run_tool 0 "$TOP/tools/ccontainer/ccontainer" rm crash2
	assert_contains "$stderr" "'csnapshot rm default/crash2'" "hint"
	run_tool 0 "$TOP/tools/csnapshot/csnapshot" rm default/crash2
	assert_contains "$stderr" "removing a damaged snapshot record" "csnapshot rm"
	: >"$(snapshot_meta default/crash1)"
	run_tool 0 "$TOP/tools/ccontainer/ccontainer" rm crash1
	assert_contains "$stderr" "removing a damaged snapshot record" "ccontainer rm"
	assert_file_not_exists "$(snapshot_meta default/crash1)"
	assert_file_not_exists "$(snapshot_meta default/crash2)"
	assert_file_not_exists "$CKIT_ROOT/namespaces/default/containers/crash1.json"
	assert_file_not_exists "$CKIT_ROOT/namespaces/default/containers/crash2.json"
	# What is left is the image's one layer and its directory.
	run snapshot_keys
	assert_eq "$(wc -l <<<"$output")" 1 "snapshots left"
	assert_eq "$(ls "$CKIT_ROOT/snapshots/overlayfs/snapshots" | wc -l)" 1 \
		"directories left"
}

@test "crun-task run --rm (killed removing cgroups) leaves a removable task" {
	requires strace
	run_tool 0 cunpack "$IMG"
	local cg
	cg=$(compgen -G "/sys/fs/cgroup/cpu*/" | head -n 1)ckit/default/kill1
	run strace -f -qq -o /dev/null -P "$cg" -e trace=rmdir \
		-e inject=rmdir:signal=SIGKILL:when=1 \
		"$CRUN_TASK" run --rm "$IMG" kill1 true
	assert_eq "$status" 137 "status of the killed run"
	run_tool 0 "$TOP/tools/ccontainer/ccontainer" rm kill1
	assert_file_not_exists "$CKIT_STATE/runc/default/kill1" "runc state"
	run cgroup_dirs kill1
	assert_eq "$output" "" "cgroups left"
	run_tool 0 crun-task run --rm "$IMG" kill1 true
}

@test "ccontainer rm removes a snapshot record that is JSON but invalid" {
	local damage
	for damage in '{}' '[]' '{"key": 5}'; do
		run_tool 0 crun-task run "$IMG" inv1 true
		printf '%s' "$damage" >"$(snapshot_meta default/inv1)"
		run_tool 0 "$TOP/tools/ccontainer/ccontainer" rm inv1
		assert_contains "$stderr" "removing a damaged snapshot record" "warning"
		assert_file_not_exists "$(snapshot_meta default/inv1)" "record"
	done
}

# opens PATH LOG: the number of openat calls of PATH in the strace LOG.
opens() {
	grep -c "openat(.*\"$1\"" "$2" || true
}

@test "crun-task run --rm (snapshot record unreadable at removal) warns, keeps it" {
	requires strace
	run_tool 0 cunpack "$IMG"
	local meta n
	meta=$(snapshot_meta default/eio1)
	strace -f -o "$BATS_TEST_TMPDIR/count.log" -P "$meta" -e trace=openat \
		"$CRUN_TASK" run --rm "$IMG" eio1 true
	n=$(opens "$meta" "$BATS_TEST_TMPDIR/count.log")
	# The removal reads the record twice: whether it exists, then to remove it.
	run strace -f -qq -o /dev/null -P "$meta" -e trace=openat \
		-e inject=openat:error=EIO:when=$((n - 1)) \
		"$CRUN_TASK" run --rm "$IMG" eio1 true
	assert_eq "$status" 0 "status of the task"
	assert_contains "$output" "container 'eio1' is kept" "warning"
	assert_contains "$output" "$meta" "the file in the warning"
	assert_file_exists "$CKIT_ROOT/namespaces/default/containers/eio1.json"
	run_tool 0 "$TOP/tools/ccontainer/ccontainer" rm eio1
	assert_file_not_exists "$meta" "snapshot record"
}

@test "ccontainer rm (snapshot record unreadable) fails, a rerun finishes" {
	requires strace
	local meta
	run_tool 0 "$TOP/tools/ccontainer/ccontainer" create "$IMG" eio2
	meta=$(snapshot_meta default/eio2)
	run strace -f -qq -o /dev/null -P "$meta" -e trace=openat \
		-e inject=openat:error=EIO \
		"$TOP/tools/ccontainer/ccontainer" rm eio2
	assert_eq "$status" 1 "status"
	assert_contains "$output" "$meta" "the file in the error"
	assert_file_exists "$meta" "snapshot record"
	run_tool 0 "$TOP/tools/ccontainer/ccontainer" rm eio2
	assert_file_not_exists "$meta" "snapshot record after the rerun"
	run_tool 0 "$TOP/tools/ccontainer/ccontainer" create "$IMG" eio2
}

@test "csnapshot rm (container record unreadable) keeps the snapshot" {
	requires strace
	local record=$CKIT_ROOT/namespaces/default/containers/eio3.json
	run_tool 0 "$TOP/tools/ccontainer/ccontainer" create "$IMG" eio3
	run strace -f -qq -o /dev/null -P "$record" -e trace=openat \
		-e inject=openat:error=EIO \
		"$TOP/tools/csnapshot/csnapshot" rm default/eio3
	assert_eq "$status" 1 "status"
	assert_contains "$output" "$record" "the file in the error"
	assert_file_exists "$(snapshot_meta default/eio3)" "snapshot record"
}

@test "crun-task run --rm runs the spec's poststop hook" {
	run_tool 0 cunpack "$IMG"
	run_cspec --image "$IMG" -o "$BATS_TEST_TMPDIR/s.json" -- true
	jq --arg f "$BATS_TEST_TMPDIR/hooked" \
		'.hooks.poststop = [{path: "/bin/sh", args: ["sh", "-c", "echo ran >" + $f]}]' \
		"$BATS_TEST_TMPDIR/s.json" >"$BATS_TEST_TMPDIR/h.json"
	run_tool 0 crun-task run --rm --spec "$BATS_TEST_TMPDIR/h.json" "$IMG" hook1
	assert_eq "$(cat "$BATS_TEST_TMPDIR/hooked")" ran "poststop hook output"
	assert_file_not_exists "$CKIT_STATE/runc/default/hook1"
}

@test "crun-task run --runtime (a wrapper named runc) gets its delete" {
	mkdir -p "$BATS_TEST_TMPDIR/bin"
	cat >"$BATS_TEST_TMPDIR/bin/runc" <<-EOF
		#!/bin/sh
		echo "\$*" >>"$BATS_TEST_TMPDIR/calls"
		exec runc "\$@"
	EOF
	chmod +x "$BATS_TEST_TMPDIR/bin/runc"
	run_tool 0 crun-task run --rm --runtime "$BATS_TEST_TMPDIR/bin/runc" "$IMG" wrap1 true
	run grep -c ' delete --force wrap1$' "$BATS_TEST_TMPDIR/calls"
	assert_eq "$output" 1 "delete calls of the wrapper"
}

@test "crun-task run --spec (no cgroupsPath) gets one per namespace" {
	run_tool 0 cunpack "$IMG"
	run_cspec --image "$IMG" -o "$BATS_TEST_TMPDIR/s.json" -- sleep 30
	assert_eq "$(jq -r '.linux.cgroupsPath // "none"' "$BATS_TEST_TMPDIR/s.json")" none \
		"cgroupsPath from cspec"
	run_tool 0 crun-task run -d --spec "$BATS_TEST_TMPDIR/s.json" "$IMG" cgp1
	assert_eq "$(jq -r .linux.cgroupsPath "$CKIT_STATE/default/cgp1/config.json")" \
		/ckit/default/cgp1 "cgroupsPath of the task"
	run_tool 0 crun-task kill -s KILL cgp1
	run_tool 0 crun-task wait cgp1
	run_tool 0 crun-task delete cgp1
}

@test "crun-task run (attached) leaves unread stdin to the caller" {
	run bash -c 'printf "a\nb\n" | { "$1" run --rm "$2" in1 true; cat; }' \
		- "$CRUN_TASK" "$IMG"
	assert_eq "$status" 0 "status"
	assert_eq "$output" $'a\nb' "stdin left for the next command"
	run bash -c 'printf "one\ntwo\n" | while read -r x; do
		"$1" run --rm "$2" "in-$x" echo "ran $x"; done' - "$CRUN_TASK" "$IMG"
	assert_eq "$output" $'ran one\nran two' "a loop reading stdin"
}

@test "crun-task run (image not unpacked) runs cunpack from PATH" {
	local bin=$BATS_TEST_TMPDIR/bin wrap=$BATS_TEST_TMPDIR/wrap
	mkdir -p "$bin" "$wrap"
	cp "$CRUN_TASK" "$bin/crun-task"
	# The wrapper reads its own mask with builtins only. A grep child
	# reading the shell's status once saw SIGINT, SIGTERM and SIGCHLD
	# blocked, most likely by the shell itself while it waited.
	cat >"$wrap/cunpack" <<-SH
		#!/bin/bash
		while read -r key value; do
			[[ \$key == SigBlk: ]] && echo "SigBlk: \$value" >"$BATS_TEST_TMPDIR/sigblk"
		done </proc/self/status
		echo "\$@" >"$BATS_TEST_TMPDIR/args"
		exec "$CUNPACK" "\$@"
	SH
	chmod +x "$wrap/cunpack"
	PATH=$wrap:$PATH run_tool 0 "$bin/crun-task" run --rm "$IMG" up1 true
	# SIGHUP, SIGINT, SIGQUIT and SIGTERM are bits 0, 1, 2 and 14.
	local mask
	mask=$(awk '{print $2}' "$BATS_TEST_TMPDIR/sigblk")
	assert_eq "$(((0x$mask & 0x4007) != 0))" 0 "stop signals blocked in cunpack ($mask)"
	# The manifest resolved by crun-task is the one unpacked.
	assert_contains "$(cat "$BATS_TEST_TMPDIR/args")" "$IMG@sha256:" "reference"
}

@test "crun-task run (no --rm) keeps the container for start" {
	run_tool 0 crun-task run "$IMG" kept sh -c 'echo data >>/kept.txt; cat /kept.txt'
	assert_eq "$output" data "first run"
	assert_file_exists "$CKIT_ROOT/namespaces/default/containers/kept.json"
	assert_file_not_exists "$CKIT_STATE/default/kept"
	assert_eq "$(cat "$(snapshot_fs default/kept)/kept.txt")" data "written file"
	run_tool 125 crun-task run "$IMG" kept true
	assert_contains "$stderr" "container 'kept' already exists in namespace 'default'; remove it with 'ccontainer rm kept'"
	run_tool 0 crun-task start --rm kept
	assert_eq "$output" $'data\ndata' "second run, same snapshot"
	assert_file_not_exists "$CKIT_ROOT/namespaces/default/containers/kept.json"
	run snapshot_keys
	assert_not_contains "$output" "default/kept" "snapshot keys"
}

@test "crun-task run (two namespaces) allows the same ID" {
	run_tool 0 crun-task run "$IMG" same true
	CKIT_NAMESPACE=other run_tool 1 cunpack "$IMG"
	CKIT_NAMESPACE=other run_tool 0 cpull "$IMG"
	CKIT_NAMESPACE=other run_tool 0 crun-task run --rm "$IMG" same sh -c 'echo other'
	assert_eq "$output" other "stdout"
	assert_file_exists "$CKIT_ROOT/namespaces/default/containers/same.json"
}

@test "crun-task run --read-only makes / unwritable" {
	run_tool 1 crun-task run --rm --read-only "$IMG" ro1 touch /x
	assert_contains "$stderr" "Read-only file system"
}

@test "crun-task run --spec uses a spec from cspec" {
	run_tool 0 cunpack "$IMG"
	run_cspec --image "$IMG" -e GREETING=spec -o "$BATS_TEST_TMPDIR/s.json" \
		-- sh -c 'echo $GREETING'
	run_tool 0 crun-task run --rm --spec "$BATS_TEST_TMPDIR/s.json" "$IMG" sp1
	assert_eq "$output" spec "stdout"
}

@test "crun-task run -u app runs as that user" {
	run_tool 0 crun-task run --rm -u app "$IMG" u1 id
	assert_eq "$output" "uid=1000(app) gid=1000(app) groups=1000(app),2000(extra)" "id"
}

@test "crun-task run (image not pulled) fails with 125" {
	run_tool 125 crun-task run --rm "$REGISTRY/test/user:latest" np1 true
	assert_contains "$stderr" "not found"
}

# kill_cli ID ARGS...: start `crun-task run --rm IMG ID ARGS...` in the
# background, wait until its task has an init pid, then kill -9 the CLI.
kill_cli() {
	local id=$1 pid i
	shift

	"$CRUN_TASK" run --rm "$IMG" "$id" "$@" &
	pid=$!
	for ((i = 0; i < 200; i++)); do
		[[ -s $CKIT_STATE/default/$id/init.pid ]] && break
		sleep 0.05
	done
	kill -KILL "$pid"
	wait "$pid" || true
}

@test "crun-task run (CLI killed) leaves the task to its shim" {
	kill_cli dead sh -c 'sleep 1; exit 6'
	run_tool 0 crun-task wait dead
	assert_eq "$output" 6 "exit status recorded by the shim"
	run_tool 0 crun-task delete dead
	assert_file_not_exists "$CKIT_STATE/default/dead"
	run findmnt -rn -o TARGET
	assert_not_contains "$output" "$CKIT_STATE/default/dead" "mounts"
	run_tool 6 crun-task start --rm dead
}

@test "crun-task run --rm mounts its snapshot volatile" {
	run_tool 0 crun-task run --rm "$IMG" vol1 cat /proc/self/mountinfo
	run awk '$5 == "/" {print $NF}' <<<"$output"
	assert_contains "$output" volatile "options of the root mount"
	run_tool 0 crun-task run "$IMG" vol2 cat /proc/self/mountinfo
	run awk '$5 == "/" {print $NF}' <<<"$output"
	assert_not_contains "$output" volatile "options without --rm"
}

@test "crun-task start (volatile snapshot, machine restarted) refuses" {
	kill_cli vol3 sh -c 'echo kept >/f; sleep 1'
	run_tool 0 crun-task wait vol3
	run_tool 0 crun-task delete vol3
	echo 00000000-0000-0000-0000-000000000000 \
		>"$(dirname "$(snapshot_fs default/vol3)")/volatile-boot"
	run_tool 125 crun-task start vol3
	assert_contains "$stderr" "mounted volatile before the machine restarted" \
		"stderr"
	run_tool 0 "$TOP/tools/ccontainer/ccontainer" rm vol3
}

@test "crun-task run (shim killed, no --rm) keeps the container" {
	"$CRUN_TASK" run "$IMG" lost sh -c 'echo data >/kept.txt; sleep 3' \
		>/dev/null 2>"$BATS_TEST_TMPDIR/err" &
	local pid=$! i rc=0
	for ((i = 0; i < 200; i++)); do
		[[ -s $CKIT_STATE/default/lost/init.pid ]] && break
		sleep 0.05
	done
	sleep 0.3
	kill -KILL "$(cat "$CKIT_STATE/default/lost/shim.pid")"
	wait "$pid" || rc=$?
	assert_eq "$rc" 125 "status"
	assert_contains "$(cat "$BATS_TEST_TMPDIR/err")" "lost the task" "stderr"
	assert_file_exists "$CKIT_ROOT/namespaces/default/containers/lost.json"
	assert_eq "$(cat "$(snapshot_fs default/lost)/kept.txt")" data "written file"
	run_tool 0 "$TOP/tools/ccontainer/ccontainer" rm lost
}

@test "crun-task run -t gives the container a terminal" {
	run "$FIXTURES/pty-run" -- "$CRUN_TASK" run --rm -t "$IMG" tty1 \
		sh -c 'test -t 0 && test -t 1 && echo on-a-tty; exit 6'
	assert_eq "$status" 6 "exit status"
	assert_contains "$output" "on-a-tty" "stdout"
}

@test "crun-task run -t passes input to the terminal" {
	run "$FIXTURES/pty-run" --input $'echo typed-$((6*7))\nexit 3\n' -- \
		"$CRUN_TASK" run --rm -t "$IMG" tty2 sh
	assert_eq "$status" 3 "exit status"
	assert_contains "$output" "typed-42" "stdout"
}

@test "crun-task run (snapshot key taken) leaves no record, keeps it" {
	run_tool 0 cunpack --prepare default/x1 "$IMG"
	run_tool 125 crun-task run --rm "$IMG" x1 true
	assert_contains "$stderr" "snapshot 'default/x1' already exists"
	assert_file_not_exists "$CKIT_ROOT/namespaces/default/containers/x1.json"
	run snapshot_keys
	assert_contains "$output" "default/x1" "the earlier snapshot"
}

@test "crun-task run --spec (with spec options) exits 2" {
	run_tool 0 cunpack "$IMG"
	run_cspec --image "$IMG" -o "$BATS_TEST_TMPDIR/s.json"
	run_tool 2 crun-task run --spec "$BATS_TEST_TMPDIR/s.json" -e A=1 "$IMG" sp2
	assert_contains "$stderr" "--spec takes the whole spec"
	run_tool 2 crun-task run --spec "$BATS_TEST_TMPDIR/s.json" "$IMG" sp3 echo hi
	assert_file_not_exists "$CKIT_ROOT/namespaces/default/containers/sp2.json"
}

@test "crun-task run -t (input from a pipe) ends at its end" {
	run "$FIXTURES/pty-run" -- timeout 20 bash -c \
		"printf 'data\n' | '$CRUN_TASK' run --rm -t '$IMG' tty3 sh -c 'cat; echo done'"
	assert_eq "$status" 0 "status"
	assert_contains "$output" "done" "stdout"
}

@test "crun-task run (SIGTERM while preparing) cleans up" {
	# crun-task starts with SIGTERM blocked and pending, as if it came
	# while crun-task prepared: it must stop before the task starts and
	# leave nothing behind. (A signal sent from outside may come after
	# the start, when the container's init ignores it.)
	local rc=0
	python3 -c 'import os, signal, sys
signal.pthread_sigmask(signal.SIG_BLOCK, [signal.SIGTERM])
os.kill(os.getpid(), signal.SIGTERM)
os.execv(sys.argv[1], sys.argv[1:])' "$CRUN_TASK" run --rm "$IMG" sig1 \
		sh -c 'echo ran' >"$BATS_TEST_TMPDIR/out" 2>&1 || rc=$?
	assert_eq "$rc" 143 "exit status"
	assert_contains "$(cat "$BATS_TEST_TMPDIR/out")" "interrupted by signal 15" \
		"message"
	assert_not_contains "$(cat "$BATS_TEST_TMPDIR/out")" "ran" "container output"
	assert_file_not_exists "$CKIT_ROOT/namespaces/default/containers/sig1.json"
	assert_file_not_exists "$CKIT_STATE/default/sig1"
}
