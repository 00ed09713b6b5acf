#!/bin/sh
# `make bench`: time `llmem inspect` on a 70B-shaped GGUF against two peers
# that read the same header, measured in the same run:
#   gguf-py     /usr/bin/python3 -m gguf.scripts.gguf_dump FILE
#   node-llama-cpp  node .../cli.js inspect gguf FILE
# and print each peer's median over llmem's median. Acceptance bar: llmem at
# least 200x faster than the faster peer. Appends the figures, with the
# machine they ran on, to bench/RESULTS.md.
#
# Env: BUILD (default build), LLMEM_CACHE (peer cache, see
# scripts/setup-peers.sh), LLMEM_RUNS (100), PEER_RUNS (5), BENCH_RESULTS (file to
# append to, default bench/RESULTS.md), BENCH_STRICT=1 (exit 1 when the
# verdict is FAIL; otherwise only set-up or peer errors fail the run).
set -eu

ROOT=$(cd "$(dirname "$0")/.." && pwd)
BUILD=${BUILD:-build}
case $BUILD in /*) ;; *) BUILD=$ROOT/$BUILD ;; esac
LLMEM=$BUILD/llmem
SYNTH=$BUILD/tools/gguf-synth
RESULTS=${BENCH_RESULTS:-$ROOT/bench/RESULTS.md}
LLMEM_RUNS=${LLMEM_RUNS:-100}
PEER_RUNS=${PEER_RUNS:-5}
BAR=200

say() { printf 'bench: %s\n' "$*"; }
fail() { printf 'bench: FAIL: %s\n' "$*" >&2; exit 1; }

[ -x "$LLMEM" ] || fail "$LLMEM not built (run make bench)"
[ -x "$SYNTH" ] || fail "$SYNTH not built (run make bench)"

# Peers: node-llama-cpp, the llama.cpp source it bundles (for gguf-py),
# Debian's numpy/yaml and hyperfine. Sets LLMEM_PEERS_SRC, GGUF_PY,
# PEER_PYTHON, LLAMA_CPP_TAG, LLAMA_CPP_COMMIT, NODE_LLAMA_CPP_VERSION,
# NODE_LLAMA_CPP_CLI.
peers_env=$(bash "$ROOT/scripts/setup-peers.sh" --print-env) || fail "scripts/setup-peers.sh failed"
eval "$peers_env"
command -v hyperfine >/dev/null || fail "hyperfine missing after set-up"
PY=$PEER_PYTHON

WORK=$(mktemp -d "${TMPDIR:-/tmp}/llmem-bench.XXXXXX")
trap 'rm -rf "$WORK"' EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# --- the file: sparse, 70B-shaped, Q4_K_M ----------------------------------
GGUF=$WORK/llama-3.3-70b-q4_k_m.gguf
say "making $GGUF"
"$SYNTH" --shape llama-3.3-70b --ftype q4_k_m "$GGUF" >"$WORK/synth.log" 2>&1 \
  || { cat "$WORK/synth.log" >&2; fail "gguf-synth failed"; }
apparent=$(stat -c %s "$GGUF")
allocated=$(( $(stat -c %b "$GGUF") * $(stat -c %B "$GGUF") ))
[ "$apparent" -ge 30000000000 ] \
  || fail "gguf-synth made $apparent bytes; a 70B Q4_K_M file is about 42.5 GB"
[ "$allocated" -le 1073741824 ] \
  || say "warning: $GGUF takes $allocated bytes on disk; this file system did not keep it sparse"

# --- every command must succeed on the file, and the peers must see it -----
export PYTHONPATH="$GGUF_PY"
# `inspect gguf` on a local path downloads and builds nothing (checked with
# strace: no sockets); the variable only makes sure of it.
export NODE_LLAMA_CPP_SKIP_DOWNLOAD=true
check() { # name, then the command
  name=$1; shift
  rc=0
  "$@" >"$WORK/$name.out" 2>"$WORK/$name.err" || rc=$?
  if [ "$rc" -ne 0 ]; then
    tail -n 20 "$WORK/$name.err" >&2
    fail "$name exited $rc on $GGUF: $*"
  fi
}
check llmem "$LLMEM" inspect "$GGUF"
check gguf-dump "$PY" -m gguf.scripts.gguf_dump "$GGUF"
check nlc node "$NODE_LLAMA_CPP_CLI" inspect gguf "$GGUF"
grep -q 'block_count = 80$' "$WORK/gguf-dump.out" \
  || fail "gguf_dump did not report 80 layers; see its output: $(head -c 2000 "$WORK/gguf-dump.out")"
grep -Eq '\| +128256 \| tokenizer\.ggml\.tokens ' "$WORK/gguf-dump.out" \
  || fail "gguf_dump did not report a 128,256-token vocabulary"
grep -q 'block_count: 80,' "$WORK/nlc.out" \
  || fail "node-llama-cpp inspect gguf did not report 80 layers; see its output: $(head -c 2000 "$WORK/nlc.out")"
n_tensors=$(sed -n 's/^\* Dumping \([0-9]*\) tensor(s)$/\1/p' "$WORK/gguf-dump.out")

# --- timing: whole processes, stdout to /dev/null, warm page cache ---------
# -N: no intermediate shell, so llmem's figure is not mostly a shell start-up.
hf() { # name, runs, warmup, command
  hyperfine -N --style basic --warmup "$3" --runs "$2" \
    --export-json "$WORK/$1.json" --command-name "$1" "$4"
}
hf llmem "$LLMEM_RUNS" 3 "'$LLMEM' inspect '$GGUF'"
hf gguf-dump "$PEER_RUNS" 1 "'$PY' -m gguf.scripts.gguf_dump '$GGUF'"
hf nlc "$PEER_RUNS" 1 "node '$NODE_LLAMA_CPP_CLI' inspect gguf '$GGUF'"

# --- report -----------------------------------------------------------------
. "$ROOT/bench/lib.sh"
bench_describe
versions="llama.cpp $LLAMA_CPP_TAG ($(printf '%.10s' "$LLAMA_CPP_COMMIT"), the source node-llama-cpp $NODE_LLAMA_CPP_VERSION bundles), gguf-py $(sed -n 's/^version = "\(.*\)"/\1/p' "$GGUF_PY/pyproject.toml") on Python $("$PY" -c 'import platform, numpy; print(platform.python_version(), "/ numpy", numpy.__version__)'); node-llama-cpp $NODE_LLAMA_CPP_VERSION on node $(node --version); $(hyperfine --version)"

mkdir -p "$(dirname "$RESULTS")"
[ -s "$RESULTS" ] || printf '%s\n\n%s\n' '# Benchmark results' \
  'Appended by `make bench` (bench/run.sh), newest last. Every figure was measured in the run it is listed under; ratios are peer median / llmem median from that same run.' >"$RESULTS"

set +e
B_MACHINE=$machine B_REV=$rev B_LLMEM_VER=$llmem_ver B_VERSIONS=$versions \
B_APPARENT=$apparent B_ALLOCATED=$allocated B_TENSORS=${n_tensors:-?} \
  "$PY" - "$WORK" "$RESULTS" "$BAR" <<'EOF'
import json, os, sys, time
work, results, bar = sys.argv[1], sys.argv[2], float(sys.argv[3])
env = os.environ

def load(name):
    r = json.load(open(f"{work}/{name}.json"))["results"][0]
    return r["median"], len(r["times"])

def fmt(s):
    return f"{s * 1e3:.3f} ms" if s < 1 else f"{s:.3f} s"

llmem, llmem_n = load("llmem")
peers = [("gguf-py gguf_dump", "`python3 -m gguf.scripts.gguf_dump FILE`", *load("gguf-dump")),
         ("node-llama-cpp inspect gguf", "`node-llama-cpp inspect gguf FILE`", *load("nlc"))]
if llmem <= 0:
    sys.exit("bench: FAIL: llmem median is not positive")

print()
print(f"{'llmem inspect':30} median {fmt(llmem):>12}  ({llmem_n} runs)")
for name, _, med, n in peers:
    print(f"{name:30} median {fmt(med):>12}  ({n} runs)  ratio {med / llmem:,.0f}x  (peer / llmem)")
fast_name, _, fast, _ = min(peers, key=lambda p: p[2])
ratio = fast / llmem
ok = ratio >= bar
verdict = (f"{'PASS' if ok else 'FAIL'}: llmem is {ratio:,.0f}x faster than the faster peer "
           f"({fast_name}); the bar is {bar:.0f}x")
print(f"verdict: {verdict}")

llmem_ver = f" ({env['B_LLMEM_VER']})" if env["B_LLMEM_VER"] else ""
lines = [
    "",
    f"## {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}: `llmem inspect` vs peers on a 70B Q4_K_M header",
    "",
    f"- Machine: {env['B_MACHINE']}",
    f"- llmem: {env['B_REV']}{llmem_ver}",
    f"- Peers: {env['B_VERSIONS']}",
    f"- File: `gguf-synth --shape llama-3.3-70b --ftype q4_k_m`, {int(env['B_APPARENT']):,} bytes apparent"
    f" ({int(env['B_ALLOCATED']):,} on disk), {env['B_TENSORS']} tensors",
    "- Method: hyperfine -N, whole process, stdout to /dev/null, warm page cache",
    "",
    "| command | runs | median | peer / llmem |",
    "| --- | ---: | ---: | ---: |",
    f"| `llmem inspect FILE` | {llmem_n} | {fmt(llmem)} | 1x |",
]
lines += [f"| {cmd} | {n} | {fmt(med)} | {med / llmem:,.0f}x |" for _, cmd, med, n in peers]
lines += ["", f"Verdict (llmem at least {bar:.0f}x faster than the faster peer): {verdict}."]
with open(results, "a") as f:
    f.write("\n".join(lines) + "\n")
sys.exit(0 if ok else 3)
EOF
rc=$?
set -e
case $rc in
  0|3) say "results appended to $RESULTS" ;;
  *) fail "could not compute the report (exit $rc)" ;;
esac
if [ "$rc" = 3 ] && [ "${BENCH_STRICT:-0}" = 1 ]; then
  fail "below the ${BAR}x bar (BENCH_STRICT=1)"
fi
