#!/usr/bin/env bash
# gpu-truth.sh: the estimate issue's CUDA check, run on a lent GPU machine
# (not in CI). Builds llama-server for this one GPU architecture with CMake
# and ninja from the pinned llama.cpp source, synthesizes the eight small
# models of the CPU accuracy matrix (scripts/truth-models.txt) plus a dense
# Llama-3.2-1B, an 8-layer Qwen3-30B-A3B MoE and a full-size Llama-3.1-8B
# (sparse), and for each runs llama-server with -ngl 0, half and all layers
# and -ts over one device (-c 4096; 8192 for the 8B), then, while time is
# left, five more configurations per small model (other contexts, KV types,
# flash attention, -np, -ub; experts on the CPU for the MoE models, -nkvo
# and -lm none for the dense ones). Each run is
# scripts/llama-truth.sh (which adds the device memory nvidia-smi sees the
# process hold) beside `llmem estimate ... --gpu <the card's memory>
# --json`, compared per device by truth-compare --device (CUDA0, then the
# host: each component within 1% or 4 MiB, the totals within 1%).
#
# usage: scripts/gpu-truth.sh            measure (on the GPU machine)
#        scripts/gpu-truth.sh --compare TRUTH.jsonl
#               recompute the llmem side here from a measured truth.jsonl
#               (same models, this checkout's build/), no GPU needed
#
# Measure mode needs, in the carried folder .gpu/: llama-src.tgz (the
# llama.cpp source of scripts/build-llama.sh's pinned commit), static
# builds of llmem, gguf-synth and truth-compare, and the vocabulary files
# ggml-vocab-*.gguf that scripts/truth-models.txt names.
#
# Writes to $OUT (default /tmp/gpu-truth): truth.jsonl (one object per run:
# name, model, args, truth, llmem), compare.tsv (run, device, component,
# llama.cpp bytes, llmem bytes, ok|OUT), table.md (the RESULTS.md table),
# logs.tgz (every server log), log.txt.
# Env: GPU_TRUTH_BUDGET_S (default 470: no run starts after that many
# seconds from the start), GPU_TRUTH_JOBS (servers at a time, default 4),
# GPU_TRUTH_LLAMA_BIN (a built llama-server's folder: skips the build),
# GPU_TRUTH_ONLY (run only the plan's runs of these names),
# GPU_TRUTH_ARGS (more llama-server options for every run, e.g. "-lv 5"
# with GGML_SCHED_DEBUG=2 in the environment: the scheduler's splits and
# every node's backend, in logs.tgz).
# GPU_TRUTH_ENV (VAR=VALUE words for every llama-server run, e.g.
# CUDA_MODULE_LOADING=EAGER). Every run records /proc/PID/smaps grouped by
# mapping (llama-truth.sh LLAMA_TRUTH_SMAPS): where the anonymous memory
# the CUDA runtime adds lies.
#
# What is left to measure (bench/RESULTS.md, 2026-11-28 08:45): RssAnon
# with layers on the GPU is 150 MiB over the CPU rules on average but
# -22..+21 MiB around that by architecture (MoE models over, Gemma 3 and
# Llama under), the same in repeated runs. Kernels do run at load even
# with --no-warmup: llama-server decodes two tokens to learn whether the
# cache can drop a sequence's tail (server-context.cpp load_model ->
# common_context_can_seq_rm, common.cpp:1583; skipped only for a
# bounded recurrent state), so under CUDA's default lazy loading the
# kernels of that one decode are loaded, and which they are depends on the
# architecture (MoE: the expert kernels; Gemma 3: GELU, no SiLU). A first run to tell whether
# CUDA's lazy module loading is the cause, about 6 minutes with the build:
#   GPU_TRUTH_ONLY="llama-nglall gemma3-nglall gpt-oss-nglall qwen3moe-nglall
#     deepseek2-nglhalf deepseek2-nglall phi3-nglall" scripts/gpu-truth.sh
#   then the same with GPU_TRUTH_ENV=CUDA_MODULE_LOADING=EAGER and
#   GPU_TRUTH_LLAMA_BIN=/tmp/llb/bin (no second build), OUT elsewhere.
set -u
ROOT=$(cd "$(dirname "$0")/.." && pwd)
OUT=${OUT:-/tmp/gpu-truth}
mkdir -p "$OUT"
log=$OUT/log.txt
T0=$(date +%s)
BUDGET=${GPU_TRUTH_BUDGET_S:-470}
JOBS=${GPU_TRUTH_JOBS:-4}
say() { echo "[$(($(date +%s) - T0))s] $*" | tee -a "$log"; }
die() { say "FAIL: $*"; exit 1; }
W=$(mktemp -d /tmp/gpu-truth.XXXXXX)

