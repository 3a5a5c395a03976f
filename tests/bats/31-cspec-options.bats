#!/usr/bin/env bats
# SPDX-License-Identifier: Apache-2.0
# cspec and crun-task run options: each changes the spec as intended and
# the container behaves so under runc.

load helpers
load store
load spec

setup() {
	requires root overlay runc
	ckit_setup
	IMG=$REGISTRY/test/busybox:latest
	run_tool 0 cpull "$IMG"
	run_tool 0 cunpack "$IMG"
}

teardown() {
	ckit_teardown
}

# spec_with OPTION...: write the spec for $IMG with the options to
# $BATS_TEST_TMPDIR/s.json, validate it and leave it in $output.
spec_with() {
	run_cspec -o "$BATS_TEST_TMPDIR/s.json" --image "$IMG" "$@"
	validate_spec "$BATS_TEST_TMPDIR/s.json"
	output=$(cat "$BATS_TEST_TMPDIR/s.json")
}

# probe_dir: a directory holding a static syscall-probe binary.
probe_dir() {
	local dir=$BATS_TEST_TMPDIR/probe
	mkdir -p "$dir"
	gcc -static -O2 -o "$dir/syscall-probe" "$FIXTURES/syscall-probe.c"
	echo "$dir"
}

@test "cspec (defaults) adds the seccomp profile" {
	spec_with
	assert_eq "$(jq -r .linux.seccomp.defaultAction <<<"$output")" SCMP_ACT_ERRNO "default action"
	assert_contains "$(jq -c .linux.seccomp.architectures <<<"$output")" SCMP_ARCH_X86_64 "architectures"
	assert_contains "$(jq -c '.linux.seccomp.syscalls[0].names' <<<"$output")" '"read"' "allow-list"
	run jq -r '[.linux.seccomp.syscalls[].names[]] | index("keyctl")' <<<"$output"
	assert_eq "$output" null "keyctl allowed"
}

