#!/bin/sh
# t-devices.sh: `llmem devices` on the fixture machines of
# tests/fixtures/probe/ (trees with proc/ and sys/ read through --root;
# the NVIDIA ones served by the fake NVML, $TOOLS/libfake-nvml.so, from
# their nvml.conf), checking the pools, the devices and the budgets in
# the JSON with $TOOLS/json-get; then the fallbacks of the NVML loader,
# errors, the text report, and `llmem devices` on this machine.
#
# Expected numbers are worked out by hand from the fixture files:
# budget = available - headroom, headroom = 1 GiB per GPU on its home
# pool and max(2 GiB, 10% of the system pool's size) on the system pool.
#
# Run from the repository root with LLMEM (the llmem binary) and TOOLS
# (build/tools) set, as tests/run.sh does. Prints TAP.
set -u
LLMEM=${LLMEM:?set LLMEM to the llmem binary}
TOOLS=${TOOLS:?set TOOLS to the directory of the test tools}
BUILD=${BUILD:-build}
FIX=tests/fixtures/probe
FAKE=$TOOLS/libfake-nvml.so
FAKE_OLD=$TOOLS/libfake-nvml-old.so
GET=$TOOLS/json-get

tmp=$(mktemp -d "${TMPDIR:-/tmp}/t-devices.XXXXXX") || exit 1
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

# devices SCENARIO [NVML-LIB]: runs `llmem devices --json` on the fixture;
# the JSON in $tmp/out, stderr in $tmp/err, the status in $rc
devices() {
	lib=${2:-none}
	FAKE_NVML_CONFIG=$FIX/$1/nvml.conf LLMEM_NVML=$lib \
		"$LLMEM" devices --json --root "$FIX/$1" >"$tmp/out" 2>"$tmp/err" </dev/null
	rc=$?
}

