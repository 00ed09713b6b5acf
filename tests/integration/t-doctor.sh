#!/bin/sh
# t-doctor.sh: `llmem doctor` on the fixture machines of
# tests/fixtures/doctor/ (trees with proc/, sys/ and dev/kmsg read through
# --root; the NVIDIA ones served by the fake NVML, $TOOLS/libfake-nvml.so,
# from their nvml.conf): the verdict of every check on every fixture, with
# and without --model, the fix each bad or warn check gives, the facts in
# the JSON, the exit status (0 without a bad check, 1 with one, 2 for a
# usage error), the text report, every probe fixture as a root, and
# `llmem doctor` on this machine.
#
# Run from the repository root with LLMEM (the llmem binary) and TOOLS
# (build/tools) set, as tests/run.sh does. Prints TAP.
set -u
LLMEM=${LLMEM:?set LLMEM to the llmem binary}
TOOLS=${TOOLS:?set TOOLS to the directory of the test tools}
BUILD=${BUILD:-build}
FIX=tests/fixtures/doctor
FAKE=$TOOLS/libfake-nvml.so
GET=$TOOLS/json-get
CHECKS="swap model-swap thp hugetlb fragmentation overcommit memlock psi oom cgroup numa gpu-procs amd-gtt"

tmp=$(mktemp -d "${TMPDIR:-/tmp}/t-doctor.XXXXXX") || exit 1
trap 'rm -rf "$tmp"' EXIT
trap 'exit 1' HUP INT TERM

n=0
ok() {
	n=$((n + 1))
	echo "ok $n - $*"
}
not_ok() {
	n=$((n + 1))
	echo "not ok $n - $*"
	if [ -s "$tmp/err" ]; then
		head -c 600 "$tmp/err" | sed 's/^/#   stderr: /'
		echo
	fi
}

# doctor FIXTURE [ARGS...]: `llmem doctor --json` on the fixture (with the
# fake NVML when it has an nvml.conf); JSON in $tmp/out, stderr in
# $tmp/err, the status in $rc
doctor() {
	fx=$1
	shift
	lib=none
	[ -f "$FIX/$fx/nvml.conf" ] && lib=$FAKE
	FAKE_NVML_CONFIG=$FIX/$fx/nvml.conf LLMEM_NVML=$lib \
		"$LLMEM" doctor --json --root "$FIX/$fx" "$@" >"$tmp/out" 2>"$tmp/err" </dev/null
	rc=$?
}

# verdicts LABEL EXIT V1 ... V13: the exit status and the verdict of each
# check, in the order of $CHECKS
verdicts() {
	label=$1
	want_rc=$2
	shift 2
	bad=""
	[ "$rc" -eq "$want_rc" ] || bad=" exit $rc (expected $want_rc);"
	[ "$("$GET" "$tmp/out" checks/#)" = 13 ] || bad="$bad not 13 checks;"
	for c in $CHECKS; do
		got=$("$GET" "$tmp/out" "checks/check=$c/verdict")
		[ "$got" = "$1" ] || bad="$bad $c=$got (expected $1);"
		shift
	done
	if [ -z "$bad" ]; then
		ok "$label"
	else
		not_ok "$label:$bad"
	fi
}

# expect LABEL PATH VALUE...: json-get on $tmp/out, pairs of path and value
expect() {
	label=$1
	shift
	bad=""
	while [ $# -ge 2 ]; do
		got=$("$GET" "$tmp/out" "$1")
		[ "$got" = "$2" ] || bad="$bad $1=$got (expected $2);"
		shift 2
	done
	if [ -z "$bad" ]; then
		ok "$label"
	else
		not_ok "$label:$bad"
	fi
}

# contains LABEL PATH TEXT...: each TEXT is a part of the string at PATH
contains() {
	label=$1
	path=$2
	shift 2
	got=$("$GET" "$tmp/out" "$path")
	bad=""
	for t in "$@"; do
		case $got in
		*"$t"*) ;;
		*) bad="$bad no '$t';" ;;
		esac
	done
	if [ -z "$bad" ]; then
		ok "$label"
	else
		not_ok "$label:$bad in: $got"
	fi
}

