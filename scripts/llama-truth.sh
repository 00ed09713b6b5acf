#!/usr/bin/env bash
# llama-truth.sh: the ground truth for one model and configuration. Starts
# the real llama-server (built by scripts/build-llama.sh, CPU only) on a free
# local port, waits until the model and its context are loaded, reads the
# process's resident memory, stops the server and prints ONE JSON object on
# stdout with every buffer llama.cpp logged (model, KV, recurrent state,
# output, compute), the context parameters and the RSS figures.
#
# usage: scripts/llama-truth.sh MODEL.gguf [llama-server options...]
#   e.g. scripts/llama-truth.sh m.gguf -c 4096
#        scripts/llama-truth.sh m.gguf -c 512 -fa on -ctk q8_0 -ctv q8_0
#
# The server always gets: -m MODEL --host 127.0.0.1 --port <free> --no-warmup
# -lv 4 --offline (no downloads), then the given options (which can override
# them; -lv above 4 makes the --fit dry run print its own buffer lines too).
#
# Environment:
#   LLAMA_TRUTH_TIMEOUT  seconds to wait for the load (default 120)
#   LLAMA_TRUTH_LOG      also copy the server's log to this file
#   LLAMA_TRUTH_WARMUP=1 without --no-warmup: the server runs its warmup
#                        (and clip.cpp reserves a projector's compute buffer)
#   LLMEM_LLAMA_BIN      directory holding llama-server (skips build-llama.sh)
#
# Exit status: 0 loaded (the JSON has "ok": true); 1 the server failed to
# load or timed out ("ok": false, "status" and "failure" say why; the JSON
# still holds whatever was logged); 2 usage. Only bash, coreutils, grep, sed
# and awk are used; the health check goes through bash's /dev/tcp.
#
# Sizes: llama.cpp prints MiB with two decimals, so every "bytes" here is
# round(MiB * 2^20) and is exact only to +-0.005 MiB (+-5243 bytes). RSS
# figures come from /proc/PID/status (kB) and are exact.
set -euo pipefail

usage() {
	awk 'NR > 1 && !/^#/ { exit } NR > 1 { sub(/^# ?/, ""); print }' "$0" >&2
	exit 2
}

