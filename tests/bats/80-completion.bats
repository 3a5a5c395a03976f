#!/usr/bin/env bats
# SPDX-License-Identifier: Apache-2.0
# bash and zsh completion scripts.

load helpers

setup() {
	ckit_setup
	mkdir -p "$CKIT_ROOT/namespaces/default/containers"
	cat >"$CKIT_ROOT/namespaces/default/index.json" <<-'JSON'
		{"schemaVersion":2,"manifests":[{"annotations":{"org.opencontainers.image.ref.name":"docker.io/library/alpha:1"}},{"annotations":{"org.opencontainers.image.ref.name":"docker.io/library/beta:2"}}]}
	JSON
	echo '{}' >"$CKIT_ROOT/namespaces/default/containers/web1.json"
	echo '{}' >"$CKIT_ROOT/namespaces/default/containers/web1.spec.json"
	mkdir -p "$CKIT_STATE/default/task1"
	echo '{}' >"$CKIT_STATE/default/task1/config.json"
}

# complete_words SCRIPT FUNCTION WORD...: run the bash completion FUNCTION
# from SCRIPT on the command line WORD... (the last word is being
# completed) and print the candidates, one per line.
complete_words() {
	local script=$1 fn=$2
	shift 2
	bash -c '
		source "$1"; fn=$2; shift 2
		COMP_WORDS=("$@"); COMP_CWORD=$(($# - 1))
		"$fn"; printf "%s\n" "${COMPREPLY[@]}"' _ "$script" "$fn" "$@"
}

@test "completion scripts (bash -n, zsh -n) parse" {
	local f
	for f in "$TOP"/completions/bash/*; do
		bash -n "$f"
	done
	if command -v zsh >/dev/null; then
		for f in "$TOP"/completions/zsh/_*; do
			zsh -n "$f"
		done
	fi
}

@test "completion (every tool) has bash and zsh scripts" {
	local t
	for t in $(sed -n 's/^TOOLS := //p' "$TOP/Makefile"); do
		assert_file_exists "$TOP/completions/bash/$t" "bash completion of $t"
		assert_file_exists "$TOP/completions/zsh/_$t" "zsh completion of $t"
	done
}

@test "completion cunpack (operand) lists store images" {
	run complete_words "$TOP/completions/bash/cunpack" _cunpack cunpack ""
	assert_eq "$output" $'docker.io/library/alpha:1\ndocker.io/library/beta:2' "candidates"
}

@test "completion cunpack --no- lists the negative options" {
	run complete_words "$TOP/completions/bash/cunpack" _cunpack cunpack --no-
	assert_eq "$output" $'--no-sync\n--no-flatten' "candidates"
	run complete_words "$TOP/completions/bash/cunpack" _cunpack cunpack --fl
	assert_eq "$output" "--flatten" "candidates"
}

@test "completion cspec --cap-add lists capabilities" {
	run complete_words "$TOP/completions/bash/cspec" _cspec cspec --cap-add sys_a
	assert_eq "$output" "SYS_ADMIN" "candidates"
}

@test "completion cspec --image lists store images" {
	run complete_words "$TOP/completions/bash/cspec" _cspec cspec --image docker.io/library/b
	assert_eq "$output" "docker.io/library/beta:2" "candidates"
}

@test "completion crun-task (first word) lists commands" {
	run complete_words "$TOP/completions/bash/crun-task" _crun_task crun-task ""
	assert_contains "$output" "run" "candidates"
	assert_contains "$output" "delete" "candidates"
}

@test "completion crun-task run (after options) lists images" {
	run complete_words "$TOP/completions/bash/crun-task" _crun_task \
		crun-task run --rm -e A=1 --cap-drop ALL docker.io/library/a
	assert_eq "$output" "docker.io/library/alpha:1" "candidates"
}

@test "completion crun-task run --cap-drop lists capabilities" {
	run complete_words "$TOP/completions/bash/crun-task" _crun_task \
		crun-task run --cap-drop net_r
	assert_eq "$output" "NET_RAW" "candidates"
}

@test "completion crun-task start lists containers" {
	run complete_words "$TOP/completions/bash/crun-task" _crun_task crun-task start ""
	assert_eq "$output" "web1" "candidates"
}

@test "completion crun-task wait, kill, delete list tasks" {
	local cmd
	for cmd in wait kill delete attach ps; do
		run complete_words "$TOP/completions/bash/crun-task" _crun_task crun-task "$cmd" ""
		assert_eq "$output" "task1" "candidates for $cmd"
	done
	run complete_words "$TOP/completions/bash/crun-task" _crun_task crun-task kill -s K
	assert_eq "$output" "KILL" "signal names"
}