M8=llama-3.1-8b:q4_k_m    # 4.58 GiB of files
M70=llama-3.3-70b:q4_k_m  # 39.59 GiB

#                                       exit swap model thp  huget frag over mlock psi  oom  cgrp numa gpu  gtt
# --- healthy: everything as llmem wants it -------------------------------------
doctor healthy
verdicts "healthy: every check ok, exit 0" 0 \
	ok ok ok ok ok ok ok ok ok ok ok ok ok
expect "healthy: summary, no fix anywhere" summary/verdict ok summary/ok 13 summary/bad 0 \
	checks/check=swap/fix null checks/check=oom/fix null root "$FIX/healthy" \
	facts/swappiness 10 facts/memlock_soft null facts/kernel_log read facts/oom_kills_total 0
contains "healthy: the GPU's only process is the desktop" checks/check=gpu-procs/found \
	"CUDA0 (NVIDIA GeForce RTX 4090)" "1873 Xorg 200.00 MiB (graphics)"
doctor healthy --model "$M70"
verdicts "healthy with a 70B model: still all ok" 0 \
	ok ok ok ok ok ok ok ok ok ok ok ok ok
size=$("$GET" "$tmp/out" models/0/bytes)
if [ "$("$GET" "$tmp/out" models/0/name)" = "$M70" ] && [ "$size" -gt $((39 * 1073741824)) ] &&
	[ "$size" -lt $((40 * 1073741824)) ]; then
	ok "healthy: the model and its size (39.6 GiB) are in the JSON"
else
	not_ok "healthy: model size $size"
fi

# --- desktop-swap: swap in use, swappiness 60, pressure, a shared GPU -----------
doctor desktop-swap
verdicts "desktop-swap: swap, model swap, fragmentation, PSI and GPU warn" 0 \
	warn warn ok ok warn ok ok warn ok ok ok warn ok
contains "desktop-swap: swap found and fixed with swappiness 1" checks/check=swap/found \
	"/dev/nvme0n1p3 (partition, 8.00 GiB)" "vm.swappiness 60" "1.50 GiB used"
contains "desktop-swap: swap fix" checks/check=swap/fix "sudo sysctl vm.swappiness=1" \
	"/etc/sysctl.d/90-llmem-swappiness.conf"
contains "desktop-swap: llama-server's swap named" checks/check=model-swap/found \
	"4242 llama-server: 5.00 GiB resident, 256.00 MiB in swap" "2301 ollama"
contains "desktop-swap: model swap fix" checks/check=model-swap/fix "swapoff -a && sudo swapon -a" "--mlock"
contains "desktop-swap: PSI over the threshold" checks/check=psi/found "some avg10 14.27%" "full avg10 3.05%"
contains "desktop-swap: the GPU held by llama-server, kill it" checks/check=gpu-procs/found \
	"4242 llama-server 6.50 GiB (compute)" "1873 Xorg 300.00 MiB (graphics)"
contains "desktop-swap: gpu-procs fix" checks/check=gpu-procs/fix "kill 4242"
contains "desktop-swap: fragmentation fix" checks/check=fragmentation/fix "echo 1 | sudo tee /proc/sys/vm/compact_memory"
expect "desktop-swap: facts" facts/swappiness 60 facts/swaps/0/used $((1572860 * 1024)) \
	facts/model_processes/1/pid 4242 facts/model_processes/1/swap $((262144 * 1024)) \
	facts/model_processes/1/cgroup_limit null \
	facts/memlock_soft 8388608 facts/psi/some/total_us 981234567 summary/warn 5
doctor desktop-swap --model "$M8"
verdicts "desktop-swap with an 8B model: memlock warns too" 0 \
	warn warn ok ok warn ok warn warn ok ok ok warn ok
