#!/usr/bin/env bash
# gpu-truth.sh: the estimate issue's CUDA check, run on a lent GPU machine
# (not in CI). Builds llama-server for this one GPU architecture with CMake
# and ninja from the pinned llama.cpp source, synthesizes two models (a
# dense Llama-3.2-1B and an 8-layer Qwen3-30B-A3B MoE), and records what
# llama-server allocates with -ngl 0, half, all and -ts over one device
# (scripts/llama-truth.sh, plus the device memory nvidia-smi sees), one JSON
# object per line in $OUT/truth.jsonl. Compare here with:
#   llmem estimate MODEL --gpu <total> -ngl N ... --json
# Needs, in the carried folder .gpu/: llama-src.tgz (the llama.cpp source),
# gguf-synth (static), the two vocabulary files.
set -u
OUT=${OUT:-/tmp/out}
mkdir -p "$OUT"
log=$OUT/log.txt
T0=$(date +%s)
say() { echo "[$(($(date +%s) - T0))s] $*" | tee -a "$log"; }
nvidia-smi --query-gpu=name,memory.total,memory.used,compute_cap --format=csv | tee -a "$log"
arch=$(nvidia-smi --query-gpu=compute_cap --format=csv,noheader | head -1 | tr -d '.')
mkdir -p /tmp/llsrc && tar xzf .gpu/llama-src.tgz -C /tmp/llsrc
say "configuring for sm_$arch"
cmake -S /tmp/llsrc -B /tmp/llb -G Ninja -DCMAKE_BUILD_TYPE=Release -DGGML_CUDA=ON \
	-DCMAKE_CUDA_ARCHITECTURES="$arch" -DGGML_NATIVE=OFF -DLLAMA_CURL=OFF -DLLAMA_OPENSSL=OFF \
	-DLLAMA_BUILD_TESTS=OFF -DLLAMA_BUILD_EXAMPLES=OFF -DLLAMA_BUILD_UI=OFF \
	-DLLAMA_USE_PREBUILT_UI=OFF -DLLAMA_BUILD_APP=OFF >"$OUT/cmake.txt" 2>&1 || { tail -20 "$OUT/cmake.txt"; exit 1; }
say "building llama-server"
cmake --build /tmp/llb -j "$(nproc)" --target llama-server >"$OUT/build.txt" 2>&1 ||
	{ tail -30 "$OUT/build.txt"; exit 1; }
rm -f "$OUT/build.txt" "$OUT/cmake.txt"
say "built"
G=.gpu/gguf-synth
$G --shape llama-3.2-1b --vocab-from .gpu/ggml-vocab-llama-bpe.gguf /tmp/llama1b.gguf
$G --shape qwen3-30b-a3b --vocab-from .gpu/ggml-vocab-qwen2.gguf --layers 8 /tmp/qwen3moe8.gguf
: >"$OUT/truth.jsonl"
run() { # name model args...
	local name=$1 m=$2
	shift 2
	say "$name: $*"
	LLMEM_LLAMA_BIN=/tmp/llb/bin bash scripts/llama-truth.sh "$m" "$@" >/tmp/t.json 2>/tmp/t.err ||
		{ say "$name failed: $(tail -3 /tmp/t.err)"; }
	printf '{"name": "%s", "truth": %s}\n' "$name" "$(tr -d '\n' </tmp/t.json)" >>"$OUT/truth.jsonl"
}
for spec in "llama1b 16" "qwen3moe8 8"; do
	set -- $spec
	n=$1 L=$2
	m=/tmp/$n.gguf
	run "$n-ngl0" "$m" -c 4096 -ngl 0
	run "$n-nglhalf" "$m" -c 4096 -ngl $((L / 2))
	run "$n-nglall" "$m" -c 4096 -ngl all
	run "$n-ts1" "$m" -c 4096 -ngl all -ts 1
	[ $(($(date +%s) - T0)) -lt 540 ] || { say "out of time"; break; }
done
say "done"
