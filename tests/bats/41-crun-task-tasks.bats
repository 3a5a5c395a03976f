#!/usr/bin/env bats
# SPDX-License-Identifier: Apache-2.0
# crun-task tasks that outlive the CLI: detach, wait, attach, exec,
# pause and resume, kill, ls, ps, metrics and the shim.

load helpers
load store
load spec

setup() {
	requires root overlay runc
	ckit_setup
	run_tool 0 cpull "$REGISTRY/test/busybox:latest"
	IMG=$REGISTRY/test/busybox:latest
}

teardown() {
	local id
	for id in $(ls "$CKIT_STATE/default" 2>/dev/null); do
		"$CRUN_TASK" delete --force "$id" >/dev/null 2>&1 || true
	done
	ckit_teardown
}

# wait_for FILE: wait up to 10 s for FILE to exist and not be empty.
wait_for() {
	local i
	for ((i = 0; i < 200; i++)); do
		[[ -s $1 ]] && return 0
		sleep 0.05
	done
	echo "timed out waiting for $1" >&2
	return 1
}

@test "crun-task run -d returns at once; wait gets the status" {
	run_tool 0 crun-task run -d "$IMG" d1 sh -c 'sleep 0.5; echo logged; exit 7'
	assert_eq "$output" "" "stdout of run -d"
	run_tool 0 crun-task wait d1
	assert_eq "$output" 7 "exit status"
	assert_eq "$(cat "$CKIT_STATE/default/d1/log")" logged "log"
	# wait works long after the task exited, from status.json.
	run_tool 0 crun-task wait d1
	assert_eq "$output" 7 "second wait"
	run_tool 0 crun-task delete d1
	assert_file_not_exists "$CKIT_STATE/default/d1"
}

@test "crun-task (no store at --root) creates none" {
	local root=$BATS_TEST_TMPDIR/typo

	CKIT_ROOT=$root run_tool 0 "$CRUN_TASK" ls
	assert_eq "$output" "" "ls output"
	assert_contains "$stderr" "crun-task: warning: no store at '$root'"
	CKIT_ROOT=$root run_tool 125 "$CRUN_TASK" run "$IMG" c1 true
	assert_contains "$stderr" "no store at '$root'" "run"
	CKIT_ROOT=$root run_tool 1 "$CRUN_TASK" kill c1
	assert_contains "$stderr" "no store at '$root'" "kill"
	assert_file_not_exists "$root" "store root"
}

@test "crun-task start (no such container) names the start" {
	run_tool 125 "$CRUN_TASK" start nosuch
	assert_contains "$stderr" "crun-task: start container 'nosuch': container 'nosuch' not found in namespace 'default'"
}

@test "crun-task (namespace that does not exist) creates none" {
	run_tool 0 "$CRUN_TASK" ls -n typo
	assert_eq "$output" "" "ls output"
	run_tool 125 "$CRUN_TASK" start -n typo c1
	assert_contains "$stderr" "start container 'c1': container 'c1' not found in namespace 'typo'"
	run_tool 1 "$CRUN_TASK" kill -n typo c1
	assert_file_not_exists "$CKIT_ROOT/namespaces/typo" "namespace"
}

@test "crun-task ls shows status and exit code" {
	run_tool 0 crun-task run -d "$IMG" l1 sleep 30
	run_tool 0 crun-task run -d "$IMG" l2 sh -c 'exit 3'
	run_tool 0 crun-task wait l2
	run_tool 0 crun-task ls
	assert_contains "$output" $'l2\t' "l2 listed"
	local l1 l2
	l1=$(grep '^l1' <<<"$output")
	l2=$(grep '^l2' <<<"$output")
	assert_contains "$l1" $'\trunning\t-' "l1 running"
	assert_contains "$l2" $'\tstopped\t3' "l2 stopped with 3"
	run_tool 0 crun-task ls --json
	assert_eq "$(jq -r 'select(.id == "l2") | .exit_status' <<<"$output")" 3 "json exit status"
	run_tool 0 crun-task ls -q
	assert_eq "$output" $'l1\nl2' "ids"
}