contains "desktop-swap: memlock fix" checks/check=memlock/fix "ulimit -l unlimited" \
	"LimitMEMLOCK=infinity" "/etc/security/limits.d/90-llmem-memlock.conf"

# --- server-thp: THP always, hugetlb reserved, fragmented, two NUMA nodes ------
doctor server-thp
verdicts "server-thp: thp, hugetlb, fragmentation and numa warn" 0 \
	ok ok warn warn warn ok ok ok ok ok warn ok ok
contains "server-thp: THP always and defrag always" checks/check=thp/found "always, defrag: always"
contains "server-thp: THP fix" checks/check=thp/fix \
	"echo madvise | sudo tee /sys/kernel/mm/transparent_hugepage/enabled" \
	"echo defer+madvise | sudo tee /sys/kernel/mm/transparent_hugepage/defrag" "transparent_hugepage=madvise"
contains "server-thp: 32 GiB of hugetlb pages unused" checks/check=hugetlb/found \
	"HugePages_Total 16384 x 2.00 MiB = 32.00 GiB reserved, 32.00 GiB of it free"
contains "server-thp: hugetlb fix" checks/check=hugetlb/fix "sudo sysctl vm.nr_hugepages=0"
contains "server-thp: two nodes, balancing on" checks/check=numa/found "2 NUMA nodes" \
	"node1 125.82 GiB" "kernel.numa_balancing 1"
contains "server-thp: numa fix" checks/check=numa/fix "--numa distribute" "numactl --cpunodebind=0" \
	"sudo sysctl kernel.numa_balancing=0"
expect "server-thp: facts" facts/numa_nodes/# 2 facts/numa_balancing 1 facts/thp always \
	facts/thp_defrag always facts/free_huge_bytes $((6 * 2097152))

# --- overcommit-strict: mode 2, CommitLimit 16 GiB, no PSI ---------------------
doctor overcommit-strict
verdicts "overcommit-strict: overcommit and psi warn" 0 \
	ok ok ok ok ok warn ok warn ok ok ok ok ok
contains "overcommit-strict: CommitLimit and what is left" checks/check=overcommit/found \
	"vm.overcommit_memory 2 (strict)" "vm.overcommit_ratio 50" "CommitLimit 15.64 GiB" "9.64 GiB left"
contains "overcommit-strict: overcommit fix" checks/check=overcommit/fix "sudo sysctl vm.overcommit_memory=0"
contains "overcommit-strict: no PSI, fix psi=1" checks/check=psi/fix "psi=1" "update-grub"
doctor overcommit-strict --model "$M8"
verdicts "overcommit-strict with an 8B model: fits what is left, warn" 0 \
	ok ok ok ok ok warn ok warn ok ok ok ok ok
doctor overcommit-strict --model "$M8" --model "$M70"
verdicts "overcommit-strict with a 70B model: bad, exit 1" 1 \
	ok ok ok ok ok bad ok warn ok ok ok ok ok
contains "overcommit-strict: the largest model counts" checks/check=overcommit/found \
	"model $M70 is 39.60 GiB, more than is left"
expect "overcommit-strict: facts and summary" facts/overcommit_memory 2 \
	facts/commit_limit $((16401700 * 1024)) facts/psi null summary/verdict bad models/# 2

# --- memlock-low: the default 8 MiB ---------------------------------------------
doctor memlock-low
verdicts "memlock-low without a model: the limit is reported, ok" 0 \
	ok ok ok ok ok ok ok ok ok ok ok ok ok
contains "memlock-low: the limit and how to compare" checks/check=memlock/found "soft 8.00 MiB, hard 8.00 MiB" "--model"
doctor memlock-low --model "$M8"
verdicts "memlock-low with an 8B model: memlock warns" 0 \
	ok ok ok ok ok ok warn ok ok ok ok ok ok
contains "memlock-low: the model does not fit the limit" checks/check=memlock/found \
	"model $M8 is 4.58 GiB: --mlock could not lock it"