MODE=measure
if [ "${1:-}" = --compare ]; then
	MODE=compare
	IN=$(cd "$(dirname "$2")" && pwd)/$(basename "$2")
	B=${BUILD:-$ROOT/build}
	SYNTH=$B/tools/gguf-synth LLMEM=$B/llmem CMP=$B/tools/truth-compare
	python3() { /usr/bin/python3 "$@"; }
	eval "$(bash "$ROOT/scripts/setup-peers.sh" --print-env 2>/dev/null)"
	VOC=${LLMEM_PEERS_SRC:-}/models
else
	G=$ROOT/.gpu
	SYNTH=$G/gguf-synth LLMEM=$G/llmem CMP=$G/truth-compare VOC=$G
fi
for f in "$SYNTH" "$LLMEM" "$CMP"; do [ -x "$f" ] || die "missing $f"; done

# name|recipe|vocabulary: the CPU matrix's models, then two larger ones
{
	cat "$ROOT/scripts/truth-models.txt"
	echo 'llama1b|--shape llama-3.2-1b|llama-bpe'
	echo 'qwen3moe8|--shape qwen3-30b-a3b --layers 8|qwen2'
	echo 'llama8b|--shape llama-3.1-8b|llama-bpe'
} >"$W/models"

if [ $MODE = measure ]; then
	nvidia-smi --query-gpu=name,memory.total,memory.used,compute_cap,driver_version --format=csv | tee -a "$log"
	gpu_mib=$(nvidia-smi --query-gpu=memory.total --format=csv,noheader,nounits | head -1 | tr -d ' ')
	echo "$gpu_mib" >"$OUT/gpu_mib"
	if [ -n "${GPU_TRUTH_LLAMA_BIN:-}" ]; then
		bin=$GPU_TRUTH_LLAMA_BIN
	else
		arch=$(nvidia-smi --query-gpu=compute_cap --format=csv,noheader | head -1 | tr -d '.')
		mkdir -p /tmp/llsrc && tar xzf "$ROOT/.gpu/llama-src.tgz" -C /tmp/llsrc || die "no llama.cpp source"
		say "configuring for sm_$arch"
		cmake -S /tmp/llsrc -B /tmp/llb -G Ninja -DCMAKE_BUILD_TYPE=Release -DGGML_CUDA=ON \
			-DCMAKE_CUDA_ARCHITECTURES="$arch" -DGGML_NATIVE=OFF -DLLAMA_CURL=OFF -DLLAMA_OPENSSL=OFF \
			-DLLAMA_BUILD_TESTS=OFF -DLLAMA_BUILD_EXAMPLES=OFF -DLLAMA_BUILD_UI=OFF \
			-DLLAMA_USE_PREBUILT_UI=OFF -DLLAMA_BUILD_APP=OFF >"$W/cmake.txt" 2>&1 ||
			{ tail -20 "$W/cmake.txt"; die "cmake"; }
		say "building llama-server"
		cmake --build /tmp/llb -j "$(nproc)" --target llama-server >"$W/build.txt" 2>&1 ||
			{ tail -30 "$W/build.txt"; die "build"; }
		bin=/tmp/llb/bin
		say "built"
	fi
else
	gpu_mib=$(/usr/bin/python3 -c 'import json,sys; print(json.loads(open(sys.argv[1]).readline()).get("gpu_mib", 143771))' "$IN")
fi

# the models, and each one's layer count
while IFS='|' read -r name recipe vocab; do
	# shellcheck disable=SC2086
	"$SYNTH" $recipe --vocab-from "$VOC/ggml-vocab-$vocab.gguf" "$W/$name.gguf" >"$W/synth.txt" 2>&1 ||
		{ cat "$W/synth.txt"; die "gguf-synth $name"; }
	L=$("$LLMEM" estimate "$W/$name.gguf" --json | python3 -c 'import json,sys; print(json.load(sys.stdin)["model"]["layers"])') ||
		die "llmem on $name"
	echo "$name $L" >>"$W/layers"
done <"$W/models"
say "models: $(tr '\n' ' ' <"$W/layers")"

