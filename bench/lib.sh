# lib.sh: what the benchmark reports say about the run, shared by the
# bench scripts (sourced; needs ROOT and LLMEM). bench_describe sets
# machine (CPU, CPUs, RAM, hypervisor, OS, kernel), rev (the commit, with
# "+uncommitted changes" when the tree differs) and llmem_ver.
bench_describe() {
	cpu=$(lscpu | sed -n 's/^Model name: *//p' | head -n 1)
	hyper=$(lscpu | sed -n 's/^Hypervisor vendor: *//p' | head -n 1)
	mem=$(awk '/^MemTotal:/ { printf "%.1f GiB", $2 / 1048576 }' /proc/meminfo)
	# shellcheck disable=SC1091
	os=$(. /etc/os-release 2>/dev/null && printf '%s' "${PRETTY_NAME:-unknown OS}")
	machine="$cpu, $(nproc) CPUs (nproc), $mem RAM${hyper:+, $hyper guest}; $os, Linux $(uname -r)"
	if rev=$(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null); then
		git -C "$ROOT" diff --quiet HEAD -- 2>/dev/null || rev="$rev+uncommitted changes"
	else
		rev="no commit yet"
	fi
	llmem_ver=$("$LLMEM" --version 2>/dev/null | head -n 1 || true)
}
