#!/bin/sh
# `make bench`, part 3: the accuracy matrix of `llmem estimate` against what
# the real llama-server allocates (CPU only), component by component.
#
# Models: the 8 small synthetic models of tests/integration/t-truth.sh
# (llama, qwen3, qwen3moe, gemma3, deepseek2, gpt-oss, lfm2, phi3; 30-140 MB,
# real tokenizers) and one full-size llama-3.1-8b Q4_K_M (sparse, ~4.9 GB).
#
# Design (ACC_DESIGN=full, the default), per small model:
#   -c {512,4096,32768} x -ctk/-ctv {f16,q8_0,q4_0} (K type = V type) x
#   -fa {on,off} x -np {1,4} x -ub {512,2048}, run wherever it is valid: a
#   quantized V cache needs flash attention, so q8_0/q4_0 run with -fa on
#   only. 48 configurations per model.
#   Plus 2 refusal checks per model (-fa off with a quantized V cache, with
#   -c/-np/-ub rotating across models): llama-server must refuse them, and
#   `llmem estimate` must refuse them too (exit 2).
# ACC_DESIGN=covering runs 9 configurations per model instead: every
#   (-c, cache type) pair once, -fa/-np/-ub rotated so that every value of
#   every dimension appears with every model.
# llama-3.1-8b: 3 configurations (ACC_8B=0 leaves it out).
#
# Every run: scripts/llama-truth.sh (one server at a time), `llmem estimate
# ... --json` with the same options, build/tools/truth-compare (tolerance:
# each component within 1% or 4 MiB, whichever is larger; the total within
# 1%; RssFile/RssAnon within 3%; +0.005 MiB of print rounding). A server
# that exits 1 with an error before listening "refused" the configuration;
# llmem must then exit 2.
#
# Prints a summary and appends a section to bench/RESULTS.md. Exit 0 even
# when runs are out of tolerance (it is a measurement); exit 1 on an
# infrastructure failure (llama-server or llmem crashing or timing out,
# missing files or tools), after finishing the other runs.
#
# Env: BUILD (default build), BENCH_RESULTS (file to append to),
# ACC_DESIGN (full|covering), ACC_8B (1|0), ACC_BUDGET_S (default 1500: no
# new run starts after that many seconds; the runs left out are reported),
# ACC_RAW (also write every run's figures, tab-separated, to this file),
# ACC_ARCHS (space-separated subset of the architectures).
set -eu