# the same as root: CAP_IPC_LOCK locks past the limit
mkdir -p "$tmp/root-shell"
cp -r "$FIX/memlock-low/." "$tmp/root-shell/"
sed 's/^CapEff:.*/CapEff:\t000001ffffffffff/' "$FIX/memlock-low/proc/self/status" >"$tmp/root-shell/proc/self/status"
LLMEM_NVML=none "$LLMEM" doctor --json --root "$tmp/root-shell" --model "$M8" >"$tmp/out" 2>"$tmp/err" </dev/null
rc=$?
expect "memlock-low as root (CAP_IPC_LOCK): ok, and says why" checks/check=memlock/verdict ok
contains "memlock-low as root: the capability named" checks/check=memlock/found "CAP_IPC_LOCK (root)"

# --- oom-llama: llama-server killed at llmem.service's 24 GiB limit ----------------
doctor oom-llama
verdicts "oom-llama: oom bad, cgroup warns, exit 1" 1 \
	ok ok ok ok ok ok ok ok bad warn ok ok ok
contains "oom-llama: the kills named, newest first" checks/check=oom/found "2 OOM kills" \
	"llama-server (pid 3817) 2 h ago, 23.76 GiB anonymous, at its cgroup's limit /system.slice/llmem.service" \
	"python3 (pid 2911)" "cgroup /system.slice/llmem.service (llmem): 1 OOM kill"
contains "oom-llama: the guide's OOM steps in the fix" checks/check=oom/fix "-ngl 30 instead of 99" \
	"q4_k_s" "-c 4096 instead of 8192" "ollama stop" "llmem fit MODEL"
contains "oom-llama: the service's limit found through llama-server" checks/check=cgroup/found \
	"llama-server (pid 4242) in /system.slice/llmem.service: limit 24.00 GiB"
contains "oom-llama: cgroup fix" checks/check=cgroup/fix \
	"sudo systemctl set-property llmem.service MemoryMax=infinity MemoryHigh=infinity"
expect "oom-llama: facts" facts/oom_kills_total 2 facts/oom_kills/1/name llama-server \
	facts/oom_kills/1/pid 3817 facts/oom_kills/1/cgroup_limit true \
	facts/oom_kills/1/task_memcg /system.slice/llmem.service \
	facts/oom_kills/1/anon_rss $((24917440 * 1024)) facts/oom_kills/0/cgroup_limit false \
	facts/cgroup_oom_kills/1/oom_kill 1 facts/model_processes/# 2 summary/bad 1 \
	facts/model_processes/1/cgroup_limit $((24 * 1073741824))
doctor oom-llama --model "$M70"
verdicts "oom-llama with a 70B model: above the cgroup's limit, bad" 1 \
	ok ok ok ok ok ok ok ok bad bad ok ok ok

# --- apu-small-gtt: Strix Halo with the default GTT (half of RAM) -----------------
doctor apu-small-gtt
verdicts "apu-small-gtt: amd-gtt warns" 0 \
	ok ok ok ok ok ok ok ok ok ok ok ok warn
contains "apu-small-gtt: GTT against RAM" checks/check=amd-gtt/found \
	"GTT 63.40 GiB usable of 126.81 GiB RAM" "ttm.pages_limit 16620756" "amdgpu.gttsize default"
# RAM 132966052 KiB less 4 GiB, in whole GiB: 122 GiB = 124928 MiB = 31981568 pages
contains "apu-small-gtt: kernel arguments computed from RAM" checks/check=amd-gtt/fix \
	"amdgpu.gttsize=124928 ttm.pages_limit=31981568" "GRUB_CMDLINE_LINUX"