# expect LABEL PATH VALUE...: json-get on $tmp/out, pairs of path and value
expect() {
	label=$1
	shift
	bad=
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

# runs_clean LABEL: exit 0, nothing on stderr, valid JSON
runs_clean() {
	if [ "$rc" -eq 0 ] && [ ! -s "$tmp/err" ] && "$GET" "$tmp/out" '#' >/dev/null; then
		ok "$1: exit 0, JSON, nothing on stderr"
	else
		not_ok "$1: exit $rc"
	fi
}

GIB=1073741824

# --- desktop with swap: cgroup v2 without a limit, an Intel iGPU -------
devices desktop-swap
runs_clean desktop-swap
expect "desktop-swap: one system pool, no GPU, swap and THP reported" \
	gpus 0 pools/# 1 pools/0/id system pools/0/limit null \
	pools/0/available $((24117528 * 1024)) \
	pools/0/headroom 3359068160 \
	pools/0/budget $((24117528 * 1024 - 3359068160)) \
	system/swap_total $((8388604 * 1024)) system/swap_free $((8126460 * 1024)) \
	system/thp madvise cgroup/version 2 cgroup/max null \
	sources/amdgpu/state absent sources/nvml/state skipped notes/# 0

# --- a cgroup v2 container limited to 16 GiB on a 125 GiB host ----------
devices container-v2-16g
runs_clean container-v2-16g
# 16 GiB - (2 GiB used - 512 MiB inactive file); headroom 2 GiB
expect "container-v2-16g: the budget is the container's 16 GiB, not the host's RAM" \
	pools/0/total $((131841364 * 1024)) pools/0/limit $((16 * GIB)) \
	pools/0/available $((16 * GIB - 1536 * 1048576)) \
	pools/0/headroom $((2 * GIB)) \
	pools/0/budget $((14 * GIB - 1536 * 1048576)) \
	devices/0/total $((16 * GIB)) \
	cgroup/version 2 cgroup/path / cgroup/current $((2 * GIB)) \
	cgroup/reclaimable 536870912 cgroup/swap_max 0 system/thp always

# --- a cgroup v1 container (docker without a cgroup namespace) -----------
devices container-v1
runs_clean container-v1
expect "container-v1: memory.limit_in_bytes 8 GiB read at the mount's root" \
	pools/0/limit $((8 * GIB)) \
	pools/0/available $((8 * GIB - 768 * 1048576)) \
	pools/0/budget $((6 * GIB - 768 * 1048576)) \
	cgroup/version 1 cgroup/limit_path / cgroup/swap_max 0 gpus 0

# --- NVIDIA: two discrete GPUs through the fake NVML --------------------
devices nvidia-2gpu "$FAKE"
runs_clean nvidia-2gpu
expect "nvidia-2gpu: a VRAM pool per GPU, 1 GiB headroom each" \
	gpus 2 pools/# 3 sources/nvml/state ok sources/nvml/gpus 2 \
	pools/id=CUDA0/kind vram pools/id=CUDA0/total 25757220864 \
	pools/id=CUDA0/available 22012723200 pools/id=CUDA0/headroom $GIB \
	pools/id=CUDA0/budget $((22012723200 - GIB)) \
	pools/id=CUDA1/total 12884901888 pools/id=CUDA1/budget $((12450791424 - GIB)) \
	pools/id=system/headroom 6728998502 \
	pools/id=system/budget $((58129436 * 1024 - 6728998502)) \
	pools/id=system/devices '["CPU"]' pools/id=CUDA1/devices '["CUDA1"]'
expect "nvidia-2gpu: names, PCI ids and the processes using each GPU" \
	devices/id=CUDA0/model "NVIDIA GeForce RTX 4090" devices/id=CUDA0/kind discrete \
	devices/id=CUDA0/bus_id 00000000:01:00.0 devices/id=CUDA0/vendor nvidia \
	devices/id=CUDA0/processes/# 2 \
	devices/id=CUDA0/processes/pid=4242/name llama-server \
	devices/id=CUDA0/processes/pid=4242/used 3221225472 \
	devices/id=CUDA0/processes/pid=4242/type compute \
	devices/id=CUDA0/processes/pid=1873/name Xorg \
	devices/id=CUDA0/processes/pid=1873/type graphics \
	devices/id=CUDA1/processes/# 0 devices/id=CUDA1/model "NVIDIA GeForce RTX 3060" \
	devices/id=CUDA0/processes/pid=4242/vram "(missing)" \
	devices/id=CUDA0/processes/pid=4242/gtt "(missing)"
cp "$tmp/out" "$tmp/nvidia.json"
expect "nvidia-2gpu: GPUs of two models: a note that CUDA numbers them otherwise unless CUDA_DEVICE_ORDER=PCI_BUS_ID" \
	notes/# 1
if "$GET" "$tmp/out" notes/0 | grep -q 'CUDA_DEVICE_ORDER=PCI_BUS_ID'; then
	ok "... the note names CUDA_DEVICE_ORDER=PCI_BUS_ID"
else
	not_ok "... the note: $("$GET" "$tmp/out" notes)"
fi
CUDA_DEVICE_ORDER=PCI_BUS_ID
export CUDA_DEVICE_ORDER
devices nvidia-2gpu "$FAKE"
expect "nvidia-2gpu with CUDA_DEVICE_ORDER=PCI_BUS_ID: no note" notes/# 0
unset CUDA_DEVICE_ORDER

# CUDA_VISIBLE_DEVICES: the GPUs llama-server will see, numbered as it
# will number them (an index, a UUID or a prefix of one; the list ends at
# the first entry that names no GPU; "" hides them all)
for case in "1|1|NVIDIA GeForce RTX 3060|" "0,9,1|1|NVIDIA GeForce RTX 4090|" "|0||" \
	"GPU-00000000-0000-0000-0000-000000000001,GPU-00000000-0000-0000-0000-000000000000|2|NVIDIA GeForce RTX 3060|NVIDIA GeForce RTX 4090" \
	"GPU-00000000-0000-0000-0000-00000000000|0||"; do
	IFS='|' read -r vis want m0 m1 <<EOF2
$case
EOF2
	CUDA_VISIBLE_DEVICES=$vis
	export CUDA_VISIBLE_DEVICES
	devices nvidia-2gpu "$FAKE"
	unset CUDA_VISIBLE_DEVICES
	g=$("$GET" "$tmp/out" gpus) a=$("$GET" "$tmp/out" devices/id=CUDA0/model) b=$("$GET" "$tmp/out" devices/id=CUDA1/model)
	[ -n "$m0" ] || m0="(missing)"
	[ -n "$m1" ] || m1="(missing)"
	if [ "$rc" = 0 ] && [ "$g" = "$want" ] && [ "$a" = "$m0" ] && [ "$b" = "$m1" ] &&
		{ [ "$want" = 2 ] || "$GET" "$tmp/out" notes | grep -q "CUDA_VISIBLE_DEVICES=$vis: $want of 2 NVIDIA GPUs visible"; }; then
		ok "CUDA_VISIBLE_DEVICES='$vis': $g GPU(s), CUDA0 $a, CUDA1 $b"
	else
		not_ok "CUDA_VISIBLE_DEVICES='$vis': rc $rc, $g GPU(s), CUDA0 $a, CUDA1 $b; notes $("$GET" "$tmp/out" notes)"
	fi
done

# the entry points chosen: the newest the library has
rm -f "$tmp/log"
FAKE_NVML_LOG=$tmp/log devices nvidia-2gpu "$FAKE"
if grep -qx nvmlInit_v2 "$tmp/log" && grep -qx nvmlDeviceGetMemoryInfo_v2 "$tmp/log" &&
	grep -qx nvmlDeviceGetComputeRunningProcesses_v3 "$tmp/log" &&
	grep -qx nvmlDeviceGetHandleByIndex_v2 "$tmp/log" && ! grep -qx nvmlDeviceGetMemoryInfo "$tmp/log" &&
	grep -qx nvmlShutdown "$tmp/log"; then
	ok "nvidia-2gpu: NVML's _v2/_v3 entry points are used, then nvmlShutdown"
else
	not_ok "nvidia-2gpu: entry points called: $(sort -u "$tmp/log" | tr '\n' ' ')"
fi

# an old library with only the first names: the same numbers
rm -f "$tmp/log"
FAKE_NVML_LOG=$tmp/log devices nvidia-2gpu "$FAKE_OLD"
runs_clean "nvidia-2gpu, old NVML"
expect "nvidia-2gpu, old NVML (nvmlInit, v1 memory and process queries): same pools" \
	pools/id=CUDA0/budget $((22012723200 - GIB)) pools/id=CUDA1/budget $((12450791424 - GIB)) \
	devices/id=CUDA0/processes/pid=4242/used 3221225472 devices/id=CUDA0/bus_id null
if grep -qx nvmlInit "$tmp/log" && grep -qx nvmlDeviceGetMemoryInfo "$tmp/log" &&
	grep -qx nvmlDeviceGetComputeRunningProcesses "$tmp/log"; then
	ok "nvidia-2gpu, old NVML: falls back to the v1 names"
else
	not_ok "nvidia-2gpu, old NVML: entry points called: $(sort -u "$tmp/log" | tr '\n' ' ')"
fi

# a driver whose nvmlDeviceGetMemoryInfo_v2 refuses the struct version
mkdir -p "$tmp/mismatch"
cp -r "$FIX/nvidia-2gpu/." "$tmp/mismatch/"
echo "memv2 mismatch" >>"$tmp/mismatch/nvml.conf"
FAKE_NVML_CONFIG=$tmp/mismatch/nvml.conf LLMEM_NVML=$FAKE \
	"$LLMEM" devices --json --root "$tmp/mismatch" >"$tmp/out" 2>"$tmp/err" </dev/null
rc=$?
runs_clean "memory info _v2 refused"
expect "memory info _v2 refused: v1 gives the same budgets" \
	pools/id=CUDA0/budget $((22012723200 - GIB)) pools/id=CUDA1/total 12884901888

# NVML that fails: driver not loaded, a count error; a library not there
sed 's/^driver .*/fail init 9/' "$FIX/nvidia-2gpu/nvml.conf" >"$tmp/mismatch/nvml.conf"
FAKE_NVML_CONFIG=$tmp/mismatch/nvml.conf LLMEM_NVML=$FAKE \
	"$LLMEM" devices --json --root "$tmp/mismatch" >"$tmp/out" 2>"$tmp/err" </dev/null
rc=$?
runs_clean "nvmlInit fails"
expect "nvmlInit: driver not loaded: no GPU, the NVML source says why" \
	gpus 0 sources/nvml/state absent "sources/nvml/message" "nvmlInit: Driver Not Loaded"
sed 's/^driver .*/fail count 999/' "$FIX/nvidia-2gpu/nvml.conf" >"$tmp/mismatch/nvml.conf"
FAKE_NVML_CONFIG=$tmp/mismatch/nvml.conf LLMEM_NVML=$FAKE \
	"$LLMEM" devices --json --root "$tmp/mismatch" >"$tmp/out" 2>"$tmp/err" </dev/null
rc=$?
runs_clean "nvmlDeviceGetCount fails"
expect "nvmlDeviceGetCount fails: state failed, still a report" gpus 0 sources/nvml/state failed
devices nvidia-2gpu /nonexistent/libnvidia-ml.so.1
runs_clean "no NVML library"
expect "no NVML library: absent, no GPU" gpus 0 sources/nvml/state absent
devices nvidia-2gpu
expect "LLMEM_NVML=none: NVML is not asked" gpus 0 sources/nvml/state skipped
(unset LLMEM_NVML; FAKE_NVML_CONFIG=$FIX/nvidia-2gpu/nvml.conf \
	"$LLMEM" devices --json --root "$FIX/nvidia-2gpu" >"$tmp/out" 2>"$tmp/err" </dev/null)
expect "--root without LLMEM_NVML: this machine's NVML is not mixed in" gpus 0 sources/nvml/state skipped

# --- GB10: NVML has no memory info, the GPU shares system RAM -----------
devices gb10-unified "$FAKE"
runs_clean gb10-unified
# headroom: 10% of 125513584 KiB plus the GPU's 1 GiB, on the one pool
expect "gb10-unified: kind unified, one pool shared with the CPU, counted once" \
	gpus 1 pools/# 1 pools/0/devices '["CPU","CUDA0"]' \
	pools/0/available $((112644136 * 1024)) \
	pools/0/headroom $((12852591001 + GIB)) \
	pools/0/budget $((112644136 * 1024 - 12852591001 - GIB)) \
	devices/id=CUDA0/kind unified devices/id=CUDA0/model "NVIDIA GB10" \
	devices/id=CUDA0/draws '[{"pool":"system","cap":null,"used":null}]' \
	devices/id=CUDA0/total $((125513584 * 1024)) \
	devices/id=CUDA0/budget $((112644136 * 1024 - 12852591001 - GIB)) \
	devices/id=CUDA0/processes/0/used null devices/id=CUDA0/processes/0/name llama-server

# --- AMD discrete: an RX 7900 XTX -----------------------------------------
devices amd-discrete
runs_clean amd-discrete
expect "amd-discrete: its VRAM is its pool" \
	gpus 1 pools/# 2 sources/amdgpu/state ok \
	devices/id=ROCm0/kind discrete devices/id=ROCm0/vendor amd \
	devices/id=ROCm0/bus_id 0000:03:00.0 devices/id=ROCm0/amdgpu/pci_id 1002:744c \
	devices/id=ROCm0/amdgpu/card card0 \
	pools/id=ROCm0/total 25753026560 pools/id=ROCm0/available $((25753026560 - 1610612736)) \
	pools/id=ROCm0/budget $((25753026560 - 1610612736 - GIB)) \
	pools/id=system/devices '["CPU"]'
# proc/PID/fdinfo (Linux 6.8 keys): llama-server's client 12 on two fds
# counted once, plus its client 13 (1 GiB + 64 MiB); steam's client is on
# another GPU (drm-pdev 0000:0e:00.0); kthreadd has no fdinfo
expect "amd-discrete: the processes using it, from their DRM fdinfo" \
	devices/id=ROCm0/processes/# 3 devices/id=ROCm0/processes_truncated false \
	devices/id=ROCm0/processes/0/pid 4242 \
	devices/id=ROCm0/processes/pid=4242/name llama-server \
	devices/id=ROCm0/processes/pid=4242/type compute \
	devices/id=ROCm0/processes/pid=4242/used $((1088 * 1048576)) \
	devices/id=ROCm0/processes/pid=4242/vram $((1088 * 1048576)) \
	devices/id=ROCm0/processes/pid=4242/gtt $((28 * 1048576)) \
	devices/id=ROCm0/processes/pid=1873/name Xorg \
	devices/id=ROCm0/processes/pid=1873/type graphics \
	devices/id=ROCm0/processes/pid=1873/used 268435456 \
	devices/id=ROCm0/processes/pid=2101/name gnome-shell \
	devices/id=ROCm0/processes/pid=2101/used $((96 * 1048576)) \
	devices/id=ROCm0/processes/pid=3300/name "(missing)"
LLMEM_NVML=none "$LLMEM" devices --root "$FIX/amd-discrete" >"$tmp/out" 2>&1 </dev/null
if grep -q "process   4242 llama-server, 1.06 GiB (compute; VRAM 1.06 GiB, GTT 28.00 MiB)" "$tmp/out" &&
	grep -q "process   1873 Xorg, 256.00 MiB (graphics; " "$tmp/out" && ! grep -q steam "$tmp/out"; then
	ok "amd-discrete text: its processes, VRAM and GTT"
else
	not_ok "amd-discrete text: $(grep process "$tmp/out")"
fi

# --- two AMD GPUs (amd-discrete's card and a second one), and the
# variables ROCm reads: ROCR_VISIBLE_DEVICES, then HIP_VISIBLE_DEVICES over
# what it leaves (indices or UUIDs: GPU- and device/unique_id); llama-server's
# HIP build names the visible ones ROCm0, ROCm1, ... in that order
cp -r "$FIX/amd-discrete" "$tmp/amd2"
d=$tmp/amd2/sys/class/drm
cp -r "$d/card0" "$d/card1"
echo "AMD Radeon RX 7600" >"$d/card1/device/product_name"
sed -i 's/0000:03:00.0/0000:0e:00.0/' "$d/card1/device/uevent"
echo 8573157376 >"$d/card1/device/mem_info_vram_total"
echo 0 >"$d/card1/device/mem_info_vram_used"
echo 0123456789abcdef >"$d/card0/device/unique_id"
echo fedcba9876543210 >"$d/card1/device/unique_id"
amd2() {
	env "$@" LLMEM_NVML=none "$LLMEM" devices --json --root "$tmp/amd2" >"$tmp/out" 2>"$tmp/err" </dev/null
	rc=$?
}
amd2
expect "two AMD GPUs: ROCm0 and ROCm1 in card order" \
	gpus 2 devices/id=ROCm0/amdgpu/card card0 devices/id=ROCm1/amdgpu/card card1 \
	devices/id=ROCm1/total 8573157376
amd2 HIP_VISIBLE_DEVICES=1
expect "HIP_VISIBLE_DEVICES=1: card1 alone, as ROCm0" \
	gpus 1 devices/id=ROCm0/amdgpu/card card1 devices/id=ROCm0/model "AMD Radeon RX 7600" \
	pools/id=ROCm0/total 8573157376
if grep -q "HIP_VISIBLE_DEVICES=1: 1 of 2 AMD GPUs visible" "$tmp/out"; then
	ok "... and a note says so"
else
	not_ok "... no note: $(cat "$tmp/out" | head -c 400)"
fi
amd2 ROCR_VISIBLE_DEVICES=1,0 HIP_VISIBLE_DEVICES=1
expect "ROCR_VISIBLE_DEVICES=1,0 then HIP_VISIBLE_DEVICES=1: card0" \
	gpus 1 devices/id=ROCm0/amdgpu/card card0
amd2 CUDA_VISIBLE_DEVICES=1
expect "CUDA_VISIBLE_DEVICES=1 without NVIDIA GPUs: HIP reads it, card1 alone" \
	gpus 1 devices/id=ROCm0/amdgpu/card card1
amd2 HIP_VISIBLE_DEVICES=GPU-fedcba9876543210,0
expect "HIP_VISIBLE_DEVICES by UUID, then an index: card1 as ROCm0, card0 as ROCm1" \
	gpus 2 devices/id=ROCm0/amdgpu/card card1 devices/id=ROCm1/amdgpu/card card0

# --- AMD Strix Halo: 512 MiB carve-out, 120 GiB GTT capped at 96 GiB by TTM
devices strix-halo
runs_clean strix-halo
expect "strix-halo: unified, VRAM + min(GTT, TTM limit), the GTT part drawn from system RAM" \
	gpus 1 pools/# 2 devices/id=ROCm0/kind unified devices/id=ROCm0/amdgpu/card card1 \
	devices/id=ROCm0/amdgpu/gtt_total $((120 * GIB)) devices/id=ROCm0/amdgpu/gtt_limit $((96 * GIB)) \
	devices/id=ROCm0/total $((96 * GIB + 536870912)) \
	devices/id=ROCm0/draws/0/pool system devices/id=ROCm0/draws/0/cap $((96 * GIB)) \
	devices/id=ROCm0/draws/0/used 268435456 devices/id=ROCm0/draws/1/pool ROCm0 \
	pools/id=system/devices '["CPU","ROCm0"]' \
	pools/id=system/available $((125820416 * 1024)) \
	pools/id=system/headroom $((13615723724 + GIB)) \
	pools/id=ROCm0/total 536870912 pools/id=ROCm0/headroom 0 \
	pools/id=ROCm0/budget $((536870912 - 98566144)) \
	devices/id=ROCm0/budget $((96 * GIB - 268435456 + 536870912 - 98566144)) \
	system/ttm_pages_limit 25165824 system/amdgpu_gttsize_mib 122880
# Linux 6.14 keys (drm-resident-* wins over drm-total-*); on a unified GPU
# a process's used is its VRAM and its GTT
expect "strix-halo: the processes using it, VRAM and GTT both counted" \
	devices/id=ROCm0/processes/# 2 \
	devices/id=ROCm0/processes/0/name llama-server \
	devices/id=ROCm0/processes/0/type compute \
	devices/id=ROCm0/processes/0/vram $((32 * 1048576)) \
	devices/id=ROCm0/processes/0/gtt $((176 * 1048576)) \
	devices/id=ROCm0/processes/0/used $((208 * 1048576)) \
	devices/id=ROCm0/processes/1/name gnome-shell \
	devices/id=ROCm0/processes/1/type graphics \
	devices/id=ROCm0/processes/1/vram $((40 * 1048576)) \
	devices/id=ROCm0/processes/1/used $((64 * 1048576)) \
	devices/id=ROCm0/processes/pid=7200/name "(missing)"

# --- no GPU: a server, llama.service with MemoryHigh=12G ------------------
devices no-gpu
runs_clean no-gpu
expect "no-gpu: memory.high binds; reserved huge pages and THP reported" \
	gpus 0 devices/# 1 pools/0/limit $((12 * GIB)) \
	pools/0/available $((12 * GIB - 805306368)) \
	pools/0/budget $((10 * GIB - 805306368)) \
	cgroup/max null cgroup/high $((12 * GIB)) cgroup/limit_path /system.slice/llama.service \
	system/hugepages_total 512 system/thp never
LLMEM_NVML=none "$LLMEM" devices --root "$FIX/no-gpu" >"$tmp/out" 2>"$tmp/err" </dev/null
if [ $? -eq 0 ] && grep -q "^no GPU found" "$tmp/out" && grep -q "^  THP  *never" "$tmp/out" &&
	grep -q "^  system  *system " "$tmp/out"; then
	ok "no-gpu text: says there is no GPU, the pool and the settings"
else
	not_ok "no-gpu text report"
fi

# --- the text report of every fixture; LLMEM_ROOT instead of --root -------
for s in "$FIX"/*/; do
	s=$(basename "$s")
	FAKE_NVML_CONFIG=$FIX/$s/nvml.conf LLMEM_NVML=$FAKE LLMEM_ROOT=$FIX/$s \
		"$LLMEM" devices >"$tmp/out" 2>"$tmp/err" </dev/null
	rc=$?
	if [ $rc -eq 0 ] && [ ! -s "$tmp/err" ] && grep -q "^pools" "$tmp/out" &&
		grep -q "^devices" "$tmp/out" && grep -q "^settings" "$tmp/out"; then
		ok "$s: text report (LLMEM_ROOT)"
	else
		not_ok "$s: text report, exit $rc"
	fi
done
LLMEM_NVML=$FAKE FAKE_NVML_CONFIG=$FIX/nvidia-2gpu/nvml.conf \
	"$LLMEM" devices --root "$FIX/nvidia-2gpu" >"$tmp/out" 2>&1 </dev/null
if grep -q "process   4242 llama-server, 3.00 GiB (compute)" "$tmp/out" &&
	grep -q "^  CUDA0 .*19.50 GiB  CUDA0$" "$tmp/out"; then
	ok "nvidia-2gpu text: processes and budgets"
else
	not_ok "nvidia-2gpu text: $(head -5 "$tmp/out")"
fi

# --- errors -----------------------------------------------------------------
LLMEM_NVML=none "$LLMEM" devices --root /nonexistent-root >"$tmp/out" 2>"$tmp/err" </dev/null
rc=$?
if [ $rc -eq 2 ] && [ "$(awk 'END {print NR}' "$tmp/err")" -eq 1 ] &&
	grep -q "/nonexistent-root/proc/meminfo" "$tmp/err" && [ ! -s "$tmp/out" ]; then
	ok "a root without proc/meminfo: exit 2, one line naming the file"
else
	not_ok "a root without proc/meminfo: exit $rc"
fi
mkdir -p "$tmp/bad/proc"
printf 'MemTotal: \033[2J lots kB\n' >"$tmp/bad/proc/meminfo"
LLMEM_NVML=none "$LLMEM" devices --root "$tmp/bad" >"$tmp/out" 2>"$tmp/err" </dev/null
rc=$?
if [ $rc -eq 2 ] && [ "$(awk 'END {print NR}' "$tmp/err")" -eq 1 ] && grep -q "meminfo" "$tmp/err"; then
	ok "a garbage meminfo: exit 2, one line"
else
	not_ok "a garbage meminfo: exit $rc"
fi
"$LLMEM" devices extra >"$tmp/out" 2>"$tmp/err" </dev/null
rc=$?
if [ $rc -eq 2 ]; then ok "a stray argument: usage, exit 2"; else not_ok "a stray argument: exit $rc"; fi
if "$LLMEM" devices --help | grep -q "^usage: llmem devices" && "$LLMEM" help devices | grep -q LLMEM_NVML; then
	ok "devices --help and help devices"
else
	not_ok "devices --help"
fi

# --- this machine ----------------------------------------------------------
"$LLMEM" devices --json >"$tmp/out" 2>"$tmp/err" </dev/null
rc=$?
runs_clean "this machine"
expect "this machine: a system pool with a budget" pools/0/id system devices/0/id CPU root /
if "$LLMEM" devices >"$tmp/out" 2>"$tmp/err" </dev/null && grep -q "^pools" "$tmp/out"; then
	ok "this machine: text report"
	sed 's/^/# /' "$tmp/out"
else
	not_ok "this machine: text report"
fi

# --- the parsers and the pool arithmetic do no I/O -------------------------
objs=$(ls "$BUILD"/src/probe/parse-*.o "$BUILD"/src/probe/pools.o "$BUILD"/src/probe/budget.o \
	"$BUILD"/src/base/parse.o 2>/dev/null)
if [ -n "$objs" ]; then
	# shellcheck disable=SC2086
	ar rcs "$tmp/pure.a" $objs
	if sh scripts/check-pure.sh "$tmp/pure.a" >"$tmp/err" 2>&1; then
		ok "probe parsers, pools and budgets are pure (scripts/check-pure.sh)"
	else
		not_ok "probe parsers are not pure"
	fi
else
	echo "ok $((n = n + 1)) # SKIP no $BUILD/src/probe objects"
fi
