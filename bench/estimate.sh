#!/bin/sh
# `make bench`, part 2: whole-process time of `llmem estimate` against
# `llama-fit-params --fit-print on` (llama.cpp's own dry-run projection) on
# the same 70B-shaped sparse file and the same options, measured in one run,
# with the two answers side by side. Acceptance bar: llmem at least 100x
# faster. Appends to bench/RESULTS.md.
set -eu
ROOT=$(cd "$(dirname "$0")/.." && pwd)
BUILD=${BUILD:-build}
case $BUILD in /*) ;; *) BUILD=$ROOT/$BUILD ;; esac
RESULTS=${BENCH_RESULTS:-$ROOT/bench/RESULTS.md}
OPTS="-c 4096"
BAR=100
say() { printf 'bench: %s\n' "$*"; }
fail() { printf 'bench: FAIL: %s\n' "$*" >&2; exit 1; }

bin=$(bash "$ROOT/scripts/build-llama.sh" | tail -n 1) || fail "scripts/build-llama.sh failed"
eval "$(bash "$ROOT/scripts/setup-peers.sh" --print-env)"
WORK=$(mktemp -d "${TMPDIR:-/tmp}/llmem-bench-est.XXXXXX")
trap 'rm -rf "$WORK"' EXIT INT TERM
GGUF=$WORK/llama-3.3-70b-q4_k_m.gguf
"$BUILD/tools/gguf-synth" --shape llama-3.3-70b \
	--vocab-from "$LLMEM_PEERS_SRC/models/ggml-vocab-llama-bpe.gguf" "$GGUF" >/dev/null \
	|| fail "gguf-synth failed"

# both must answer
# shellcheck disable=SC2086
"$bin/llama-fit-params" -m "$GGUF" $OPTS --fit-print on >"$WORK/fit.out" 2>"$WORK/fit.err" \
	|| { tail -5 "$WORK/fit.err" >&2; fail "llama-fit-params failed"; }
# shellcheck disable=SC2086
"$BUILD/llmem" estimate "$GGUF" $OPTS --json >"$WORK/est.json" || fail "llmem estimate failed"

hyperfine -N --style basic --warmup 3 --runs 30 --export-json "$WORK/llmem.json" \
	"$BUILD/llmem estimate $GGUF $OPTS" >/dev/null
hyperfine -N --style basic --warmup 1 --runs 10 --export-json "$WORK/fit.json" \
	"$bin/llama-fit-params -m $GGUF $OPTS --fit-print on" >/dev/null

/usr/bin/python3 - "$WORK" "$RESULTS" "$BAR" "$OPTS" "$LLAMA_CPP_TAG" "$LLAMA_CPP_COMMIT" "$ROOT" <<'PY'
import json, os, platform, subprocess, sys, datetime
work, results, bar, opts, tag, commit, root = sys.argv[1:8]
bar = float(bar)
def med(name):
    r = json.load(open(f"{work}/{name}.json"))["results"][0]
    return r["median"], len(r["times"])
lm, ln = med("llmem"); fm, fn = med("fit")
ratio = fm / lm
# llama-fit-params prints "Host MODEL CONTEXT COMPUTE" in MiB for a CPU-only run
fit = None
for line in open(f"{work}/fit.out"):
    p = line.split()
    if len(p) == 4 and p[0] == "Host":
        fit = [int(x) for x in p[1:]]
est = json.load(open(f"{work}/est.json"))
h = est["devices"][0]
MiB = 1 << 20
rows = [
    ("model (weights)", fit[0] if fit else None, h["weights"] // MiB,
     f"llama-fit-params counts host buffers only: the {h['weights_repack'] // MiB} MiB of CPU_REPACK copies are left out "
     f"(fit.cpp drops non-host buffer types), and it sums tensors where a real load maps a span of the file "
     f"({h['weights_mapped'] // MiB} MiB mapped)"),
    ("context (KV + recurrent)", fit[1] if fit else None, (h["kv"] + h["recurrent"]) // MiB, "the same rule"),
    ("compute", fit[2] if fit else None, h["compute"] // MiB,
     f"llama-fit-params is not the server: it reserves logits for every token of the ubatch (n_outputs_max = n_batch), "
     f"llama-server for one per slot ({est['config']['n_outputs_max']})"),
    ("output buffer", "-", h["output"] // MiB, "not part of llama.cpp's memory breakdown"),
]
verdict = f"{'PASS' if ratio >= bar else 'FAIL'}: llmem estimate is {ratio:,.0f}x faster than llama-fit-params; the bar is {bar:.0f}x"
print(f"llmem estimate       median {lm*1e3:8.3f} ms ({ln} runs)")
print(f"llama-fit-params     median {fm*1e3:8.3f} ms ({fn} runs)  ratio {ratio:,.0f}x")
for r in rows:
    print(f"  {r[0]:26} fit {str(r[1]):>8} MiB   llmem {r[2]:>8} MiB   {r[3]}")
print("verdict:", verdict)
cpu = next((l.split(":", 1)[1].strip() for l in open("/proc/cpuinfo") if l.startswith("model name")), "?")
mem = int(open("/proc/meminfo").readline().split()[1]) / 1048576
rev = subprocess.run(["git", "-C", root, "rev-parse", "--short", "HEAD"], capture_output=True, text=True).stdout.strip()
with open(results, "a") as f:
    f.write(f"\n## {datetime.datetime.utcnow():%Y-%m-%d %H:%M} UTC: `llmem estimate` vs `llama-fit-params --fit-print on`, 70B Q4_K_M, `{opts}`\n\n")
    f.write(f"- Machine: {cpu}, {os.cpu_count()} CPUs, {mem:.1f} GiB RAM; CPU-only llama.cpp {tag} ({commit[:10]}) built by scripts/build-llama.sh\n")
    f.write(f"- llmem: {rev}; file: `gguf-synth --shape llama-3.3-70b --vocab-from ggml-vocab-llama-bpe.gguf` (sparse)\n")
    f.write("- Method: hyperfine -N, whole process, warm page cache\n\n")
    f.write("| command | runs | median | ratio |\n| --- | ---: | ---: | ---: |\n")
    f.write(f"| `llmem estimate FILE {opts}` | {ln} | {lm*1e3:.3f} ms | 1x |\n")
    f.write(f"| `llama-fit-params -m FILE {opts} --fit-print on` | {fn} | {fm*1e3:.1f} ms | {ratio:,.0f}x |\n\n")
    f.write("The two answers (host, MiB):\n\n| component | llama-fit-params | llmem | why they differ |\n| --- | ---: | ---: | --- |\n")
    for r in rows:
        f.write(f"| {r[0]} | {r[1]} | {r[2]} | {r[3]} |\n")
    f.write(f"\nVerdict: {verdict}.\n")
PY