# --- the text report ----------------------------------------------------------------
LLMEM_NVML=none "$LLMEM" doctor --root "$FIX/oom-llama" >"$tmp/out" 2>"$tmp/err" </dev/null
rc=$?
if [ $rc -eq 1 ] && grep -q "^bad   oom            kernel log: 2 OOM kills" "$tmp/out" &&
	grep -q "^ok    swap           no swap" "$tmp/out" &&
	grep -q "^ *fix: make the model fit: 1. fewer GPU layers.*; 2. a smaller quantization.*; 3. a smaller context.*; 4. unload other models" "$tmp/out" &&
	grep -q "^ *why: " "$tmp/out" && grep -qx "13 checks: 11 ok, 1 warn, 1 bad" "$tmp/out" &&
	[ "$(grep -c '^ *why: ' "$tmp/out")" -eq 2 ] && [ ! -s "$tmp/err" ]; then
	ok "oom-llama text: a line per check, why and fix under the two not ok, summary, exit 1"
else
	not_ok "oom-llama text: exit $rc"
fi
LLMEM_NVML=none LLMEM_ROOT=$FIX/healthy "$LLMEM" doctor -v >"$tmp/out" 2>"$tmp/err" </dev/null
rc=$?
if [ $rc -eq 0 ] && [ "$(grep -c '^ *why: ' "$tmp/out")" -eq 13 ] &&
	! grep -q "^ *fix: " "$tmp/out" && grep -qx "13 checks: 13 ok, 0 warn, 0 bad" "$tmp/out"; then
	ok "healthy text (LLMEM_ROOT, --verbose): why under every check, no fix, exit 0"
else
	not_ok "healthy text --verbose: exit $rc"
fi
# every fix of every fixture is a single line (copyable)
for fx in "$FIX"/*/; do
	LLMEM_NVML=none "$LLMEM" doctor --root "$fx" --model "$M70" >>"$tmp/all" 2>/dev/null </dev/null
done
if [ "$(grep -c '^ *fix: ' "$tmp/all")" -ge 12 ] &&
	! awk '/^ *fix: /{f=1; next} f && /^                     [^wf]/{bad=1} {f=0} END{exit !bad}' "$tmp/all"; then
	ok "every fix is printed on one line"
else
	not_ok "a fix is wrapped over lines"
fi

# --- every probe fixture as a root: files missing, still 13 checks -------------------
for s in tests/fixtures/probe/*/; do
	s=$(basename "$s")
	lib=none
	[ -f "tests/fixtures/probe/$s/nvml.conf" ] && lib=$FAKE
	FAKE_NVML_CONFIG=tests/fixtures/probe/$s/nvml.conf LLMEM_NVML=$lib \
		"$LLMEM" doctor --json --root "tests/fixtures/probe/$s" >"$tmp/out" 2>"$tmp/err" </dev/null
	rc=$?
	if [ $rc -le 1 ] && [ ! -s "$tmp/err" ] && [ "$("$GET" "$tmp/out" checks/#)" = 13 ] &&
		[ "$("$GET" "$tmp/out" facts/kernel_log)" = absent ]; then
		ok "probe fixture $s: 13 checks, no kernel log, exit $rc"
	else
		not_ok "probe fixture $s: exit $rc"
	fi
done
doctor ../probe/container-v2-16g
expect "container-v2-16g: a 16 GiB container limit warns, the fix is the container's" \
	checks/check=cgroup/verdict warn checks/check=psi/verdict warn
contains "container-v2-16g: cgroup fix" checks/check=cgroup/fix "docker update --memory"
doctor ../probe/nvidia-2gpu
expect "nvidia-2gpu: llama-server holds 3 GiB of CUDA0" checks/check=gpu-procs/verdict warn
contains "nvidia-2gpu: both GPUs listed" checks/check=gpu-procs/found \
	"CUDA0 (NVIDIA GeForce RTX 4090): 4242 llama-server 3.00 GiB (compute)" \
	"CUDA1 (NVIDIA GeForce RTX 3060): no process holds memory"

# --- errors -------------------------------------------------------------------------
LLMEM_NVML=none "$LLMEM" doctor --root /nonexistent-root >"$tmp/out" 2>"$tmp/err" </dev/null
rc=$?
if [ $rc -eq 2 ] && [ "$(awk 'END {print NR}' "$tmp/err")" -eq 1 ] &&
	grep -q "/nonexistent-root/proc/meminfo" "$tmp/err" && [ ! -s "$tmp/out" ]; then
	ok "a root without proc/meminfo: exit 2, one line naming the file"