@test "crun-task attach streams output and the exit status" {
	run_tool 0 crun-task run -d "$IMG" at1 sh -c 'sleep 1; echo out; echo err >&2; exit 9'
	run_tool 9 crun-task attach at1
	assert_eq "$output" out "stdout"
	assert_eq "$stderr" err "stderr"
}

@test "crun-task attach passes stdin to a detached task" {
	run_tool 0 crun-task run -d "$IMG" at2 sh -c 'read line; echo got $line'
	run_tool 0 crun-task attach at2 <<<"hello"
	assert_eq "$output" "got hello" "stdout"
}

@test "crun-task create then start runs the task attached" {
	run_tool 0 crun-task create "$IMG" cs1 sh -c 'echo started; exit 4'
	run_tool 0 crun-task ls
	assert_contains "$output" $'\tcreated\t' "created"
	run_tool 4 crun-task start cs1
	assert_eq "$output" started "stdout"
	run_tool 125 crun-task start cs1
	assert_contains "$stderr" "only a created task can be started"
}

@test "crun-task start (task done before the attach) prints its output" {
	# runc start returns late, after the task has exited and its shim
	# has sent the output and the exit status and closed the socket.
	mkdir -p "$BATS_TEST_TMPDIR/bin"
	cat >"$BATS_TEST_TMPDIR/bin/runc" <<-EOF
		#!/bin/sh
		runc "\$@"
		rc=\$?
		case " \$* " in *" start "*) sleep 1 ;; esac
		exit \$rc
	EOF
	chmod +x "$BATS_TEST_TMPDIR/bin/runc"
	run_tool 0 crun-task create --runtime "$BATS_TEST_TMPDIR/bin/runc" "$IMG" \
		late1 sh -c 'echo started; exit 4'
	run_tool 4 crun-task start late1
	assert_eq "$output" started "stdout"
}

@test "crun-task exec runs in a running task" {
	run_tool 0 crun-task run -d "$IMG" ex1 sh -c 'echo inside >/tmp/mark; sleep 30'
	wait_for "$CKIT_STATE/default/ex1/init.pid"
	sleep 0.3
	run_tool 0 crun-task exec --exec-id e1 ex1 cat /tmp/mark
	assert_eq "$output" inside "exec output"
	run_tool 5 crun-task exec --exec-id e2 ex1 sh -c 'exit 5'
	run_tool 127 crun-task exec --exec-id e3 ex1 /no/such/file
	run_tool 2 crun-task exec ex1 true
	assert_contains "$stderr" "exec needs --exec-id"
}

@test "crun-task pause stops a counter, resume restarts it" {
	run_tool 0 crun-task run -d "$IMG" pr1 sh -c 'i=0; while :; do i=$((i+1)); echo $i >/tmp/n; sleep 0.05; done'
	wait_for "$CKIT_STATE/default/pr1/init.pid"
	sleep 0.5
	run_tool 0 crun-task pause pr1
	local fs a b c
	fs=$(snapshot_fs default/pr1)
	a=$(cat "$fs/tmp/n")
	sleep 0.5
	b=$(cat "$fs/tmp/n")
	assert_eq "$b" "$a" "counter while paused"
	run_tool 0 crun-task ls
	assert_contains "$output" $'\tpaused\t' "paused status"
	run_tool 0 crun-task resume pr1
	# A loaded machine may take a while to schedule the thawed task.
	local i
	for ((i = 0; i < 100; i++)); do
		c=$(cat "$fs/tmp/n")
		[[ -n $c && $c != "$b" ]] && break
		sleep 0.1
	done
	[[ -n $c && $c != "$b" ]] || { echo "counter did not move: '$b' then '$c'" >&2; return 1; }
}

@test "crun-task kill sends signals; delete refuses a running task" {
	run_tool 0 crun-task run -d "$IMG" k1 sh -c 'trap "exit 12" USR1; while :; do sleep 0.05; done'
	wait_for "$CKIT_STATE/default/k1/init.pid"
	sleep 0.3
	run_tool 1 crun-task delete k1
	assert_contains "$stderr" "task 'k1' is running; stop it first or use --force"
	run_tool 0 crun-task kill -s USR1 k1
	run_tool 0 crun-task wait k1
	assert_eq "$output" 12 "exit status"
	run_tool 2 crun-task kill -s NOPE k1
	run_tool 0 crun-task run -d "$IMG" k2 sleep 30
	run_tool 0 crun-task kill -s 9 --all k2
	run_tool 0 crun-task wait k2
	assert_eq "$output" 137 "SIGKILL status"
}