@test "cspec lists the x32 architecture only where the kernel runs x32" {
	[[ $(uname -m) == x86_64 ]] || skip "x32 exists on x86_64 only"
	spec_with
	local arches x32
	arches=$(jq -c .linux.seccomp.architectures <<<"$output")
	assert_contains "$arches" SCMP_ARCH_X86 "32-bit x86 kept"
	# getpid (39) with the x32 bit set: ENOSYS on a kernel without x32.
	x32=$(python3 -c 'import ctypes
libc = ctypes.CDLL(None, use_errno=True)
print("yes" if libc.syscall(0x40000000 | 39) >= 0 else "no")')
	if [[ $x32 == yes ]]; then
		assert_contains "$arches" SCMP_ARCH_X32 "x32 on a kernel with x32"
	else
		assert_not_contains "$arches" SCMP_ARCH_X32 "x32 on a kernel without x32"
	fi
}

@test "cspec --no-seccomp and --privileged drop seccomp" {
	spec_with --no-seccomp
	assert_eq "$(jq -r '.linux.seccomp // "none"' <<<"$output")" none "--no-seccomp"
	spec_with --privileged
	assert_eq "$(jq -r '.linux.seccomp // "none"' <<<"$output")" none "--privileged"
	assert_eq "$(jq -r '.linux.maskedPaths // "none"' <<<"$output")" none "masked paths"
	assert_contains "$(jq -c .process.capabilities.bounding <<<"$output")" CAP_SYS_ADMIN "caps"
	assert_eq "$(jq -c '.linux.resources.devices[0]' <<<"$output")" '{"allow":true,"access":"rwm"}' "devices"
	assert_contains "$(jq -c '[.linux.devices[].path]' <<<"$output")" '"/dev/null"' "host devices"
}

@test "cspec --cap-add and --cap-drop edit all three sets" {
	spec_with --cap-add sys_admin --cap-drop CAP_NET_RAW --cap-drop chown
	local set
	for set in bounding effective permitted; do
		assert_contains "$(jq -c ".process.capabilities.$set" <<<"$output")" CAP_SYS_ADMIN "$set has SYS_ADMIN"
		assert_not_contains "$(jq -c ".process.capabilities.$set" <<<"$output")" CAP_NET_RAW "$set lacks NET_RAW"
		assert_not_contains "$(jq -c ".process.capabilities.$set" <<<"$output")" CAP_CHOWN "$set lacks CHOWN"
	done
	# CAP_SYS_ADMIN unlocks the syscalls that need it.
	assert_contains "$(jq -c '[.linux.seccomp.syscalls[].names[]]' <<<"$output")" '"mount"' "mount allowed"
}

@test "cspec --cap-drop ALL --cap-add X leaves X" {
	spec_with --cap-drop ALL --cap-add KILL
	assert_eq "$(jq -c .process.capabilities.bounding <<<"$output")" '["CAP_KILL"]' "bounding"
}

@test "cspec --net-host --pid-host --ipc-host share namespaces" {
	spec_with --net-host --pid-host --ipc-host
	assert_eq "$(jq -r '[.linux.namespaces[].type] | join(",")' <<<"$output")" "uts,mount" "namespaces"
	assert_contains "$(jq -c '[.mounts[].destination]' <<<"$output")" '"/etc/resolv.conf"' "resolv.conf"
}

@test "cspec resource options set linux.resources" {
	spec_with --memory-limit 64m --cpus 1.5 --cpu-shares 512 --pids-limit 100 \
		--cgroup /ckit-test/x
	assert_eq "$(jq -c .linux.resources.memory <<<"$output")" '{"limit":67108864}' "memory"
	assert_eq "$(jq -c .linux.resources.cpu <<<"$output")" '{"quota":150000,"period":100000,"shares":512}' "cpu"
	assert_eq "$(jq -c .linux.resources.pids <<<"$output")" '{"limit":100}' "pids"
	assert_eq "$(jq -r .linux.cgroupsPath <<<"$output")" /ckit-test/x "cgroup"
}

@test "cspec --rlimit, --sysctl, --annotation, --apparmor-profile" {
	spec_with --rlimit nofile=4096:8192 --rlimit RLIMIT_NPROC=50 \
		--sysctl net.ipv4.ip_forward=1 --annotation a.b=c \
		--apparmor-profile ckit-test --allow-new-privileges
	assert_eq "$(jq -c '.process.rlimits | map({(.type): [.soft,.hard]}) | add' <<<"$output")" \
		'{"RLIMIT_NOFILE":[4096,8192],"RLIMIT_NPROC":[50,50]}' "rlimits"
	assert_eq "$(jq -c .linux.sysctl <<<"$output")" '{"net.ipv4.ip_forward":"1"}' "sysctl"
	assert_eq "$(jq -r '.annotations["a.b"]' <<<"$output")" c "annotation"
	assert_eq "$(jq -r .process.apparmorProfile <<<"$output")" ckit-test "apparmor"
	assert_eq "$(jq -r .process.noNewPrivileges <<<"$output")" false "noNewPrivileges"
}

@test "cspec --mount and --device add to the spec" {
	spec_with --mount type=bind,src=/etc,dst=/host-etc,options=rbind:ro --device /dev/fuse:rw
	assert_eq "$(jq -c '.mounts[-1]' <<<"$output")" \
		'{"destination":"/host-etc","type":"bind","source":"/etc","options":["rbind","ro"]}' "mount"
	assert_eq "$(jq -c '.linux.devices[-1] | [.path,.type,.major,.minor]' <<<"$output")" '["/dev/fuse","c",10,229]' "device"
	assert_eq "$(jq -c '.linux.resources.devices[-1] | [.allow,.access]' <<<"$output")" '[true,"rw"]' "device rule"
}

@test "cspec --env-file merges variables" {
	printf '# comment\n\nA=1\nPATH=/opt/bin\nFROM_HOST\n' >"$BATS_TEST_TMPDIR/env"
	FROM_HOST=yes spec_with --env-file "$BATS_TEST_TMPDIR/env" -e B=2
	assert_eq "$(jq -c .process.env <<<"$output")" '["PATH=/opt/bin","A=1","FROM_HOST=yes","B=2"]' "env"
}

@test "cspec (bad option values) fails with no output" {
	local bad
	for bad in "--cap-add NOT_A_CAP" "--mount type=bind,src=/a" \
		"--mount src=/a,dst=/b" "--mount type=bind,src=/a,dst=rel" \
		"--rlimit bogus=1" "--rlimit nofile=9:1" "--memory-limit lots" \
		"--cpus 0" "--pids-limit -1" "--device /etc/passwd" "--sysctl novalue" \
		"--env =x" "--cwd relative"; do
		# shellcheck disable=SC2086
		run_tool 2 cspec --image "$IMG" $bad
		assert_eq "$output" "" "stdout for $bad"
		assert_contains "$stderr" "cspec: invalid ${bad%% *}" "message for $bad"
		assert_contains "$stderr" "Try 'cspec --help'" "hint for $bad"
	done
}

@test "cspec (unreadable env file, missing user) fails with no output" {
	run_tool 1 cspec --image "$IMG" --env-file "$BATS_TEST_TMPDIR/none"
	assert_eq "$output" "" "stdout"
	assert_contains "$stderr" "--env-file: open '$BATS_TEST_TMPDIR/none': No such file" "env file"
	run_tool 1 cspec --image "$IMG" -u nobody-here
	assert_eq "$output" "" "stdout"
	assert_contains "$stderr" "user 'nobody-here' not found" "user"
	printf '{"not":"a profile"}' >"$BATS_TEST_TMPDIR/p.json"
	run_tool 1 cspec --image "$IMG" --seccomp-profile "$BATS_TEST_TMPDIR/p.json"
	assert_contains "$stderr" "invalid --seccomp-profile" "profile"
}

@test "crun-task run (default seccomp) blocks keyctl with EPERM" {
	local dir
	dir=$(probe_dir)
	run_tool 0 crun-task run --rm --mount "type=bind,src=$dir,dst=/t,options=rbind:ro" \
		"$IMG" sc1 sh -c '/t/syscall-probe keyctl; /t/syscall-probe getpid; echo still running'
	assert_eq "${lines[0]}" "keyctl EPERM" "keyctl"
	assert_eq "${lines[1]}" "getpid ok" "getpid"
	assert_eq "${lines[2]}" "still running" "workload"
}

@test "crun-task run --no-seccomp allows keyctl" {
	local dir
	dir=$(probe_dir)
	run_tool 0 crun-task run --rm --no-seccomp \
		--mount "type=bind,src=$dir,dst=/t,options=rbind:ro" "$IMG" sc2 /t/syscall-probe keyctl
	assert_not_contains "$output" "EPERM" "keyctl"
}

@test "crun-task run --cap-drop removes it from /proc/self/status" {
	run_tool 0 crun-task run --rm "$IMG" cap1 grep CapBnd /proc/self/status
	local with=${output##*$'\t'}
	run_tool 0 crun-task run --rm --cap-drop NET_RAW "$IMG" cap2 grep CapBnd /proc/self/status
	local without=${output##*$'\t'}
	# CAP_NET_RAW is bit 13.
	assert_eq "$(( (16#$with >> 13) & 1 ))" 1 "NET_RAW without --cap-drop"
	assert_eq "$(( (16#$without >> 13) & 1 ))" 0 "NET_RAW with --cap-drop"
}

@test "crun-task run --cap-add SYS_ADMIN lets unshare through" {
	local dir
	dir=$(probe_dir)
	local m="type=bind,src=$dir,dst=/t,options=rbind:ro"
	run_tool 0 crun-task run --rm --mount "$m" "$IMG" un1 /t/syscall-probe unshare
	assert_eq "$output" "unshare EPERM" "without SYS_ADMIN"
	run_tool 0 crun-task run --rm --cap-add SYS_ADMIN --mount "$m" "$IMG" un2 /t/syscall-probe unshare
	assert_eq "$output" "unshare ok" "with SYS_ADMIN"
}

@test "crun-task run --env-file and --hostname reach the process" {
	printf 'GREETING=from-file\n' >"$BATS_TEST_TMPDIR/env"
	run_tool 0 crun-task run --rm --env-file "$BATS_TEST_TMPDIR/env" --hostname box1 \
		"$IMG" env1 sh -c 'echo $GREETING $(hostname)'
	assert_eq "$output" "from-file box1" "stdout"
}

@test "crun-task run --pids-limit and --memory-limit reach the cgroup" {
	"$CRUN_TASK" run --rm --pids-limit 42 --memory-limit 32m "$IMG" cg1 sleep 30 &
	local pid=$! i init="" path
	for ((i = 0; i < 200; i++)); do
		init=$(cat "$CKIT_STATE/default/cg1/init.pid" 2>/dev/null) && [[ -n $init ]] && break
		sleep 0.05
	done
	path=$(awk -F: '$2 == "pids" { print $3 }' "/proc/$init/cgroup")
	local pids_max mem_max
	pids_max=$(cat "/sys/fs/cgroup/pids$path/pids.max")
	path=$(awk -F: '$2 == "memory" { print $3 }' "/proc/$init/cgroup")
	mem_max=$(cat "/sys/fs/cgroup/memory$path/memory.limit_in_bytes")
	kill -TERM "$pid"
	wait "$pid" || true
	assert_eq "$pids_max" 42 "pids.max"
	assert_eq "$mem_max" 33554432 "memory limit"
	assert_contains "$path" "/ckit/default/cg1" "cgroup path"
}

# umoci unpack builds config.json from the image config too; the fields
# that come from the image must agree. umoci adds TERM and HOME, and
# lists no primary group among additionalGids, where containerd (since
# 1.6.18) and ckit do.
@test "cspec (image fields) agrees with umoci unpack" {
	requires umoci debootstrap
	fixture_debian
	local name tag ref
	for name in busybox user layers debian; do
		tag=latest
		[[ $name == debian ]] && tag=bookworm
		ref=$REGISTRY/test/$name:$tag
		run_tool 0 cpull "$ref"
		run_tool 0 cunpack "$ref"
		run_cspec --image "$ref"
		local ours=$output
		rm -rf "$BATS_TEST_TMPDIR/umoci"
		# umoci 0.4.7 cannot read zstd layers; layers-gzip has the
		# same config.
		umoci unpack --image "$(fixture_layout "${name/layers/layers-gzip}"):$tag" \
			"$BATS_TEST_TMPDIR/umoci" >/dev/null
		local theirs
		theirs=$(cat "$BATS_TEST_TMPDIR/umoci/config.json")
		assert_eq "$(jq -c .process.args <<<"$ours")" "$(jq -c .process.args <<<"$theirs")" "$name args"
		assert_eq "$(jq -c .process.cwd <<<"$ours")" "$(jq -c .process.cwd <<<"$theirs")" "$name cwd"
		assert_eq "$(jq -c .process.env <<<"$ours")" \
			"$(jq -c '.process.env | map(select(startswith("TERM=") or startswith("HOME=") | not))' <<<"$theirs")" "$name env"
		assert_eq "$(jq -c '.process.user | [.uid,.gid]' <<<"$ours")" \
			"$(jq -c '.process.user | [.uid,.gid]' <<<"$theirs")" "$name uid, gid"
		assert_eq "$(jq -c '.process.user as $u | ($u.additionalGids // []) - [$u.gid]' <<<"$ours")" \
			"$(jq -c '.process.user.additionalGids // []' <<<"$theirs")" "$name additional gids"
	done
}

# push_variant NAME UMOCI-CONFIG-ARGS...: push a copy of test/busybox with
# its config changed by umoci as $REGISTRY/test/NAME:latest, and pull and
# unpack it.
push_variant() {
	local name=$1 src=$BATS_TEST_TMPDIR/$1
	shift
	cp -a "$(fixture_layout busybox)" "$src"
	umoci config --image "$src:latest" --tag latest "$@"
	skopeo copy -q --dest-tls-verify=false "oci:$src:latest" \
		"docker://$REGISTRY/test/$name:latest"
	run_tool 0 cpull "$REGISTRY/test/$name:latest"
	run_tool 0 cunpack "$REGISTRY/test/$name:latest"
}

@test "cspec -v reports ports and volumes it leaves out" {
	requires umoci skopeo
	push_variant ports --config.exposedports 8080/tcp --config.volume /data
	run_cspec -v --image "$REGISTRY/test/ports:latest"
	assert_contains "$stderr" "image exposes port '8080/tcp'; the spec does not act on it" "port"
	assert_contains "$stderr" "image declares volume '/data'" "volume"
	assert_eq "$(jq -r '[.mounts[].destination] | index("/data")' <<<"$output")" null "no volume mount"
	run_cspec --image "$REGISTRY/test/ports:latest"
	assert_eq "$stderr" "" "stderr without -v"
}

@test "crun-task run (Entrypoint [\"\"] and Cmd) runs the Cmd" {
	requires umoci skopeo
	push_variant emptyep --config.entrypoint '' --config.cmd sh \
		--config.cmd -c --config.cmd 'echo ran cmd'
	run_cspec --image "$REGISTRY/test/emptyep:latest"
	assert_eq "$(jq -c .process.args <<<"$output")" '["sh","-c","echo ran cmd"]' "args"
	run_tool 0 crun-task run --rm "$REGISTRY/test/emptyep:latest" ep1
	assert_eq "$output" "ran cmd" "stdout"
}

@test "cspec --snapshot KEY looks users up in that snapshot" {
	run_tool 0 cunpack --prepare work "$IMG"
	local fs
	fs=$(snapshot_fs work)
	mkdir -p "$fs/etc"
	{ cat "$(snapshot_fs "$(chain_id_of busybox)")/etc/passwd"
	  echo 'late:x:3000:3000::/:/bin/sh'; } >"$fs/etc/passwd"
	run_cspec --snapshot work -u late --image "$IMG"
	assert_eq "$(jq -c '.process.user | [.uid,.gid]' <<<"$output")" '[3000,3000]' "user"
	run_tool 1 cspec -u late --image "$IMG"
	assert_contains "$stderr" "user 'late' not found" "without --snapshot"
	run_tool 1 cspec --snapshot nosuch --image "$IMG"
	assert_contains "$stderr" "snapshot 'nosuch' not found" "missing snapshot"
}

@test "crun-task run --cwd (missing directory) is created by runc" {
	run_tool 0 crun-task run --rm --cwd /made/here "$IMG" cwd1 pwd
	assert_eq "$output" /made/here "cwd"
}

# push_with_layer NAME TYPE: push test/busybox plus a layer whose
# /etc/passwd is a node of TYPE (chr or fifo), with User app.
push_with_layer() {
	local name=$1 type=$2 src=$BATS_TEST_TMPDIR/$1
	cp -a "$(fixture_layout busybox)" "$src"
	python3 - "$BATS_TEST_TMPDIR/$name.tar" "$type" <<-'PY'
		import sys, tarfile
		t = tarfile.TarInfo("etc/passwd")
		t.type = tarfile.CHRTYPE if sys.argv[2] == "chr" else tarfile.FIFOTYPE
		t.devmajor, t.devminor = (1, 5) if sys.argv[2] == "chr" else (0, 0)
		t.mode = 0o644
		with tarfile.open(sys.argv[1], "w", format=tarfile.PAX_FORMAT) as tar:
		    tar.addfile(t)
	PY
	umoci raw add-layer --image "$src:latest" "$BATS_TEST_TMPDIR/$name.tar"
	umoci config --image "$src:latest" --tag latest --config.user app
	skopeo copy -q --dest-tls-verify=false "oci:$src:latest" \
		"docker://$REGISTRY/test/$name:latest"
	run_tool 0 cpull "$REGISTRY/test/$name:latest"
	run_tool 0 cunpack "$REGISTRY/test/$name:latest"
}

@test "cspec (/etc/passwd a device or FIFO) fails at once" {
	requires umoci skopeo
	local type
	for type in chr fifo; do
		push_with_layer "passwd-$type" "$type"
		run_tool 1 timeout 10 "$CSPEC" --image "$REGISTRY/test/passwd-$type:latest"
		assert_contains "$stderr" "the image's '/etc/passwd' is not a regular file" "$type"
		assert_eq "$output" "" "stdout for $type"
		run_tool 125 timeout 10 "$CRUN_TASK" run --rm "$REGISTRY/test/passwd-$type:latest" "pw-$type"
		assert_file_not_exists "$CKIT_ROOT/namespaces/default/containers/pw-$type.json"
	done
}

@test "cspec (bad --id, --rootfs, --hostname) exits 2" {
	run_tool 2 cspec --id ../../evil --image "$IMG"
	assert_contains "$stderr" "invalid --id '../../evil'"
	run_tool 2 cspec --rootfs "$BATS_TEST_TMPDIR/none" --image "$IMG"
	assert_contains "$stderr" "invalid --rootfs"
	run_tool 2 cspec --hostname "$(printf 'h%.0s' {1..70})" --image "$IMG"
	assert_contains "$stderr" "invalid --hostname"
}

@test "cspec (relative WorkingDir) makes it absolute" {
	requires umoci skopeo
	push_variant relwd --config.workingdir srv/app
	run_cspec --image "$REGISTRY/test/relwd:latest"
	assert_eq "$(jq -r .process.cwd <<<"$output")" /srv/app "cwd"
}

@test "cspec -o (device, symlink) writes through, never replaces" {
	local dir=$BATS_TEST_TMPDIR
	mkfifo "$dir/fifo"
	cat "$dir/fifo" >"$dir/from-fifo" &
	run_tool 0 cspec --image "$IMG" -o "$dir/fifo"
	wait
	assert_eq "$(stat -c %F "$dir/fifo")" fifo "the FIFO stays"
	validate_spec "$dir/from-fifo"
	touch "$dir/real.json"
	ln -s real.json "$dir/link.json"
	run_tool 0 cspec --image "$IMG" -o "$dir/link.json"
	assert_eq "$(stat -c %F "$dir/link.json")" "symbolic link" "the symlink stays"
	validate_spec "$dir/real.json"
	mkdir "$dir/adir"
	run_tool 1 cspec --image "$IMG" -o "$dir/adir"
	assert_contains "$stderr" "invalid --output"
}
