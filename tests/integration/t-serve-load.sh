#!/bin/sh
# t-serve-load.sh: `llmem serve` under load. Three tiny models of different
# footprints (4, 8 and 12 layers) and a --budget that holds any two of them
# but not the three (the two largest predicted footprints at -c 2048, from
# `llmem estimate`, plus half the smallest); 100 concurrent clients (the real
# npm openai and ollama clients: chat, streamed and not) pick random models
# for LOAD_SECONDS (default 120) while /llmem/status is polled every 200 ms
# (tests/integration/serve-load.mjs). Checks: every request answered (a
# success or an explicit error, counted), at most two models held and their
# footprints within the budget at every poll, no model evicted while busy,
# each measured footprint within 2% of its prediction, the budget forced
# evictions, and the daemon ends clean (exit 0, no backend left).
#
# Env: LOAD_SECONDS, LOAD_CLIENTS (100), LOAD_THREADS (llama-server -t, 1;
# empty: llama.cpp's default), SEED (replays the clients' choices).
# Needs the llama.cpp build that scripts/build-llama.sh caches, node and the
# clients that scripts/setup-clients.sh installs; skipped without them.
. "$(dirname "$0")/serve-lib.sh"

LOAD_SECONDS=${LOAD_SECONDS:-120}
CLIENTS_DIR=${LLMEM_CLIENTS:-$CACHE/npm-clients}
skip_all() {
	skip "serve under load: $1"
	exit 0
}
command -v curl >/dev/null 2>&1 || skip_all "no curl"
[ -n "$LLAMA_SERVER" ] && [ -f "$VOCAB_DIR/ggml-vocab-llama-bpe.gguf" ] ||
	skip_all "no llama.cpp build (run scripts/build-llama.sh)"
command -v node >/dev/null 2>&1 || skip_all "no node"
[ -f "$CLIENTS_DIR/node_modules/openai/package.json" ] && [ -f "$CLIENTS_DIR/node_modules/ollama/package.json" ] ||
	skip_all "no npm clients in $CLIENTS_DIR (run scripts/setup-clients.sh)"

M=$tmp/models
mkdir -p "$M"
fp=""
for spec in small:4 mid:8 big:12; do
	name=${spec%%:*}
	synth "$M/$name.gguf" "${spec#*:}" || { not_ok "gguf-synth failed: $(tail -3 "$tmp/synth.log")"; exit 1; }
	"$LLMEM" estimate "$M/$name.gguf" -c 2048 --json >"$tmp/est.json" 2>"$tmp/est.err" ||
		{ not_ok "llmem estimate $name failed: $(cat "$tmp/est.err")"; exit 1; }
	t=$("$GET" "$tmp/est.json" devices/0/total)
	eval "fp_$name=$t"
	fp="$fp $t"
done
# any two fit, the three do not
set -- $(printf '%s\n' $fp | sort -n)
budget=$(($2 + $3 + $1 / 2))
note "predicted footprints at -c 2048: small $fp_small, mid $fp_mid, big $fp_big; budget $budget (three need $(($1 + $2 + $3)))"

# llama-server's -t for every model (a preset's [*]): 1 by default, as two
# backends busy at once with llama.cpp's default (every core each, threads
# that spin while they wait) oversubscribe a small machine: on a shared
# 2-core machine the load ran 1.3 requests/s so, 8.7 with one thread each.
# LOAD_THREADS=""
# leaves llama.cpp's default.
LOAD_THREADS=${LOAD_THREADS-1}
extra=""
if [ -n "$LOAD_THREADS" ]; then
	printf '[*]\nthreads = %s\n' "$LOAD_THREADS" >"$tmp/preset.ini"
	extra="--models-preset $tmp/preset.ini"
fi
# shellcheck disable=SC2086
if ! serve_start "$tmp/d.log" --models-dir "$M" $extra --backend "$LLAMA_SERVER" -c 2048 --budget "$budget" \
	--no-pressure --footprints "$tmp/fp.json"; then
	not_ok "llmem serve did not start"
	exit 1
fi
D=$DPID
status "$tmp/st.json"
check "the daemon plans with the budget given ($("$GET" "$tmp/st.json" pools/0/budget))" \
	[ "$("$GET" "$tmp/st.json" pools/0/budget)" = "$budget" ]

t0=$(date +%s)
URL=$URL MODELS=small,mid,big MAX_HELD=2 LOAD_SECONDS=$LOAD_SECONDS CLIENTS=${LOAD_CLIENTS:-100} \
	MAX_TOKENS=8 LLMEM_CLIENTS=$CLIENTS_DIR TAP_START=$n TAP_COUNT_FILE=$tmp/tapn \
	timeout -k 5 $((LOAD_SECONDS + 400)) node "$ROOT/tests/integration/serve-load.mjs"
rc=$?
if [ -s "$tmp/tapn" ]; then
	n=$(cat "$tmp/tapn")
else
	not_ok "serve-load.mjs ended without its report (status $rc)"
fi
note "load run: $(($(date +%s) - t0)) s"

status "$tmp/st.json"
for m in small mid big; do
	note "$m: loads $("$GET" "$tmp/st.json" "models/name=$m/loads"), evictions $("$GET" "$tmp/st.json" "models/name=$m/evictions"), crashes $("$GET" "$tmp/st.json" "models/name=$m/crashes"), requests $("$GET" "$tmp/st.json" "models/name=$m/requests"), state $("$GET" "$tmp/st.json" "models/name=$m/state")"
done
ev=0
bad=0
for m in small mid big; do
	ev=$((ev + $("$GET" "$tmp/st.json" "models/name=$m/evictions")))
	bad=$((bad + $("$GET" "$tmp/st.json" "models/name=$m/crashes") + $("$GET" "$tmp/st.json" "models/name=$m/ooms")))
done
check "the budget made the daemon evict ($ev evictions)" [ "$ev" -gt 0 ]
check "no backend crashed or ran out of memory ($bad)" [ "$bad" -eq 0 ]
check "nothing left open ($("$GET" "$tmp/st.json" requests_open) requests)" [ "$("$GET" "$tmp/st.json" requests_open)" = 0 ]

kill -TERM "$D"
if serve_wait_exit "$D" 20; then
	check "the daemon exits 0 on SIGTERM (status $RC)" [ "$RC" -eq 0 ]
else
	not_ok "the daemon still runs 20 s after SIGTERM"
fi
no_backends() { [ -z "$(our_backends)" ]; }
check "no backend left" wait_for 3 no_backends
