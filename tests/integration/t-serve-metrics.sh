#!/bin/sh
# t-serve-metrics.sh: `llmem serve`'s GET /metrics. Two tiny models; the
# exposition passes `promtool check metrics` (Prometheus' own parser and
# linter: HELP and TYPE for every family, counter names, units) before any
# load, with a model loaded, and after evictions; its values agree with
# /llmem/status (pool budget and used, the model's predicted and measured
# footprint, state, loads, requests) and with the machine (/proc/vmstat's
# oom_kill, /proc/pressure/memory when readable); evictions are counted by
# reason (unload_request, keep_alive); with --api-key the endpoint needs it.
#
# Needs the llama.cpp build that scripts/build-llama.sh caches and promtool
# (on PATH, or $CACHE/promtool/promtool from `scripts/install-deps.sh
# --serve-tests`); skipped without them.
. "$(dirname "$0")/serve-lib.sh"

skip_all() {
	skip "GET /metrics: $1"
	exit 0
}
command -v curl >/dev/null 2>&1 || skip_all "no curl"
[ -n "$LLAMA_SERVER" ] && [ -f "$VOCAB_DIR/ggml-vocab-llama-bpe.gguf" ] ||
	skip_all "no llama.cpp build (run scripts/build-llama.sh)"
PROMTOOL=$(command -v promtool 2>/dev/null || true)
[ -z "$PROMTOOL" ] && [ -x "$CACHE/promtool/promtool" ] && PROMTOOL=$CACHE/promtool/promtool
[ -n "$PROMTOOL" ] || skip_all "no promtool (scripts/install-deps.sh --serve-tests)"

M=$tmp/models
mkdir -p "$M"
synth "$M/alpha.gguf" 4 || { not_ok "gguf-synth failed: $(tail -3 "$tmp/synth.log")"; exit 1; }
synth "$M/beta.gguf" 2 || { not_ok "gguf-synth failed: $(tail -3 "$tmp/synth.log")"; exit 1; }
serve_start "$tmp/d.log" --models-dir "$M" --backend "$LLAMA_SERVER" -c 2048 --footprints "$tmp/fp.json" ||
	{ not_ok "llmem serve did not start"; exit 1; }