ROOT=$(cd "$(dirname "$0")/.." && pwd)
BUILD=${BUILD:-build}
case $BUILD in /*) ;; *) BUILD=$ROOT/$BUILD ;; esac
LLMEM=$BUILD/llmem
SYNTH=$BUILD/tools/gguf-synth
COMPARE=$BUILD/tools/truth-compare
RESULTS=${BENCH_RESULTS:-$ROOT/bench/RESULTS.md}
DESIGN=${ACC_DESIGN:-full}
DO8B=${ACC_8B:-1}
BUDGET=${ACC_BUDGET_S:-1500}

say() { printf 'accuracy: %s\n' "$*"; }
fail() { printf 'accuracy: FAIL: %s\n' "$*" >&2; exit 1; }

case $DESIGN in full | covering) ;; *) fail "ACC_DESIGN must be full or covering" ;; esac
for f in "$LLMEM" "$SYNTH" "$COMPARE"; do
	[ -x "$f" ] || fail "$f not built (run make bench)"
done
[ -x /usr/bin/python3 ] || fail "/usr/bin/python3 missing"

WORK=$(mktemp -d "${TMPDIR:-/tmp}/llmem-bench-acc.XXXXXX")
trap 'rm -rf "$WORK"' EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# (their progress goes to a file, shown only when they fail)
bin=$(bash "$ROOT/scripts/build-llama.sh" 2>"$WORK/setup.err" | tail -n 1)
[ -x "$bin/llama-server" ] || { cat "$WORK/setup.err" >&2; fail "no llama-server from scripts/build-llama.sh ($bin)"; }
peers_env=$(bash "$ROOT/scripts/setup-peers.sh" --print-env 2>"$WORK/setup.err") ||
	{ cat "$WORK/setup.err" >&2; fail "scripts/setup-peers.sh failed"; }
eval "$peers_env"
VOCABS=$LLMEM_PEERS_SRC/models

# arch | gguf-synth recipe | vocabulary (shared with t-truth.sh and gpu-truth.sh)
CASES=$(cat "$ROOT/scripts/truth-models.txt")
BIG=llama-3.1-8b
BIG_CONFIGS='-c 4096 -ctk f16 -ctv f16 -fa off -np 1 -ub 512
-c 32768 -ctk q8_0 -ctv q8_0 -fa on -np 4 -ub 512
-c 4096 -ctk q4_0 -ctv q4_0 -fa on -np 1 -ub 2048'

ARCHS=${ACC_ARCHS:-$(printf '%s\n' "$CASES" | cut -d'|' -f1 | tr '\n' ' ')}

# --- the models ---------------------------------------------------------
synth() { # name, vocabulary, recipe...
	name=$1 vocab=$VOCABS/ggml-vocab-$2.gguf
	shift 2
	[ -f "$vocab" ] || fail "missing vocabulary $vocab"
	"$SYNTH" "$@" --vocab-from "$vocab" "$WORK/$name.gguf" >"$WORK/synth.log" 2>&1 ||
		{ cat "$WORK/synth.log" >&2; fail "gguf-synth failed for $name"; }
}
for arch in $ARCHS; do
	line=$(printf '%s\n' "$CASES" | awk -F'|' -v a="$arch" '$1 == a')
	[ -n "$line" ] || fail "unknown architecture $arch"
	# shellcheck disable=SC2046
	synth "$arch" "$(printf '%s' "$line" | cut -d'|' -f3)" $(printf '%s' "$line" | cut -d'|' -f2)
done
[ "$DO8B" = 0 ] || synth "$BIG" llama-bpe --shape llama-3.1-8b

# --- the plan: one line per run, "arch|expect|options" -----------------
# expect: load (a valid configuration) or refuse (a quantized V without FA)
PLAN=$WORK/plan
: >"$PLAN"
if [ "$DO8B" != 0 ]; then
	printf '%s\n' "$BIG_CONFIGS" | while read -r o; do echo "$BIG|load|$o"; done >>"$PLAN"
fi
if [ "$DESIGN" = full ]; then
	# configuration outer, model inner: a cut by the time budget leaves every
	# model with the same configurations
	for c in 512 4096 32768; do for kv in f16 q8_0 q4_0; do for fa in on off; do
		[ "$kv" = f16 ] || [ "$fa" = on ] || continue
		for np in 1 4; do for ub in 512 2048; do for arch in $ARCHS; do
			echo "$arch|load|-c $c -ctk $kv -ctv $kv -fa $fa -np $np -ub $ub"
		done; done; done
	done; done; done >>"$PLAN"
else
	i=0
	for c in 512 4096 32768; do for kv in f16 q8_0 q4_0; do
		if [ "$kv" != f16 ]; then fa=on; elif [ $((i % 2)) = 0 ]; then fa=off; else fa=on; fi
		np=$(((i % 2) * 3 + 1))
		ub=$((((i / 2) % 2) * 1536 + 512))
		for arch in $ARCHS; do echo "$arch|load|-c $c -ctk $kv -ctv $kv -fa $fa -np $np -ub $ub"; done
		i=$((i + 1))
	done; done >>"$PLAN"
fi
k=0
for arch in $ARCHS; do
	for j in 0 1; do
		m=$((k + j))
		c=$(echo "512 4096 32768" | cut -d' ' -f$((m % 3 + 1)))
		kv=$([ $j = 0 ] && echo q8_0 || echo q4_0)
		echo "$arch|refuse|-c $c -ctk $kv -ctv $kv -fa off -np $(((m % 2) * 3 + 1)) -ub $((((m / 2) % 2) * 1536 + 512))"
	done
	k=$((k + 1))
done >>"$PLAN"
total=$(wc -l <"$PLAN")
say "$DESIGN design: $total runs ($(echo "$ARCHS" | wc -w) small models$([ "$DO8B" = 0 ] || echo " + $BIG")), llama.cpp $LLAMA_CPP_TAG, budget ${BUDGET}s"

# --- the runs --------------------------------------------------------------
# runs.tsv:  id arch expect options outcome seconds detail
#   outcome: measured | refused (both refuse) | llmem-refuses (llama.cpp
#   loads it) | llmem-accepts (llama.cpp refuses) | infra | skipped
# comps.tsv: id component truth_bytes llmem_bytes ok|OUT
RUNS=$WORK/runs.tsv
COMPS=$WORK/comps.tsv
: >"$RUNS"
: >"$COMPS"
infra=0
start=$(date +%s)
id=0
oneline() { tr '\n\t' '  ' <"$1" | cut -c1-300 | sed 's/ *$//'; }
jget() { /usr/bin/python3 -c 'import json,sys; v=json.load(open(sys.argv[1])).get(sys.argv[2]); print("" if v is None else v)' "$1" "$2" 2>/dev/null || true; }

# one llama-truth run; sets $truth_rc; retried once when the outcome is
# neither a load nor a clean refusal (exit status 1)
truth() { # model options...
	for attempt in 1 2; do
		truth_rc=0
		LLMEM_LLAMA_BIN=$bin bash "$ROOT/scripts/llama-truth.sh" "$@" \
			</dev/null >"$WORK/truth.json" 2>"$WORK/truth.err" || truth_rc=$?
		[ "$truth_rc" = 0 ] && return
		[ "$truth_rc" = 1 ] && [ "$(jget "$WORK/truth.json" status)" = exited ] &&
			[ "$(jget "$WORK/truth.json" exit_code)" = 1 ] && return
		[ "$attempt" = 2 ] || say "retrying $* (llama-truth exit $truth_rc)"
	done
}

while IFS='|' read -r arch expect opts; do
	id=$((id + 1))
	now=$(date +%s)
	if [ $((now - start)) -ge "$BUDGET" ]; then
		printf '%s\t%s\t%s\t%s\tskipped\t0\ttime budget of %ss spent\n' "$id" "$arch" "$expect" "$opts" "$BUDGET" >>"$RUNS"
		continue
	fi
	t0=$(date +%s.%N)
	m=$WORK/$arch.gguf
	# shellcheck disable=SC2086
	truth "$m" $opts
	est_rc=0
	# shellcheck disable=SC2086
	"$LLMEM" estimate "$m" $opts --json </dev/null >"$WORK/est.json" 2>"$WORK/est.err" || est_rc=$?
	outcome='' detail=''
	if [ "$truth_rc" = 0 ]; then
		case $est_rc in
		0)
			cmp_rc=0
			"$COMPARE" "$WORK/truth.json" "$WORK/est.json" "$arch" >"$WORK/cmp" 2>"$WORK/cmp.err" || cmp_rc=$?
			n=$(awk -v id="$id" 'NF == 8 { print id "\t" $2 "\t" $3 "\t" $4 "\t" $8 }' "$WORK/cmp" | tee -a "$COMPS" | wc -l)
			if [ "$cmp_rc" -gt 1 ] || [ "$n" != 10 ]; then
				outcome=infra detail="truth-compare exit $cmp_rc, $n rows: $(oneline "$WORK/cmp.err")"
			else
				outcome=measured detail="ready in $(jget "$WORK/truth.json" seconds_to_ready) s"
			fi
			;;
		2) outcome=llmem-refuses detail="$(oneline "$WORK/est.err")" ;;
		*) outcome=infra detail="llmem estimate exit $est_rc: $(oneline "$WORK/est.err")" ;;
		esac
	elif [ "$truth_rc" = 1 ]; then
		jget "$WORK/truth.json" failure >"$WORK/why"
		why=$(grep -E -m1 'requires|not supported|invalid|must' "$WORK/why" || grep -m1 error "$WORK/why" || true)
		case $est_rc in
		2) outcome=refused detail="llama-server: ${why:-exit 1}; $(oneline "$WORK/est.err")" ;;
		0) outcome=llmem-accepts detail="llama-server: ${why:-exit 1}" ;;
		*) outcome=infra detail="llmem estimate exit $est_rc: $(oneline "$WORK/est.err")" ;;
		esac
	else
		outcome=infra
		detail="llama-truth exit $truth_rc, status $(jget "$WORK/truth.json" status), server exit $(jget "$WORK/truth.json" exit_code): $(jget "$WORK/truth.json" failure | tr '\n\t' '  ' | cut -c1-300) $(oneline "$WORK/truth.err")"
	fi
	[ "$outcome" = infra ] && infra=$((infra + 1))
	secs=$(awk -v a="$t0" -v b="$(date +%s.%N)" 'BEGIN { printf "%.1f", b - a }')
	printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$id" "$arch" "$expect" "$opts" "$outcome" "$secs" "$detail" >>"$RUNS"
	printf 'accuracy: [%d/%d] %-12s %-52s %-13s %5ss%s\n' "$id" "$total" "$arch" "$opts" "$outcome" "$secs" \
		"$([ "$outcome" = measured ] && awk '$8 == "OUT" { printf " OUT:%s", $2 }' "$WORK/cmp")"
done <"$PLAN"
elapsed=$(($(date +%s) - start))

# --- report ------------------------------------------------------------------
. "$ROOT/bench/lib.sh"
bench_describe
[ -z "${ACC_RAW:-}" ] || /usr/bin/python3 - "$RUNS" "$COMPS" "$ACC_RAW" <<'EOF'
import sys
runs = {l.split("\t")[0]: l.rstrip("\n").split("\t") for l in open(sys.argv[1])}
with open(sys.argv[3], "w") as f:
    f.write("arch\toptions\toutcome\tseconds\tcomponent\tllama_cpp_bytes\tllmem_bytes\tverdict\n")
    for l in open(sys.argv[2]):
        i, comp, t, e, ok = l.rstrip("\n").split("\t")
        r = runs[i]
        f.write(f"{r[1]}\t{r[3]}\t{r[4]}\t{r[5]}\t{comp}\t{t}\t{e}\t{ok}\n")
    for r in runs.values():
        if r[4] != "measured":
            f.write(f"{r[1]}\t{r[3]}\t{r[4]}\t{r[5]}\t\t\t\t{r[6]}\n")
EOF

mkdir -p "$(dirname "$RESULTS")"
set +e
B_MACHINE=$machine B_REV=$rev B_LLMEM_VER=$llmem_ver B_DESIGN=$DESIGN B_ELAPSED=$elapsed \
B_LLAMA="llama.cpp $LLAMA_CPP_TAG ($(printf '%.10s' "$LLAMA_CPP_COMMIT")), CPU-only build of scripts/build-llama.sh" \
B_BIG=$BIG B_BUDGET=$BUDGET \
	/usr/bin/python3 - "$RUNS" "$COMPS" "$RESULTS" <<'EOF'
import os, sys, time
from collections import defaultdict
runs_f, comps_f, results = sys.argv[1:4]
env = os.environ
MiB = 1 << 20
COMPS = ["weights", "mapped", "repack", "kv", "recurrent", "compute", "output", "total", "RssFile", "RssAnon"]

runs = [l.rstrip("\n").split("\t") for l in open(runs_f)]
byid = {r[0]: r for r in runs}
comps = defaultdict(dict)  # id -> comp -> (truth, est, ok)
for l in open(comps_f):
    i, c, t, e, ok = l.rstrip("\n").split("\t")
    comps[i][c] = (int(t), int(e), ok == "ok")

order = []
for r in runs:
    if r[1] not in order:
        order.append(r[1])

def pct(t, e):
    if t == 0:
        return 0.0 if e == 0 else float("inf")
    return 100.0 * (e - t) / t

def fpct(p):
    return "n/a" if p in (float("inf"), float("-inf")) else f"{p:+.2f}%"

def stats(ids):
    s = {}
    for c in COMPS:
        vals = [comps[i][c] for i in ids if c in comps[i]]
        n = len(vals)
        good = sum(1 for v in vals if v[2])
        wm = max(vals, key=lambda v: abs(v[1] - v[0]), default=None)
        wp = max(vals, key=lambda v: abs(pct(v[0], v[1])), default=None)
        s[c] = (good, n, (wm[1] - wm[0]) / MiB if wm else 0.0, pct(wp[0], wp[1]) if wp else 0.0)
    return s

groups = [(a, [r for r in runs if r[1] == a]) for a in order] + [("all", runs)]
table = []
for name, rs in groups:
    measured = [r[0] for r in rs if r[4] == "measured"]
    refused = [r for r in rs if r[4] in ("refused", "llmem-accepts")]
    table.append(dict(
        name=name, measured=len(measured), st=stats(measured),
        refused=len(refused), agree=sum(1 for r in refused if r[4] == "refused"),
        llmem_refuses=sum(1 for r in rs if r[4] == "llmem-refuses"),
        infra=sum(1 for r in rs if r[4] == "infra"),
        skipped=sum(1 for r in rs if r[4] == "skipped")))

out = []  # every out-of-tolerance result
for r in runs:
    if r[4] == "measured":
        for c in COMPS:
            t, e, ok = comps[r[0]][c]
            if not ok:
                out.append((r[1], r[3], c, f"{t / MiB:.2f} MiB", f"{e / MiB:.2f} MiB",
                            f"{(e - t) / MiB:+.2f} MiB ({fpct(pct(t, e))})"))
    elif r[4] == "llmem-refuses":
        out.append((r[1], r[3], "refusal", "loads", "refuses (exit 2)", r[6]))
    elif r[4] == "llmem-accepts":
        out.append((r[1], r[3], "refusal", "refuses", "accepts (exit 0)", r[6]))
infra = [r for r in runs if r[4] == "infra"]
skipped = [r for r in runs if r[4] == "skipped"]

# --- stdout
all_row = table[-1]
print()
print(f"accuracy: {len(runs)} runs in {int(env['B_ELAPSED']) // 60} min {int(env['B_ELAPSED']) % 60} s: "
      f"{all_row['measured']} measured, {all_row['refused']} refused by llama-server "
      f"({all_row['agree']} also by llmem), {all_row['llmem_refuses']} refused by llmem only, "
      f"{len(infra)} infrastructure failures, {len(skipped)} skipped (time budget)")
print(f"{'model':14} {'runs':>4} " + " ".join(f"{c:>9}" for c in COMPS))
for row in table:
    print(f"{row['name']:14} {row['measured']:>4} " +
          " ".join(f"{row['st'][c][0]:>4}/{row['st'][c][1]:<4}" for c in COMPS))
print(f"{'worst MiB':19} " + " ".join(f"{all_row['st'][c][2]:>+9.2f}" for c in COMPS))
print(f"{'worst %':19} " + " ".join(f"{fpct(all_row['st'][c][3]):>9}" for c in COMPS))
print(f"accuracy: {len(out)} out-of-tolerance results")
for r in infra:
    print(f"accuracy: INFRA: {r[1]} {r[3]}: {r[6]}")

# --- RESULTS.md
big = env["B_BIG"]
L = ["", f"## {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}: `llmem estimate` accuracy against llama-server ({env['B_DESIGN']} design)", "",
     f"- Machine: {env['B_MACHINE']}",
     f"- llmem: {env['B_REV']}" + (f" ({env['B_LLMEM_VER']})" if env.get("B_LLMEM_VER") else ""),
     f"- Truth: {env['B_LLAMA']}; one llama-server at a time via scripts/llama-truth.sh "
     "(buffers from its log, RssFile/RssAnon from /proc while loaded and idle, `--no-warmup`)",
     f"- Run: bench/accuracy.sh, {len(runs)} runs in {int(env['B_ELAPSED']) // 60} min {int(env['B_ELAPSED']) % 60} s",
     "- Models: the 8 small synthetic models of tests/integration/t-truth.sh (real tokenizers, 30-140 MB)"
     + (f", and `gguf-synth --shape {big}` (Q4_K_M, sparse, 4.9 GB) in 3 configurations" if any(r[1] == big for r in runs) else ""),
     ]
if env["B_DESIGN"] == "full":
    L.append("- Design: per small model the full product of `-c {512,4096,32768}` x `-ctk/-ctv {f16,q8_0,q4_0}` (K type = V type) x "
             "`-fa {on,off}` x `-np {1,4}` x `-ub {512,2048}` where it is valid (a quantized V cache needs flash attention: "
             "q8_0/q4_0 only with `-fa on`), 48 configurations; plus 2 configurations per model that llama-server must refuse "
             "(`-fa off` with a q8_0 or q4_0 V cache), which `llmem estimate` must refuse too (exit 2)")
else:
    L.append("- Design: covering, 9 configurations per small model: every (`-c`, cache type) pair once, `-fa/-np/-ub` rotated so "
             "every value of every dimension appears with every model; plus 2 refusal checks per model (`-fa off` with a quantized V cache)")
L.append("- Tolerance (tests/tools/truth-compare): each component within 1% or 4 MiB, whichever is larger; the total "
         "(weights + KV + recurrent + compute + output) within 1%; RssFile and RssAnon within 3%; plus 0.005 MiB for llama.cpp's printed rounding")
if skipped:
    L.append(f"- Time budget: {len(skipped)} runs not started after {env['B_BUDGET']} s")
L += ["", "Runs within tolerance, per component (within / measured); `refused`: configurations llama-server refused "
      "(of them, also refused by llmem); `llmem refuses`: configurations llama-server loads and llmem refuses:", "",
      "| model | measured | refused | llmem refuses | " + " | ".join(COMPS) + " |",
      "| --- | ---: | ---: | ---: | " + " | ".join("---:" for _ in COMPS) + " |"]
for row in table:
    name = f"**{row['name']}**" if row["name"] == "all" else row["name"]
    L.append(f"| {name} | {row['measured']} | {row['refused']} ({row['agree']}) | {row['llmem_refuses']} | " +
             " | ".join(f"{row['st'][c][0]}/{row['st'][c][1]}" for c in COMPS) + " |")
L += ["", "Worst error per component (llmem - llama.cpp): the largest difference in MiB, and the largest relative "
      "difference (n/a: llama.cpp allocated none and llmem some):", "",
      "| model | " + " | ".join(COMPS) + " |", "| --- | " + " | ".join("---:" for _ in COMPS) + " |"]
for row in table:
    name = f"**{row['name']}**" if row["name"] == "all" else row["name"]
    L.append(f"| {name} | " + " | ".join(
        f"{row['st'][c][2]:+.2f} MiB<br>{fpct(row['st'][c][3])}" if row['st'][c][1] else "-" for c in COMPS) + " |")
L += ["", f"Out of tolerance: {len(out)} results" + (":" if out else "."), ""]
if out:
    L += ["<details><summary>every run out of tolerance (arch, options, component, llama.cpp, llmem, diff)</summary>", "",
          "| model | options | component | llama.cpp | llmem | llmem - llama.cpp |", "| --- | --- | --- | ---: | ---: | ---: |"]
    L += [f"| {a} | `{o}` | {c} | {t} | {e} | {d} |" for a, o, c, t, e, d in out]
    L += ["", "</details>", ""]
if infra:
    L += [f"Infrastructure failures ({len(infra)}):", ""] + [f"- {r[1]} `{r[3]}`: {r[6]}" for r in infra] + [""]
with open(results, "a") as f:
    f.write("\n".join(L).rstrip("\n") + "\n")
EOF
rc=$?
set -e
[ "$rc" = 0 ] || fail "could not compute the report (exit $rc)"
say "results appended to $RESULTS"
[ "$infra" = 0 ] || fail "$infra runs failed for infrastructure reasons (listed above)"
exit 0