@test "crun-task delete --force stops and removes a running task" {
	run_tool 0 crun-task run -d "$IMG" f1 sleep 30
	run_tool 0 crun-task delete --force f1
	assert_file_not_exists "$CKIT_STATE/default/f1"
	run runc --root "$CKIT_STATE/runc/default" list -q
	assert_not_contains "$output" f1 "runc state"
}

@test "crun-task ps and metrics describe a running task" {
	run_tool 0 crun-task run -d --pids-limit 20 "$IMG" m1 sh -c 'sleep 30 & wait'
	wait_for "$CKIT_STATE/default/m1/init.pid"
	sleep 0.3
	run_tool 0 crun-task ps m1
	assert_contains "$output" "sh -c sleep 30 & wait" "init"
	assert_contains "$output" "sleep 30" "child"
	run_tool 0 crun-task metrics m1
	assert_eq "$(jq -r .pids.current <<<"$output")" 2 "pids"
	assert_eq "$(jq -r .pids.limit <<<"$output")" 20 "pids limit"
	[[ $(jq -r .memory.usage_bytes <<<"$output") -gt 0 ]]
	[[ $(jq -r .cpu.usage_ns <<<"$output") -gt 0 ]]
}

@test "crun-task (shim killed) reports the task instead of hanging" {
	run_tool 0 crun-task run -d "$IMG" sk1 sleep 30
	wait_for "$CKIT_STATE/default/sk1/shim.pid"
	kill -KILL "$(cat "$CKIT_STATE/default/sk1/shim.pid")"
	sleep 0.2
	run_tool 0 crun-task ls --json
	assert_eq "$(jq -r .shim <<<"$output")" gone "shim"
	assert_eq "$(jq -r .status <<<"$output")" running "status"
	run_tool 1 timeout 10 "$CRUN_TASK" wait sk1
	assert_contains "$stderr" "shim is gone" "wait"
	run_tool 1 crun-task delete sk1
	run_tool 0 crun-task delete --force sk1
	assert_file_not_exists "$CKIT_STATE/default/sk1"
}

@test "crun-task run -d (two namespaces) keeps the same ID apart" {
	run_tool 0 crun-task run -d "$IMG" same sh -c 'exit 1'
	CKIT_NAMESPACE=other run_tool 0 cpull "$IMG"
	CKIT_NAMESPACE=other run_tool 0 crun-task run -d "$IMG" same sh -c 'exit 2'
	run_tool 0 crun-task wait same
	assert_eq "$output" 1 "default namespace"
	CKIT_NAMESPACE=other run_tool 0 crun-task wait same
	assert_eq "$output" 2 "other namespace"
	CKIT_NAMESPACE=other run_tool 0 crun-task delete same
}

@test "crun-task (20 tasks at once) all start and are waited" {
	local i pids=()
	for ((i = 0; i < 20; i++)); do
		"$CRUN_TASK" run -d "$IMG" "p$i" sh -c "exit $i" &
		pids+=($!)
	done
	for i in "${pids[@]}"; do
		wait "$i"
	done
	for ((i = 0; i < 20; i++)); do
		"$CRUN_TASK" wait "p$i" >"$BATS_TEST_TMPDIR/w$i" &
		pids[i]=$!
	done
	for ((i = 0; i < 20; i++)); do
		wait "${pids[i]}"
		assert_eq "$(cat "$BATS_TEST_TMPDIR/w$i")" "$i" "status of p$i"
	done
}

@test "crun-task start (ccontainer record) runs its stored spec" {
	local cc=$TOP/tools/ccontainer/ccontainer
	run_tool 0 cunpack "$IMG"
	run_cspec --image "$IMG" -o "$BATS_TEST_TMPDIR/s.json" -- sh -c 'echo from-spec; sleep 1'
	run_tool 0 "$cc" create --spec "$BATS_TEST_TMPDIR/s.json" --image "$IMG" cc1
	run_tool 0 crun-task start -d cc1
	run_tool 1 "$cc" rm cc1
	assert_contains "$stderr" "cc1" "rm refused while the task runs"
	run_tool 0 crun-task wait cc1
	assert_eq "$output" 0 "exit status"
	assert_eq "$(cat "$CKIT_STATE/default/cc1/log")" from-spec "log"
	run_tool 0 crun-task delete cc1
	run_tool 0 "$cc" rm cc1
	assert_file_not_exists "$CKIT_ROOT/namespaces/default/containers/cc1.json"
}