# the plan: name|model|options; the acceptance's four first, then the rest
# configuration by configuration, so that a cut leaves every model alike
small=$(cut -d'|' -f1 "$ROOT/scripts/truth-models.txt")
if [ $MODE = measure ]; then
	while read -r m L; do
		h=$((L / 2))
		c=4096
		[ "$m" = llama8b ] && c=8192
		echo "$m-ngl0|$m|-c $c -ngl 0"
		echo "$m-nglhalf|$m|-c $c -ngl $h"
		echo "$m-nglall|$m|-c $c -ngl all"
		echo "$m-ts1|$m|-c $c -ngl all -ts 1"
	done <"$W/layers" >"$W/plan"
	for k in 1 2 3 4 5; do
		for m in $small; do
			L=$(awk -v m="$m" '$1 == m { print $2 }' "$W/layers")
			h=$((L / 2))
			moe=0
			case $m in qwen3moe | deepseek2 | gpt-oss) moe=1 ;; esac
			case $k$moe in
			1?) echo "$m-c32k-q8-half|$m|-c 32768 -ngl $h -ctk q8_0 -ctv q8_0 -fa on -np 1 -ub 2048" ;;
			2?) echo "$m-c512-q4-all|$m|-c 512 -ngl all -ctk q4_0 -ctv q4_0 -fa on -np 4 -ub 2048" ;;
			3?) echo "$m-faoff-half|$m|-c 4096 -ngl $h -fa off -np 1" ;;
			41) echo "$m-ncpumoe2|$m|-c 4096 -ngl all --n-cpu-moe 2" ;;
			40) echo "$m-nkvo|$m|-c 4096 -ngl all -nkvo" ;;
			51) echo "$m-cpumoe|$m|-c 4096 -ngl all --cpu-moe" ;;
			50) echo "$m-lmnone-half|$m|-c 4096 -ngl $h -lm none" ;;
			esac
		done
	done >>"$W/plan"
	if [ -n "${GPU_TRUTH_ONLY:-}" ]; then
		for n in $GPU_TRUTH_ONLY; do grep "^$n|" "$W/plan"; done >"$W/plan.only"
		mv "$W/plan.only" "$W/plan"
	fi
	say "$(wc -l <"$W/plan") runs planned, $JOBS at a time, none started after ${BUDGET}s"
	mkdir -p "$W/runs" "$W/logs"
	one() { # name|model|options
		local name=${1%%|*} rest=${1#*|} m opts
		m=${rest%%|*} opts=${rest#*|}
		if [ $(($(date +%s) - T0)) -ge "$BUDGET" ]; then
			echo "skipped" >"$W/runs/$name.skip"
			return
		fi
		# shellcheck disable=SC2086
		env ${GPU_TRUTH_ENV:-} LLMEM_LLAMA_BIN=$bin LLAMA_TRUTH_LOG=$W/logs/$name.log LLAMA_TRUTH_TIMEOUT=60 \
			LLAMA_TRUTH_SMAPS=1 bash "$ROOT/scripts/llama-truth.sh" "$W/$m.gguf" $opts ${GPU_TRUTH_ARGS:-} >"$W/runs/$name.json" 2>"$W/runs/$name.err"
		local rc=$?
		echo "[$(($(date +%s) - T0))s] $name: exit $rc ($opts)" >>"$log"
	}
	export -f one
	export T0 BUDGET W bin ROOT log
	tr '\n' '\0' <"$W/plan" | xargs -0 -P "$JOBS" -I{} bash -c 'one "$1"' _ {}
	n_skip=0
	for f in "$W"/runs/*.skip; do [ -e "$f" ] && n_skip=$((n_skip + 1)); done
	say "runs done; $n_skip skipped for time"
	: >"$OUT/truth.jsonl"
	while IFS='|' read -r name m opts; do
		[ -s "$W/runs/$name.json" ] || continue
		printf '{"name": "%s", "model": "%s", "args": "%s", "gpu_mib": %s, "truth": %s}\n' "$name" "$m" "$opts" \
			"$gpu_mib" "$(tr -d '\n' <"$W/runs/$name.json")" >>"$OUT/truth.jsonl"
	done <"$W/plan"
	tar czf "$OUT/logs.tgz" -C "$W" logs
	IN=$OUT/truth.jsonl
fi

# the comparison: one llmem estimate per run, truth-compare per device
: >"$OUT/compare.tsv"
python3 -c '
import json, sys
for l in open(sys.argv[1]):
    d = json.loads(l)
    print(d["name"], d["model"], d["args"], sep="|")
    json.dump(d["truth"], open(sys.argv[2] + "/" + d["name"] + ".truth", "w"))
' "$IN" "$W" >"$W/measured"
while IFS='|' read -r name m opts; do
	# shellcheck disable=SC2086
	if ! "$LLMEM" estimate "$W/$m.gguf" $opts --gpu "${gpu_mib}MiB" --json >"$W/$name.est" 2>"$W/est.err"; then
		printf '%s\t-\tllmem\t-\t-\t%s\n' "$name" "$(head -c 200 "$W/est.err" | tr '\n\t' '  ')" >>"$OUT/compare.tsv"
		continue
	fi
	for dev in CUDA0 CPU; do
		"$CMP" --device "$dev" "$W/$name.truth" "$W/$name.est" "$name" 2>&1 |
			awk -v n="$name" -v d="$dev" 'NF == 8 && ($8 == "ok" || $8 == "OUT") { print n "\t" d "\t" $2 "\t" $3 "\t" $4 "\t" $8 }' >>"$OUT/compare.tsv"
	done
	[ $MODE = measure ] || continue
	# the llmem side travels in truth.jsonl too
	python3 -c 'import json,sys; print(json.dumps(json.load(open(sys.argv[1]))))' "$W/$name.est" >"$W/$name.est1"
done <"$W/measured"
if [ $MODE = measure ]; then
	python3 - "$OUT/truth.jsonl" "$W" <<'PY'
import json, sys
p, w = sys.argv[1:3]
lines = [json.loads(l) for l in open(p)]
with open(p, "w") as f:
    for d in lines:
        try:
            d["llmem"] = json.load(open(w + "/" + d["name"] + ".est1"))
        except OSError:
            d["llmem"] = None
        f.write(json.dumps(d) + "\n")
PY
fi

# the table: per run, what llama.cpp allocated and what llmem said (MiB)
python3 - "$OUT/compare.tsv" "$IN" >"$OUT/table.md" <<'PY'
import json, sys
from collections import OrderedDict
M = 1 << 20
rows = OrderedDict()
for l in open(sys.argv[1]):
    f = l.rstrip("\n").split("\t")
    if f[1] == "-":
        rows.setdefault(f[0], {})["error"] = f[5]
        continue
    rows.setdefault(f[0], {})[(f[1], f[2])] = (int(f[3]), int(f[4]), f[5] == "ok")
args = {json.loads(l)["name"]: json.loads(l)["args"] for l in open(sys.argv[2])}
def cell(r, key):
    if key not in r:
        return "-"
    t, e, ok = r[key]
    s = f"{t / M:.2f} / {e / M:.2f}"
    return s if ok else f"**{s}**"
cols = [("CUDA0", "weights"), ("CUDA0", "kv"), ("CUDA0", "recurrent"), ("CUDA0", "compute"), ("CUDA0", "total"),
        ("CUDA0", "gpu_used"), ("CPU", "weights"), ("CPU", "kv"), ("CPU", "recurrent"), ("CPU", "compute"), ("CPU", "output"),
        ("CPU", "total")]
print("| run | options | " + " | ".join(f"{d} {c}" for d, c in cols) + " | verdict |")
print("| --- | --- | " + " | ".join("---:" for _ in cols) + " | --- |")
n_ok = n = 0
comp_ok = comp_n = 0
for name, r in rows.items():
    n += 1
    if "error" in r:
        print(f"| {name} | `{args.get(name, '')}` | " + " | ".join("-" for _ in cols) + f" | llmem: {r['error']} |")
        continue
    vals = [v for k, v in r.items()]
    bad = [f"{k[0]} {k[1]}" for k, v in r.items() if not v[2]]
    comp_n += len(vals)
    comp_ok += sum(1 for v in vals if v[2])
    n_ok += not bad
    print(f"| {name} | `{args.get(name, '')}` | " + " | ".join(cell(r, k) for k in cols) + " | " +
          ("ok" if not bad else "OUT: " + ", ".join(bad)) + " |")
print()
print(f"Runs with every component within tolerance: {n_ok} of {n}; components: {comp_ok} of {comp_n}.")
PY
cat "$OUT/table.md" >>"$log"
tail -1 "$OUT/table.md"
say "done"
[ -n "${GPU_TRUTH_KEEP:-}" ] && say "kept $W" || rm -rf "$W"
