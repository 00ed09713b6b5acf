#!/bin/sh
# t-serve-pressure.sh: `llmem serve` under real memory pressure (issue #7
# item 4). Two tiny models are loaded and idle (keep-alive forever: only
# pressure can stop them); the daemon's headroom is set to what is
# available now less a margin (LLMEM_PRESSURE_MARGIN MiB, 1536 by
# default), so that another program taking about that much tips the
# budget. Then tests/tools/mem-hog grows (touching every page) until both
# models have been evicted, and holds:
#  - /llmem/status shows the pressure object (MemAvailable, headroom, PSI);
#  - the idle models are evicted, the reason recorded ("memory pressure:
#    MemAvailable N MiB ..."), while the hog is still growing: llmem gives
#    way before the kernel's OOM killer has to act (the hog, the daemon and
#    every process live on; the hog never goes under a floor of free
#    memory: it stops itself first);
#  - a request while the pressure lasts is refused (503), not loaded;
#  - once the hog exits, a request loads the model again and succeeds.
# Needs the llama.cpp build that scripts/build-llama.sh caches, curl, and
# enough free memory (margin + 2 GiB); otherwise skipped.
. "$(dirname "$0")/serve-lib.sh"

LABELS='pressure in status
models evicted under pressure, reason recorded
no process killed
request refused while under pressure
model loads again once the pressure is gone'
skip_all() {
	echo "$LABELS" | while read -r l; do
		n=$((n + 1))
		echo "ok $n # SKIP $l: $1"
	done
	exit 0
}
command -v curl >/dev/null 2>&1 || skip_all "no curl"
[ -n "$LLAMA_SERVER" ] && [ -f "$VOCAB_DIR/ggml-vocab-llama-bpe.gguf" ] ||
	skip_all "no llama.cpp build (run scripts/build-llama.sh)"
[ -x "$TOOLS/mem-hog" ] || skip_all "no $TOOLS/mem-hog (make test-bins)"

MARGIN=${LLMEM_PRESSURE_MARGIN:-1536}   # MiB the hog must take to tip it
FLOOR=1024                              # MiB the hog always leaves free
avail_mib() { awk '$1 == "MemAvailable:" {print int($2 / 1024)}' /proc/meminfo; }
A0=$(avail_mib)
[ "${A0:-0}" -gt $((MARGIN + FLOOR + 1024)) ] ||
	skip_all "only ${A0:-?} MiB available (needs $((MARGIN + FLOOR + 1024)))"

M=$tmp/models
mkdir -p "$M"
synth "$M/tiny-a.gguf" 4 && synth "$M/tiny-b.gguf" 4 ||
	{ not_ok "gguf-synth failed: $(tail -3 "$tmp/synth.log")"; exit 1; }

HEADROOM=$(((A0 - MARGIN) * 1024 * 1024))
if ! serve_start "$tmp/d.log" --models-dir "$M" --backend "$LLAMA_SERVER" -c 2048 --keep-alive -1 \
	--headroom "$HEADROOM"; then
	not_ok "llmem serve did not start"
	exit 1
fi
sed 's/^/# /' "$tmp/d.log"

pget() { status "$tmp/p.json" && "$GET" "$tmp/p.json" "pressure/$1"; }
load() { curl -s -m 60 -o "$tmp/load.out" -w '%{http_code}' -X POST "$URL/models/load" -d "{\"model\":\"$1\"}"; }
field_is() { [ "$(sget "$1" "$2")" = "$3" ]; }
both_ready() { field_is tiny-a state ready && field_is tiny-b state ready; }
no_backends() { [ -z "$(pgrep -f -- "-m $M/")" ]; }
both_evicted() {
	for m in tiny-a tiny-b; do
		st=$(sget $m state)
		[ "$st" = unloaded ] || [ "$st" = unloading ] || return 1
	done
}

# the models, loaded and idle
ca=$(load tiny-a)
cb=$(load tiny-b)
if [ "$ca" != 200 ] || [ "$cb" != 200 ] || ! both_ready; then
	not_ok "loading the two models: $ca $cb $(head -c 300 "$tmp/load.out")"
	exit 1
fi
HELD=$(pget held)
note "MemAvailable at start $A0 MiB, headroom $((HEADROOM / 1048576)) MiB, models hold $((HELD / 1048576)) MiB"