# runc cannot make mount points in a read-only root, so a view needs an
# image that has them all, as Debian's has.
@test "crun-task start (--view container) sees the image read-only" {
	requires debootstrap
	fixture_debian
	local cc=$TOP/tools/ccontainer/ccontainer deb=$REGISTRY/test/debian:bookworm
	run_tool 0 cpull "$deb"
	run_tool 0 cunpack "$deb"
	run_cspec --image "$deb" -o "$BATS_TEST_TMPDIR/s.json" -- touch /x
	run_tool 0 "$cc" create --view --spec "$BATS_TEST_TMPDIR/s.json" --image "$deb" v1
	run_tool 1 crun-task start v1
	assert_contains "$stderr" "Read-only file system"
	run_tool 0 "$cc" rm v1
}

# crun 1.8 refuses a hybrid cgroup layout (v1 with a v2 mount beside
# it); the wrapper hides the v2 mount in a mount namespace of its own.
crun_wrapper() {
	cat >"$BATS_TEST_TMPDIR/crun" <<-'SH'
		#!/bin/sh
		exec unshare -m sh -c 'umount /sys/fs/cgroup/unified 2>/dev/null; exec crun "$@"' crun "$@"
	SH
	chmod +x "$BATS_TEST_TMPDIR/crun"
}

@test "crun-task run --runtime crun runs and keeps the runtime" {
	command -v crun >/dev/null || skip "crun is not installed"
	crun_wrapper
	run_tool 4 crun-task run --rm --runtime "$BATS_TEST_TMPDIR/crun" "$IMG" cr1 \
		sh -c 'echo via crun; exit 4'
	assert_eq "$output" "via crun" "stdout"
	run_tool 0 crun-task run -d --runtime "$BATS_TEST_TMPDIR/crun" "$IMG" cr2 sleep 30
	run_tool 0 crun-task ls
	assert_contains "$output" $'cr2\t' "listed"
	assert_contains "$output" $'\trunning\t' "running, as crun reports"
	# Later calls without --runtime use crun, which the task was made with.
	run_tool 0 crun-task kill -s KILL cr2
	run_tool 0 crun-task wait cr2
	assert_eq "$output" 137 "exit status"
	run_tool 0 crun-task delete cr2
	run crun --root "$CKIT_STATE/runc/default" list -q
	assert_not_contains "$output" cr2 "crun's state"
}

@test "crun-task delete (task still starting) refuses without --force" {
	run_tool 0 cunpack -q "$IMG"
	run_tool 0 cspec --image "$IMG" -- true
	jq '.hooks = {"createRuntime": [{"path": "/bin/sleep", "args": ["sleep", "30"]}]}' \
		<<<"$output" >"$BATS_TEST_TMPDIR/spec.json"
	"$CRUN_TASK" run --rm --spec "$BATS_TEST_TMPDIR/spec.json" "$IMG" slow \
		>/dev/null 2>&1 &
	local pid=$! i
	for ((i = 0; i < 100; i++)); do
		[[ -s $CKIT_STATE/default/slow/shim.pid ]] && break
		sleep 0.05
	done
	sleep 0.5
	run_tool 1 crun-task delete slow
	assert_contains "$stderr" "task 'slow' is starting" "stderr"
	assert_file_exists "$CKIT_STATE/default/slow/config.json"
	run_tool 0 crun-task delete --force slow
	assert_file_not_exists "$CKIT_STATE/default/slow"
	# runc made the task's cgroups before its hook ran.
	run compgen -G "/sys/fs/cgroup/*/ckit/default/slow"
	assert_eq "$output" "" "cgroups left"
	local rc=0
	wait "$pid" || rc=$?
	assert_eq "$rc" 125 "status of the run"
}