[ $# -ge 1 ] || usage
case $1 in -h | --help) usage ;; esac
model=$1
shift
[ -f "$model" ] || { echo "llama-truth: $model: no such file" >&2; exit 2; }
case $model in /*) ;; *) model="$PWD/$model" ;; esac

here=$(cd "$(dirname "$0")" && pwd)
work=$(mktemp -d "${TMPDIR:-/tmp}/llama-truth.XXXXXX")
pid=
cleanup() {
	if [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null; then
		kill -KILL "$pid" 2>/dev/null || true
		wait "$pid" 2>/dev/null || true
	fi
	rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM HUP

if [ -n "${LLMEM_LLAMA_BIN:-}" ]; then
	bindir=$LLMEM_LLAMA_BIN
else
	if ! bash "$here/build-llama.sh" >"$work/build.out" 2>"$work/build.err"; then
		cat "$work/build.err" >&2
		echo "llama-truth: scripts/build-llama.sh failed" >&2
		exit 1
	fi
	bindir=$(tail -n 1 "$work/build.out")
fi
server="$bindir/llama-server"
[ -x "$server" ] || { echo "llama-truth: no llama-server in $bindir" >&2; exit 1; }
timeout_s=${LLAMA_TRUTH_TIMEOUT:-120}
log="$work/server.log"

# A port nothing answers on (the server may still lose a race: retried below).
free_port() {
	local p
	for _ in $(seq 1 50); do
		p=$((20000 + (RANDOM * 32768 + RANDOM) % 40000))
		if ! (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null; then
			echo "$p"
			return 0
		fi
	done
	return 1
}

# 0 when GET /health answers 200.
health_ok() {
	local line
	line=$(
		exec 3<>"/dev/tcp/127.0.0.1/$1" || exit 1
		printf 'GET /health HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n' >&3
		IFS= read -r -t 5 l <&3 || exit 1
		printf '%s' "$l"
	) 2>/dev/null || return 1
	case $line in "HTTP/1."?" 200"*) return 0 ;; esac
	return 1
}

status=timeout
exit_code=
port=
t0=$(date +%s.%N)
for attempt in 1 2 3; do
	port=$(free_port) || { echo "llama-truth: no free port" >&2; exit 1; }
	# shellcheck disable=SC2046
	"$server" -m "$model" --host 127.0.0.1 --port "$port" $([ "${LLAMA_TRUTH_WARMUP:-}" = 1 ] || echo --no-warmup) \
		-lv 4 --offline "$@" \
		</dev/null >"$log" 2>&1 &
	pid=$!
	deadline=$((SECONDS + timeout_s))
	status=timeout
	while [ "$SECONDS" -lt "$deadline" ]; do
		if ! kill -0 "$pid" 2>/dev/null; then
			status=exited
			break
		fi
		if grep -q -e 'server is listening' -e 'listening on http' "$log" 2>/dev/null &&
			health_ok "$port"; then
			status=ready
			break
		fi
		sleep 0.2
	done
	if [ "$status" = exited ]; then
		set +e
		wait "$pid"
		exit_code=$?
		set -e
		pid=
		if [ "$attempt" -lt 3 ] &&
			grep -q -i -e "couldn't bind" -e 'address already in use' "$log" 2>/dev/null; then
			continue
		fi
	fi
	break
done
t1=$(date +%s.%N)

# resident memory while loaded and idle
declare -A rss=()
smaps_json=null
if [ "$status" = ready ] && [ -r "/proc/$pid/status" ]; then
	while read -r k v _; do
		case $k in
		VmRSS: | VmHWM: | VmSize: | RssAnon: | RssFile: | RssShmem:) rss[${k%:}]=$((v * 1024)) ;;
		esac
	done <"/proc/$pid/status"
	# LLAMA_TRUTH_SMAPS=1: where the resident memory lies, from
	# /proc/PID/smaps: per mapped file (basename), [heap], [stack] and
	# the anonymous mappings, the sums of Rss, Anonymous and Shmem (kB)
	# and the count; and each anonymous mapping holding 1 MiB or more (its
	# size, Anonymous, permissions). To attribute the CUDA runtime's
	# anonymous memory (bench/RESULTS.md: 128-171 MiB by architecture)
	if [ "${LLAMA_TRUTH_SMAPS:-}" = 1 ] && [ -r "/proc/$pid/smaps" ]; then
		smaps_json=$(awk '
		function flush() {
			if (name == "") return
			rss[name] += r; anon[name] += a; shm[name] += sh; cnt[name]++
			if (name == "[anon]" && a >= 1024) big = big (big == "" ? "" : ", ") sprintf("[%d, %d, \"%s\"]", size, a, perm)
		}
		/^[0-9a-f]+-[0-9a-f]+ / {
			flush()
			perm = $2; r = a = sh = size = 0
			if (NF >= 6) { name = $6; n = split(name, parts, "/"); name = parts[n] } else name = "[anon]"
			gsub(/["\\]/, "", name)
			next
		}
		$1 == "Size:" { size = $2 }
		$1 == "Rss:" { r = $2 }
		$1 == "Anonymous:" { a = $2 }
		$1 == "Shared_Dirty:" || $1 == "Shared_Clean:" { if (perm ~ /s/) sh += $2 }
		END {
			flush()
			printf "{\"by_name\": {"
			sep = ""
			for (k in rss) if (rss[k] > 0) { printf "%s\"%s\": [%d, %d, %d, %d]", sep, k, rss[k], anon[k], shm[k], cnt[k]; sep = ", " }
			printf "}, \"by_name_fields\": [\"rss_kb\", \"anon_kb\", \"shared_kb\", \"mappings\"], \"anon_1mib\": [%s], \"anon_1mib_fields\": [\"size_kb\", \"anon_kb\", \"perm\"]}", big
		}' "/proc/$pid/smaps" 2>/dev/null)
	fi
	# on an NVIDIA machine: the device memory the process holds, which is
	# its buffers plus what llama.cpp does not account (CUDA context,
	# cuBLAS workspace, the memory pool)
	if command -v nvidia-smi >/dev/null 2>&1; then
		while IFS=', ' read -r p u; do
			[ "$p" = "$pid" ] && rss[GpuUsed]=$((u * 1048576))
		done < <(nvidia-smi --query-compute-apps=pid,used_memory --format=csv,noheader,nounits 2>/dev/null)
	fi
fi

# stop it (SIGTERM lets it print the exit memory breakdown), never leave it
if [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null; then
	kill -TERM "$pid" 2>/dev/null || true
	for _ in $(seq 1 75); do
		kill -0 "$pid" 2>/dev/null || break
		sleep 0.2
	done
	kill -KILL "$pid" 2>/dev/null || true
	wait "$pid" 2>/dev/null || true
	pid=
fi

[ -z "${LLAMA_TRUTH_LOG:-}" ] || cp "$log" "$LLAMA_TRUTH_LOG"

json_str() {
	local s=$1
	s=${s//\\/\\\\}
	s=${s//\"/\\\"}
	s=${s//$'\n'/\\n}
	s=${s//$'\r'/\\r}
	s=${s//$'\t'/\\t}
	s=$(printf '%s' "$s" | tr -d '\000-\010\013\014\016-\037')
	printf '"%s"' "$s"
}

failure=null
case $status in
timeout) failure=$(json_str "no 'listening' line and /health answer within ${timeout_s} s") ;;
exited)
	msg=$(grep -E -e ' E ' -e 'error|failed|exception|what\(\)|Aborted|terminate' "$log" | tail -n 6 |
		sed -E 's/^[0-9.]+ [A-Z] //' || true)
	[ -n "$msg" ] || msg=$(tail -n 3 "$log")
	failure=$(json_str "exit status $exit_code: $msg")
	;;
esac

args="["
sep=
for a in "$@"; do
	args+="$sep$(json_str "$a")"
	sep=", "
done
args+="]"
rss_json="{"
sep=
for k in VmRSS VmHWM VmSize RssAnon RssFile RssShmem GpuUsed; do
	[ -n "${rss[$k]:-}" ] || continue
	rss_json+="$sep\"$k\": ${rss[$k]}"
	sep=", "
done
rss_json+="}"
[ "$rss_json" != "{}" ] || rss_json=null

J_MODEL=$(json_str "$model") J_SERVER=$(json_str "$server") J_ARGS=$args J_RSS=$rss_json J_SMAPS=${smaps_json:-null} \
	J_FAILURE=$failure J_STATUS=$status J_EXIT=${exit_code:-null} J_PORT=$port \
	J_SECONDS=$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.2f", b - a }') \
	J_LOGFILE=$([ -n "${LLAMA_TRUTH_LOG:-}" ] && json_str "$LLAMA_TRUTH_LOG" || echo null) \
	awk '
function mib2b(x) { return sprintf("%.0f", x * 1048576) }
function jstr(s) {
	gsub(/\\/, "\\\\", s); gsub(/"/, "\\\"", s); gsub(/\t/, "\\t", s)
	return "\"" s "\""
}
function buf(name, mib, extra) {
	return "{\"buffer\": " jstr(name) ", \"mib\": " mib ", \"bytes\": " mib2b(mib) extra "}"
}
# adds one buffer line to list L (as JSON text) and its totals
function addbuf(L, name, mib, extra) {
	list[L] = list[L] (list[L] == "" ? "" : ", ") buf(name, mib, extra)
	if (!((L, name) in tot)) order[L] = order[L] SUBSEP name
	tot[L, name] += mib
}
function totals(L,    n, parts, i, s, sep) {
	n = split(order[L], parts, SUBSEP); s = "{"; sep = ""
	for (i = 2; i <= n; i++) {
		s = s sep jstr(parts[i]) ": {\"mib\": " sprintf("%.2f", tot[L, parts[i]]) \
		    ", \"bytes\": " mib2b(tot[L, parts[i]]) "}"
		sep = ", "
	}
	return s "}"
}
# the word after the last "= " (a number, "true", "auto", ...)
function val(s) { sub(/.*= */, "", s); sub(/ .*/, "", s); return s }
function num_or_str(v) { return (v ~ /^-?[0-9]+(\.[0-9]+)?$/) ? v : (v == "true" || v == "false") ? v : jstr(v) }
function bd_row(s,    name, rest, n, a, i, nums, out) {
	# "|   - CUDA0 (RTX 4090)   | 24077 =  945 + (19187 = ...) + 3945 |"
	sub(/.*\|[ ]+- /, "", s)
	name = s; sub(/ *\|.*/, "", name)
	rest = s; sub(/^[^|]*\|/, "", rest)
	n = 0
	while (match(rest, /-?[0-9]+/)) { nums[++n] = substr(rest, RSTART, RLENGTH); rest = substr(rest, RSTART + RLENGTH) }
	out = "{\"name\": " jstr(name)
	if (n == 7) out = out ", \"total\": " nums[1] ", \"free\": " nums[2] ", \"self\": " nums[3] ", \"model\": " nums[4] ", \"context\": " nums[5] ", \"compute\": " nums[6] ", \"unaccounted\": " nums[7]
	else if (n == 4) out = out ", \"self\": " nums[1] ", \"model\": " nums[2] ", \"context\": " nums[3] ", \"compute\": " nums[4]
	else { out = out ", \"numbers\": ["; for (i = 1; i <= n; i++) out = out (i > 1 ? ", " : "") nums[i]; out = out "]" }
	return out "}"
}
BEGIN { cache = "kv"; exiting = 0; ctxn = 0 }
/cleaning up before exit/ { exiting = 1 }
/common_params_print_info: build / && build == "" {
	s = $0; sub(/.*build [0-9]+ \(/, "", s); sub(/\).*/, "", s); build = s
}
/llama_server: n_parallel is set to auto/ { s = $0; sub(/.*n_parallel = /, "", s); sub(/ .*/, "", s); n_parallel = s }
/llama_model_loader: loaded meta data with/ && meta == "" {
	s = $0; sub(/.*loaded meta data with /, "", s); split(s, a, " ")
	meta = "\"n_kv\": " a[1] ", \"n_tensors\": " a[5]
}
/llama_model_loader: - type +[^ ]+: +[0-9]+ tensors/ && !typesdone {
	s = $0; sub(/.*- type +/, "", s); split(s, a, /[: ]+/)
	types = types (types == "" ? "" : ", ") jstr(a[1]) ": " a[2]
}
/print_info: file size += / && fsize == "" {
	s = $0; sub(/.*file size += /, "", s); split(s, a, /[ ()]+/)
	fsize = "\"file_size\": " a[1] ", \"file_size_unit\": " jstr(a[2]) ", \"bpw\": " a[3]
	typesdone = 1
}
/load_tensors: +[^ ]+ model buffer size = / {
	s = $0; sub(/.*load_tensors: +/, "", s); split(s, a, " "); addbuf("model", a[1], val(s))
}
/load_tensors: offloaded [0-9]+\/[0-9]+ layers/ { s = $0; sub(/.*offloaded /, "", s); sub(/ .*/, "", s); offl = s }
/llama_context: +[a-z_]+ += / && !/buffer size/ {
	s = $0; sub(/.*llama_context: +/, "", s); k = s; sub(/ .*/, "", k)
	if (k == "n_seq_max") ctxn++
	if (ctxn == 1 && k == "flash_attn") fa_req = val(s)
	if (ctxn == 1 && !((k) in ctxseen)) { ctxseen[k] = 1; ctx = ctx (ctx == "" ? "" : ", ") jstr(k) ": " num_or_str(val(s)) }
}
/resolve_fused_ops: Flash Attention / && fa == "" {
	fa = ($0 ~ /not supported|disabled/) ? "disabled" : "enabled"
}
/llama_context: +[^ ]+ +output buffer size = / {
	s = $0; sub(/.*llama_context: +/, "", s); split(s, a, " "); addbuf("output", a[1], val(s))
}
/creating .*KV cache, size = [0-9]+ cells/ {
	s = $0; sub(/.*creating +/, "", s); c = s; sub(/ *KV cache.*/, "", c); cache = c
	n = s; sub(/.*size = /, "", n); sub(/ .*/, "", n)
	cells_created = cells_created (cells_created == "" ? "" : ", ") jstr(c) ": " n
	if (c == "SWA") swa_cells = n; else if (c == "non-SWA") nonswa_cells = n
}
/llama_kv_cache: +[^ ]+ KV buffer size = / {
	s = $0; sub(/.*llama_kv_cache: +/, "", s); split(s, a, " ")
	addbuf("kv", a[1], val(s), ", \"cache\": " jstr(cache))
}
/llama_kv_cache: size = / {
	# size = 8.00 MiB (  4096 cells,   4 layers,  4/1 seqs), K (f16):    4.00 MiB, V (f16):    4.00 MiB
	s = $0; sub(/.*llama_kv_cache: size = +/, "", s); gsub(/[(),:\/]/, " ", s); n = split(s, a, " ")
	e = "{\"cache\": " jstr(cache) ", \"mib\": " a[1] ", \"bytes\": " mib2b(a[1]) ", \"cells\": " a[3] \
	    ", \"layers\": " a[5] ", \"seqs\": " a[7] ", \"streams\": " a[8] \
	    ", \"k_type\": " jstr(a[11]) ", \"k_mib\": " a[12] ", \"k_bytes\": " mib2b(a[12]) \
	    ", \"v_type\": " jstr(a[15]) ", \"v_mib\": " a[16] ", \"v_bytes\": " mib2b(a[16]) "}"
	kvs = kvs (kvs == "" ? "" : ", ") e
	cache = "kv"
}
/llama_memory_recurrent: +[^ ]+ RS buffer size = / {
	s = $0; sub(/.*llama_memory_recurrent: +/, "", s); split(s, a, " "); addbuf("rs", a[1], val(s))
}
/llama_memory_recurrent: size = / {
	# size = 0.06 MiB (     4 cells,  16 layers,  4 seqs  0 rs_seq), R (f32): 0.06 MiB, S (f32): 0.00 MiB, P (f32): 0.00 MiB
	s = $0; sub(/.*llama_memory_recurrent: size = +/, "", s); gsub(/[(),:]/, " ", s); split(s, a, " ")
	e = "{\"mib\": " a[1] ", \"bytes\": " mib2b(a[1]) ", \"cells\": " a[3] ", \"layers\": " a[5] \
	    ", \"seqs\": " a[7] ", \"rs_seq\": " a[9] \
	    ", \"r_type\": " jstr(a[12]) ", \"r_mib\": " a[13] ", \"r_bytes\": " mib2b(a[13]) \
	    ", \"s_type\": " jstr(a[16]) ", \"s_mib\": " a[17] ", \"s_bytes\": " mib2b(a[17]) \
	    ", \"p_mib\": " a[21] ", \"p_bytes\": " mib2b(a[21]) "}"
	rss_l = rss_l (rss_l == "" ? "" : ", ") e
}
/sched_reserve: +[^ ]+ compute buffer size = / {
	s = $0; sub(/.*sched_reserve: +/, "", s); split(s, a, " "); addbuf("compute", a[1], val(s))
}
/sched_reserve: graph: nodes = / && graph == "" {
	s = $0; sub(/.*nodes = /, "", s); split(s, a, /[ ,=]+/); graph = "{\"nodes\": " a[1] ", \"splits\": " a[3] "}"
}
/llama_context: pipeline parallelism enabled/ { pipeline = "true" }
/projected to use [0-9]+ MiB of/ && fitproj == "" { s = $0; sub(/.*projected to use /, "", s); sub(/ .*/, "", s); fitproj = s }
/srv +load_model: initializing, n_slots = / { s = $0; sub(/.*n_slots = /, "", s); sub(/,.*/, "", s); n_slots = s }
/common_memory_breakdown_print: \| +- / {
	r = bd_row($0)
	if (exiting) bd_exit = bd_exit (bd_exit == "" ? "" : ", ") r
	else if (!fitdone) bd_fit = bd_fit (bd_fit == "" ? "" : ", ") r
}
/llama_model_loader: loaded meta data/ && bd_fit != "" { fitdone = 1 }
END {
	ok = (ENVIRON["J_STATUS"] == "ready") ? "true" : "false"
	if (fa == "" && (fa_req == "enabled" || fa_req == "disabled")) fa = fa_req
	printf "{\n"
	printf "  \"ok\": %s,\n  \"status\": %s,\n  \"failure\": %s,\n  \"exit_code\": %s,\n", ok, jstr(ENVIRON["J_STATUS"]), ENVIRON["J_FAILURE"], ENVIRON["J_EXIT"]
	printf "  \"model\": %s,\n  \"server\": %s,\n  \"build\": %s,\n  \"args\": %s,\n", ENVIRON["J_MODEL"], ENVIRON["J_SERVER"], (build == "" ? "null" : jstr(build)), ENVIRON["J_ARGS"]
	printf "  \"seconds_to_ready\": %s,\n  \"log_file\": %s,\n", ENVIRON["J_SECONDS"], ENVIRON["J_LOGFILE"]
	printf "  \"note\": \"llama.cpp prints MiB with 2 decimals: bytes = round(MiB*2^20), exact to +-0.005 MiB (+-5243 bytes) per line; totals add the printed values. rss is exact (kB*1024), read while loaded and idle.\",\n"
	printf "  \"file\": {%s%s%s},\n", meta, (meta != "" && fsize != "" ? ", " : ""), fsize
	printf "  \"tensor_types\": {%s},\n", types
	printf "  \"n_parallel\": %s,\n  \"n_slots\": %s,\n", (n_parallel == "" ? "null" : n_parallel), (n_slots == "" ? "null" : n_slots)
	printf "  \"offloaded_layers\": %s,\n", (offl == "" ? "null" : jstr(offl))
	printf "  \"ctx\": {%s%s\"flash_attn_resolved\": %s, \"pipeline_parallel\": %s, \"n_contexts\": %d},\n", ctx, (ctx == "" ? "" : ", "), (fa == "" ? "null" : jstr(fa)), (pipeline == "" ? "false" : pipeline), ctxn
	printf "  \"model_buffers\": [%s],\n  \"model_buffer_totals\": %s,\n", list["model"], totals("model")
	printf "  \"kv_buffers\": [%s],\n  \"kv_buffer_totals\": %s,\n", list["kv"], totals("kv")
	printf "  \"kv_caches\": [%s],\n", kvs
	printf "  \"kv_cells_created\": {%s},\n", cells_created
	printf "  \"swa\": %s,\n", (swa_cells == "" && nonswa_cells == "" ? "null" : "{\"non_swa_cells\": " (nonswa_cells == "" ? "null" : nonswa_cells) ", \"swa_cells\": " (swa_cells == "" ? "null" : swa_cells) "}")
	printf "  \"rs_buffers\": [%s],\n  \"rs_buffer_totals\": %s,\n", list["rs"], totals("rs")
	printf "  \"rs_caches\": [%s],\n", rss_l
	printf "  \"output_buffers\": [%s],\n  \"output_buffer_totals\": %s,\n", list["output"], totals("output")
	printf "  \"compute_buffers\": [%s],\n  \"compute_buffer_totals\": %s,\n", list["compute"], totals("compute")
	printf "  \"graph\": %s,\n", (graph == "" ? "null" : graph)
	printf "  \"fit_projected_mib\": %s,\n", (fitproj == "" ? "null" : fitproj)
	printf "  \"breakdown_fit_mib\": [%s],\n  \"breakdown_exit_mib\": [%s],\n", bd_fit, bd_exit
	printf "  \"rss\": %s,\n", ENVIRON["J_RSS"]
	printf "  \"smaps\": %s\n}\n", ENVIRON["J_SMAPS"]
}' "$log"

[ "$status" = ready ]