else
	not_ok "a root without proc/meminfo: exit $rc"
fi
doctor healthy --model no-such-model-xyz
if [ $rc -eq 2 ] && grep -q "no-such-model-xyz" "$tmp/err" && [ ! -s "$tmp/out" ]; then
	ok "an unknown model: exit 2, named on stderr"
else
	not_ok "an unknown model: exit $rc"
fi
"$LLMEM" doctor extra >"$tmp/out" 2>"$tmp/err" </dev/null
rc=$?
if [ $rc -eq 2 ]; then ok "a stray argument: usage, exit 2"; else not_ok "a stray argument: exit $rc"; fi
if "$LLMEM" doctor --help | grep -q "^usage: llmem doctor" && "$LLMEM" help doctor | grep -q "amd-gtt" &&
	"$LLMEM" --help | grep -q "^  doctor "; then
	ok "doctor --help, help doctor, listed in llmem --help"
else
	not_ok "doctor --help"
fi
# a kernel log line longer than a record, garbage, and binary bytes
mkdir -p "$tmp/hostile"
cp -r "$FIX/healthy/." "$tmp/hostile/"
{
	head -c 40000 /dev/zero | tr '\0' 'x'
	printf '\n3,1,2,-;Out of memory: Killed process 77 (\033[2Jevil\001) total-vm:1kB\n'
	printf '3,garbage\n\377\376;;;\n3,9,99,-;Out of memory: Killed process 78 (llama-server'
} >"$tmp/hostile/dev/kmsg"
LLMEM_NVML=none "$LLMEM" doctor --root "$tmp/hostile" >"$tmp/out" 2>"$tmp/err" </dev/null
rc=$?
if [ $rc -eq 0 ] && grep -q "kernel log: 1 OOM kill: ?\[2Jevil? (pid 77)" "$tmp/out" &&
	! grep -q "$(printf '\033')" "$tmp/out"; then
	ok "a hostile kernel log: long and broken lines skipped, control bytes not printed"
else
	not_ok "a hostile kernel log: exit $rc: $(grep oom "$tmp/out")"
fi

# --- this machine ---------------------------------------------------------------------
"$LLMEM" doctor --json >"$tmp/out" 2>"$tmp/err" </dev/null
rc=$?
if [ $rc -le 1 ] && [ ! -s "$tmp/err" ] && [ "$("$GET" "$tmp/out" checks/#)" = 13 ] &&
	[ "$("$GET" "$tmp/out" root)" = / ]; then
	ok "this machine: 13 checks, exit $rc"
else
	not_ok "this machine: exit $rc"
fi
if "$LLMEM" doctor >"$tmp/out" 2>"$tmp/err" </dev/null || [ $? -eq 1 ]; then
	ok "this machine: text report"
	sed 's/^/# /' "$tmp/out"
else
	not_ok "this machine: text report"
fi

# --- the parsers and the checks do no I/O ---------------------------------------------
objs=$(ls "$BUILD"/src/probe/parse-kmsg.o "$BUILD"/src/probe/parse-vm.o "$BUILD"/src/probe/doctor.o \
	"$BUILD"/src/probe/parse-util.o "$BUILD"/src/probe/parse-sysfs.o "$BUILD"/src/probe/names.o \
	"$BUILD"/src/base/parse.o 2>/dev/null)
if [ -n "$objs" ]; then
	# shellcheck disable=SC2086
	ar rcs "$tmp/pure.a" $objs
	if sh scripts/check-pure.sh "$tmp/pure.a" >"$tmp/err" 2>&1; then
		ok "doctor's parsers and checks are pure (scripts/check-pure.sh)"
	else
		not_ok "doctor's parsers or checks are not pure: $(cat "$tmp/err")"
	fi
else
	echo "ok $((n = n + 1)) # SKIP no $BUILD/src/probe objects"
fi