# scrape NAME: GET /metrics into $tmp/NAME.prom (headers in .hdr); ok
# when 200 and promtool accepts it
scrape() {
	_c=$(curl -s -m 10 -D "$tmp/$1.hdr" -o "$tmp/$1.prom" -w '%{http_code}' "$URL/metrics")
	[ "$_c" = 200 ] || { note "GET /metrics: $_c"; return 1; }
	if ! "$PROMTOOL" check metrics <"$tmp/$1.prom" >"$tmp/$1.lint" 2>&1; then
		note "promtool: $(head -5 "$tmp/$1.lint")"
		return 1
	fi
}
# mv NAME SAMPLE: the value of SAMPLE (name{labels}, exactly as exposed)
mv_() {
	awk -v s="$2" '$1 == s { print $2; f = 1 } END { exit !f }' "$tmp/$1.prom"
}
# families NAME: every sample's family has HELP and TYPE lines before it
families_typed() {
	awk '
		/^# HELP / { help[$3] = 1; next }
		/^# TYPE / { type[$3] = 1; next }
		/^#/ || /^$/ { next }
		{ n = $1; sub(/\{.*/, "", n); if (!help[n] || !type[n]) { print "untyped: " n; bad = 1 } }
		END { exit bad }' "$tmp/$1.prom"
}
eq() { # eq LABEL A B
	if [ "$2" = "$3" ]; then ok "$1 ($2)"; else not_ok "$1: $2 != $3"; fi
}

# ---- before any load
check "GET /metrics answers 200 and promtool accepts it (idle)" scrape idle
check "every family has HELP and TYPE (idle)" families_typed idle
check "Content-Type is the text format 0.0.4" grep -qi '^content-type: text/plain; version=0.0.4' "$tmp/idle.hdr"
v=$(curl -s -m 5 "$URL/api/version" | sed 's/.*"version":"\([^"]*\)".*/\1/')
eq "llmem_build_info carries the version" "$(mv_ idle "llmem_build_info{version=\"$v\"}")" 1
eq "alpha unloaded" "$(mv_ idle 'llmem_model_state{model="alpha",state="unloaded"}')" 1
eq "beta unloaded" "$(mv_ idle 'llmem_model_state{model="beta",state="unloaded"}')" 1
eq "nothing used in RAM" "$(mv_ idle 'llmem_pool_used_bytes{pool="RAM"}')" 0
check "no footprint sample while nothing is loaded" sh -c "! grep -q '^llmem_model_footprint_bytes' '$tmp/idle.prom'"
check "RAM's total is exposed" sh -c "[ \"\$(awk '\$1 == \"llmem_pool_total_bytes{pool=\\\"RAM\\\"}\" { print \$2 }' '$tmp/idle.prom')\" -gt 0 ]"

# ---- alpha loaded, one request
r=$(curl -s -m 60 -o "$tmp/load.out" -w '%{http_code}' "$URL/models/load" -d '{"model":"alpha"}')
eq "POST /models/load alpha" "$r" 200
check "a chat request on alpha" chat_ok alpha
check "GET /metrics with alpha loaded passes promtool" scrape loaded
check "every family has HELP and TYPE (loaded)" families_typed loaded
status "$tmp/st.json"
eq "alpha ready" "$(mv_ loaded 'llmem_model_state{model="alpha",state="ready"}')" 1
eq "alpha: exactly one state is 1" "$(awk '/^llmem_model_state\{model="alpha"/ { s += $2 } END { print s }' "$tmp/loaded.prom")" 1
eq "measured footprint = status measured" "$(mv_ loaded 'llmem_model_measured_bytes{model="alpha",pool="RAM"}')" \
	"$("$GET" "$tmp/st.json" models/name=alpha/measured/0)"
eq "predicted footprint = status predicted" "$(mv_ loaded 'llmem_model_predicted_bytes{model="alpha",pool="RAM"}')" \
	"$("$GET" "$tmp/st.json" models/name=alpha/predicted/0)"
eq "scheduler footprint = status footprint" "$(mv_ loaded 'llmem_model_footprint_bytes{model="alpha",pool="RAM"}')" \
	"$("$GET" "$tmp/st.json" models/name=alpha/footprint/0)"
eq "pool used = status used" "$(mv_ loaded 'llmem_pool_used_bytes{pool="RAM"}')" "$("$GET" "$tmp/st.json" pools/0/used)"
eq "pool used = the footprints' sum" "$(mv_ loaded 'llmem_pool_used_bytes{pool="RAM"}')" \
	"$(awk '/^llmem_model_footprint_bytes\{.*pool="RAM"/ { s += $2 } END { printf "%d", s }' "$tmp/loaded.prom")"
# RAM's budget follows MemAvailable (the pressure hook re-reads it), so
# it can move between two reads: /metrics and /llmem/status read back to
# back must agree at least once in five tries
budget_same() {
	for _ in 1 2 3 4 5; do
		curl -s -m 10 -o "$tmp/b.prom" "$URL/metrics"
		status "$tmp/b.json"
		_m=$(awk '$1 == "llmem_pool_budget_bytes{pool=\"RAM\"}" { print $2 }' "$tmp/b.prom")
		_s=$("$GET" "$tmp/b.json" pools/0/budget)
		[ -n "$_m" ] && [ "$_m" = "$_s" ] && return 0
	done
	note "pool budget: /metrics $_m, /llmem/status $_s"
	return 1
}
check "pool budget = status budget" budget_same
eq "loads_total = status loads" "$(mv_ loaded 'llmem_model_loads_total{model="alpha"}')" "$("$GET" "$tmp/st.json" models/name=alpha/loads)"
eq "requests_total = status requests" "$(mv_ loaded 'llmem_model_requests_total{model="alpha"}')" \
	"$("$GET" "$tmp/st.json" models/name=alpha/requests)"
eq "alpha served one request" "$(mv_ loaded 'llmem_model_requests_total{model="alpha"}')" 1
eq "nothing in flight" "$(mv_ loaded 'llmem_model_requests_in_flight{model="alpha"}')" 0
eq "nothing queued" "$(mv_ loaded 'llmem_model_requests_queued{model="alpha"}')" 0
eq "no crash" "$(mv_ loaded 'llmem_model_crashes_total{model="alpha"}')" 0
eq "no OOM kill" "$(mv_ loaded 'llmem_model_oom_kills_total{model="alpha"}')" 0
check "beta (unloaded) has no measured footprint" sh -c "! grep -q 'measured_bytes{model=\"beta\"' '$tmp/loaded.prom'"

# ---- evictions by reason: an unload request, a keep-alive of 1 s
curl -s -m 10 -o /dev/null "$URL/models/unload" -d '{"model":"alpha"}'
alpha_unloaded() { [ "$(sget alpha state)" = unloaded ]; }
check "alpha unloads" wait_for 20 alpha_unloaded
r=$(curl -s -m 60 -o /dev/null -w '%{http_code}' "$URL/api/generate" -d '{"model":"beta","keep_alive":"1s"}')
eq "beta loaded with keep_alive 1s" "$r" 200
beta_unloaded() { [ "$(sget beta state)" = unloaded ]; }
check "beta expires" wait_for 20 beta_unloaded
check "GET /metrics after the evictions passes promtool" scrape after
eq "alpha: one unload_request eviction" "$(mv_ after 'llmem_model_evictions_total{model="alpha",reason="unload_request"}')" 1
eq "alpha: no keep_alive eviction" "$(mv_ after 'llmem_model_evictions_total{model="alpha",reason="keep_alive"}')" 0
eq "beta: one keep_alive eviction" "$(mv_ after 'llmem_model_evictions_total{model="beta",reason="keep_alive"}')" 1
eq "beta: loads_total 1" "$(mv_ after 'llmem_model_loads_total{model="beta"}')" 1
eq "pool used back to 0" "$(mv_ after 'llmem_pool_used_bytes{pool="RAM"}')" 0
eq "the rejected counter is 0" "$(mv_ after 'llmem_requests_rejected_total')" 0

# ---- the machine
k=$(awk '$1 == "oom_kill" { print $2 }' /proc/vmstat 2>/dev/null)
if [ -n "$k" ]; then
	m=$(mv_ after llmem_system_oom_kills_total)
	check "llmem_system_oom_kills_total ($m) within /proc/vmstat's oom_kill ($k)" [ "${m:-x}" -le "$k" ] 2>/dev/null
else
	skip "no oom_kill in /proc/vmstat"
fi
if [ -r /proc/pressure/memory ] && cat /proc/pressure/memory >/dev/null 2>&1; then
	check "PSI: some and full, three windows" [ "$(grep -c '^llmem_memory_pressure_ratio{' "$tmp/after.prom")" -eq 6 ]
	check "PSI: stall totals" [ "$(grep -c '^llmem_memory_pressure_stalled_seconds_total{' "$tmp/after.prom")" -eq 2 ]
else
	check "no PSI family without /proc/pressure/memory" sh -c "! grep -q '^llmem_memory_pressure' '$tmp/after.prom'"
fi

# ---- an API key guards /metrics too
serve_start "$tmp/k.log" --models-dir "$M" --backend "$LLAMA_SERVER" --api-key s3cret --footprints "$tmp/fp2.json" ||
	{ not_ok "llmem serve --api-key did not start"; exit 1; }
eq "GET /metrics without the key: 401" "$(curl -s -m 5 -o /dev/null -w '%{http_code}' "$URL/metrics")" 401
eq "GET /metrics with the key: 200" \
	"$(curl -s -m 5 -o /dev/null -w '%{http_code}' -H 'Authorization: Bearer s3cret' "$URL/metrics")" 200
