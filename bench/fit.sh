#!/bin/sh
# `make bench`, part 3: whole-process time of `llmem fit` for a 70B-shaped
# model on two GPUs, and for a MoE model (Qwen3-30B-A3B) that needs its
# experts partly on the CPU; both must take under 10 ms. And on the CPU
# (this machine), `llmem fit` against llama.cpp's `llama-fit-params` for
# the same 8B model and context, as a ratio. Appends to bench/RESULTS.md.
set -eu
ROOT=$(cd "$(dirname "$0")/.." && pwd)
BUILD=${BUILD:-build}
case $BUILD in /*) ;; *) BUILD=$ROOT/$BUILD ;; esac
RESULTS=${BENCH_RESULTS:-$ROOT/bench/RESULTS.md}
fail() { printf 'bench: FAIL: %s\n' "$*" >&2; exit 1; }

bin=$(bash "$ROOT/scripts/build-llama.sh" 2>/dev/null | tail -n 1) || fail "scripts/build-llama.sh failed"
eval "$(bash "$ROOT/scripts/setup-peers.sh" --print-env)"
W=$(mktemp -d "${TMPDIR:-/tmp}/llmem-bench-fit.XXXXXX")
trap 'rm -rf "$W"' EXIT INT TERM
V=$LLMEM_PEERS_SRC/models
"$BUILD/tools/gguf-synth" --shape llama-3.3-70b --vocab-from "$V/ggml-vocab-llama-bpe.gguf" "$W/70b.gguf" >/dev/null
"$BUILD/tools/gguf-synth" --shape qwen3-30b-a3b --vocab-from "$V/ggml-vocab-qwen2.gguf" "$W/moe.gguf" >/dev/null
"$BUILD/tools/gguf-synth" --shape llama-3.1-8b --vocab-from "$V/ggml-vocab-llama-bpe.gguf" "$W/8b.gguf" >/dev/null

A="$BUILD/llmem fit $W/70b.gguf -c 8192 --device cuda0=24GiB,cuda1=24GiB"
B="$BUILD/llmem fit $W/moe.gguf -c 8192 --gpu 12GiB"
C="$BUILD/llmem fit $W/8b.gguf -c 4096"
D="$bin/llama-fit-params -m $W/8b.gguf -c 4096"
for cmd in "$A" "$B" "$C" "$D"; do
	$cmd >"$W/out" 2>&1 || { cat "$W/out" >&2; fail "$cmd failed"; }
done
$B | grep -q "n-cpu-moe" || fail "the MoE plan does not move experts to the CPU"
hyperfine -N --style basic --warmup 3 --runs 30 --export-json "$W/a.json" "$A" >/dev/null
hyperfine -N --style basic --warmup 3 --runs 30 --export-json "$W/b.json" "$B" >/dev/null
hyperfine -N --style basic --warmup 3 --runs 30 --export-json "$W/c.json" "$C" >/dev/null
hyperfine -N --style basic --warmup 1 --runs 10 --export-json "$W/d.json" "$D" >/dev/null
$A >"$W/plan-a.txt"
$B >"$W/plan-b.txt"

/usr/bin/python3 - "$W" "$RESULTS" <<'PY'
import json, os, sys, datetime
w, results = sys.argv[1:3]
def med(n):
    r = json.load(open(f"{w}/{n}.json"))["results"][0]
    return r["median"], len(r["times"])
(a, an), (b, bn), (c, cn), (d, dn) = med("a"), med("b"), med("c"), med("d")
ok = a < 0.010 and b < 0.010
ratio = d / c
cmd = lambda f: next(l.strip() for l in open(f"{w}/{f}") if l.startswith("command:"))
print(f"llmem fit 70B, two 24 GiB GPUs       median {a*1e3:.3f} ms ({an} runs)")
print(f"llmem fit Qwen3-30B-A3B, one 12 GiB  median {b*1e3:.3f} ms ({bn} runs)")
print(f"llmem fit 8B on this CPU             median {c*1e3:.3f} ms ({cn} runs)")
print(f"llama-fit-params 8B on this CPU      median {d*1e3:.1f} ms ({dn} runs)  ratio {ratio:,.0f}x")
verdict = f"{'PASS' if ok else 'FAIL'}: both GPU plans under 10 ms; llmem fit is {ratio:,.0f}x faster than llama-fit-params on the CPU case"
print("verdict:", verdict)
cpu = next((l.split(":", 1)[1].strip() for l in open("/proc/cpuinfo") if l.startswith("model name")), "?")
with open(results, "a") as f:
    f.write(f"\n## {datetime.datetime.utcnow():%Y-%m-%d %H:%M} UTC: `llmem fit`\n\n")
    f.write(f"- Machine: {cpu}, {os.cpu_count()} CPUs (the GPUs of the first two rows are given with `--device`: a what-if plan, no GPU here)\n")
    f.write("- Models: `gguf-synth` with llama.cpp's vocabularies (sparse): Llama-3.3-70B Q4_K_M, Qwen3-30B-A3B Q4_K_M, Llama-3.1-8B Q4_K_M\n- Method: hyperfine -N, whole process, warm page cache\n\n")
    f.write("| command | runs | median |\n| --- | ---: | ---: |\n")
    f.write(f"| `llmem fit 70b.gguf -c 8192 --device cuda0=24GiB,cuda1=24GiB` | {an} | {a*1e3:.3f} ms |\n")
    f.write(f"| `llmem fit qwen3-30b-a3b.gguf -c 8192 --gpu 12GiB` | {bn} | {b*1e3:.3f} ms |\n")
    f.write(f"| `llmem fit 8b.gguf -c 4096` (CPU) | {cn} | {c*1e3:.3f} ms |\n")
    f.write(f"| `llama-fit-params -m 8b.gguf -c 4096` (CPU) | {dn} | {d*1e3:.1f} ms ({ratio:,.0f}x llmem) |\n\n")
    f.write(f"Plans: 70B `{cmd('plan-a.txt')}`; MoE `{cmd('plan-b.txt')}`.\n\nVerdict: {verdict}.\n")
PY