# 1. the pressure object
status "$tmp/p.json"
ma=$("$GET" "$tmp/p.json" pressure/mem_available)
hr=$("$GET" "$tmp/p.json" pressure/headroom)
up=$("$GET" "$tmp/p.json" pressure/under_pressure)
psi=$("$GET" "$tmp/p.json" pressure/psi)
trig=$("$GET" "$tmp/p.json" pressure/psi_trigger)
note "pressure: $("$GET" "$tmp/p.json" pressure)"
if [ "$hr" = "$HEADROOM" ] && [ "$up" = false ] && [ "${ma:-0}" -gt "$HEADROOM" ] 2>/dev/null; then
	ok "pressure in status: mem_available $((ma / 1048576)) MiB, headroom $((hr / 1048576)) MiB, psi $psi, psi_trigger $trig"
else
	not_ok "pressure in status: mem_available '$ma' headroom '$hr' (want $HEADROOM) under_pressure '$up'"
fi

# 2. the hog grows until both models are evicted
mkdir -p "$tmp/hog"
"$TOOLS/mem-hog" "$tmp/hog" 32 $((MARGIN + 1536)) "$FLOOR" 256 100 2>"$tmp/hog.log" &
HOG=$!
BG="$BG $HOG"
t0=$(date +%s)
if wait_for 90 both_evicted; then
	touch "$tmp/hog/hold"
	wait_for 20 test -f "$tmp/hog/held"
	ra=$(sget tiny-a reason)
	rb=$(sget tiny-b reason)
	ea=$(sget tiny-a evictions)
	eb=$(sget tiny-b evictions)
	note "the hog took $(cat "$tmp/hog/size" 2>/dev/null) MiB in $(($(date +%s) - t0)) s; MemAvailable now $(avail_mib) MiB"
	case $ea/$eb/$ra/$rb in
	1/1/"memory pressure: MemAvailable "*/"memory pressure: MemAvailable "*)
		ok "models evicted under pressure, reason recorded: '$ra'" ;;
	*) not_ok "models evicted under pressure: evictions $ea $eb, reasons '$ra' / '$rb'" ;;
	esac
else
	touch "$tmp/hog/hold"
	not_ok "models evicted under pressure: still $(sget tiny-a state) / $(sget tiny-b state) after 90 s, the hog holds $(cat "$tmp/hog/size" 2>/dev/null) MiB, MemAvailable $(avail_mib) MiB; $(tail -2 "$tmp/hog.log")"
fi

# 3. nobody was killed: the hog (it stopped growing on its own), the
# daemon, and no backend left behind
if ! gone "$HOG" && ! gone "$DPID" && wait_for 10 no_backends; then
	ok "no process killed: the hog and the daemon live on, the backends exited"
else
	not_ok "no process killed: hog $(gone "$HOG" && echo gone || echo alive), daemon $(gone "$DPID" && echo gone || echo alive), backends '$(pgrep -f -- "-m $M/" | tr '\n' ' ')'"
fi

# 4. while the hog holds: no room, a request is refused at once
r=$(CHAT_TIMEOUT=30 chat tiny-a)
up=$(pget under_pressure)
case $r in
503" "*) ok "request refused while under pressure ($r, under_pressure $up): $(head -c 200 "$tmp/chat.out")" ;;
*) not_ok "request while under pressure got '$r' (under_pressure $up): $(head -c 200 "$tmp/chat.out")" ;;
esac

# 5. the hog exits; the pressure goes; a request loads the model again
# (once the budget has room for it: other programs on this machine may
# have grown meanwhile, which is not llmem's doing)
kill -TERM "$HOG" 2>/dev/null
wait "$HOG"
hog_rc=$?
NEED=$(sget tiny-a footprint | tr -d '[]' | cut -d, -f1)
room() { b=$(pget budget) && h=$(pget held) && [ $((b - h)) -ge "${NEED:-0}" ]; }
loads=$(sget tiny-a loads)
if [ "$hog_rc" -ne 0 ]; then
	not_ok "the hog exited with $hog_rc (killed?)"
elif ! wait_for 30 room; then
	skip "model loads again once the pressure is gone: MemAvailable is $(avail_mib) MiB, $A0 at start: other programs took the room (budget $(pget budget), needed $NEED)"
elif chat_ok tiny-a && field_is tiny-a state ready && field_is tiny-a loads $((loads + 1)); then
	ok "model loads again once the pressure is gone (loads $loads -> $((loads + 1)), MemAvailable $(avail_mib) MiB)"
else
	not_ok "model loads again once the pressure is gone: state $(sget tiny-a state), loads $(sget tiny-a loads), reason '$(sget tiny-a reason)', pressure $(pget reason) budget $(pget budget)"
fi
