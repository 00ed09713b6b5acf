#!/bin/sh
# t-top.sh: `llmem top`. A daemon with two tiny models loaded (aaa-small,
# zzz-big: the name and size orders differ); `llmem top -n 1` and top with
# stdout not a terminal print one plain snapshot (the pools, PSI, OOM kills,
# both models ready); then top runs in a tmux pane (120x40): the screen shows
# both models and the pools, 's' sorts by size (zzz-big first) and F6 by
# state, up/down move the selection, 'u' unloads the selected model (the
# daemon's /llmem/status says so, the other stays), 'q' quits (the pane
# closes). Without a daemon it lists a llama-server process started here
# with its resident memory and the GPU memory a fake NVML lists for it.
#
# Needs tmux, curl and the llama.cpp build that scripts/build-llama.sh
# caches; skipped without them.
. "$(dirname "$0")/serve-lib.sh"

skip_all() {
	skip "llmem top: $1"
	exit 0
}
command -v curl >/dev/null 2>&1 || skip_all "no curl"
command -v tmux >/dev/null 2>&1 || skip_all "no tmux (scripts/install-deps.sh --serve-tests)"
[ -n "$LLAMA_SERVER" ] && [ -f "$VOCAB_DIR/ggml-vocab-llama-bpe.gguf" ] ||
	skip_all "no llama.cpp build (run scripts/build-llama.sh)"

SOCK=$tmp/tmux.sock
T="tmux -S $SOCK"
top_cleanup() {
	$T kill-server 2>/dev/null
	serve_cleanup
}
trap top_cleanup EXIT

M=$tmp/models
mkdir -p "$M"
synth "$M/aaa-small.gguf" 2 || { not_ok "gguf-synth failed: $(tail -3 "$tmp/synth.log")"; exit 1; }
synth "$M/zzz-big.gguf" 8 || { not_ok "gguf-synth failed: $(tail -3 "$tmp/synth.log")"; exit 1; }
# the daemon plans for this machine's CPU only (a fake NVML is for top)
LLMEM_NVML=none
export LLMEM_NVML
serve_start "$tmp/d.log" --models-dir "$M" --backend "$LLAMA_SERVER" -c 2048 \
	--footprints "$tmp/fp.json" || { not_ok "llmem serve did not start"; exit 1; }
HOSTSPEC=127.0.0.1:$PORT
for m in aaa-small zzz-big; do
	r=$(curl -s -m 60 -o /dev/null -w '%{http_code}' "$URL/models/load" -d "{\"model\":\"$m\"}")
	[ "$r" = 200 ] || { not_ok "load $m: HTTP $r"; exit 1; }
done

# row FILE NAME: the line number of NAME's row in a capture ("" none)
row() { grep -n " $2 " "$1" | head -1 | cut -d: -f1; }
before() { # before FILE A B: A's row is above B's
	_a=$(row "$1" "$2")
	_b=$(row "$1" "$3")
	[ -n "$_a" ] && [ -n "$_b" ] && [ "$_a" -lt "$_b" ]
}

# ---- plain snapshots
"$LLMEM" top -n 1 --host "$HOSTSPEC" >"$tmp/snap.txt" 2>"$tmp/snap.err"
rc=$?
check "top -n 1 exits 0 (rc $rc)" [ "$rc" -eq 0 ]
check "the snapshot shows the RAM pool with a bar" grep -Eq '^RAM +\[\|* *\]' "$tmp/snap.txt"
check "the snapshot shows swap" grep -q '^Swap' "$tmp/snap.txt"
check "the snapshot shows the memory pressure and the OOM kills" grep -Eq '^PSI memory.*OOM kills' "$tmp/snap.txt"
check "the snapshot names the daemon" grep -q "llmem serve .* at $HOSTSPEC" "$tmp/snap.txt"
check "aaa-small ready in the snapshot" grep -Eq ' aaa-small +ready +[0-9]+ MB +100% CPU +2048 ' "$tmp/snap.txt"
check "zzz-big ready in the snapshot" grep -Eq ' zzz-big +ready +[0-9]+ MB +100% CPU +2048 ' "$tmp/snap.txt"
check "no curses escapes in the snapshot" sh -c "! grep -q \"$(printf '\033')\" '$tmp/snap.txt'"
timeout 20 "$LLMEM" top --host "$HOSTSPEC" >"$tmp/pipe.txt" 2>&1 </dev/null
rc=$?
check "with stdout not a terminal: one snapshot, exit 0 (rc $rc)" \
	sh -c "[ $rc -eq 0 ] && [ \$(grep -c '^llmem top' '$tmp/pipe.txt') -eq 1 ] && grep -q ' zzz-big ' '$tmp/pipe.txt'"
"$LLMEM" top -n 2 -d 0.2 --host "$HOSTSPEC" >"$tmp/two.txt" 2>&1
check "-n 2 prints two snapshots" [ "$(grep -c '^llmem top' "$tmp/two.txt")" -eq 2 ]
"$LLMEM" top -n 0 >/dev/null 2>&1
check "-n 0 is a usage error (2)" [ $? -eq 2 ]

# ---- the screen
cap() { $T capture-pane -p -t top >"$tmp/pane.txt" 2>/dev/null; }
shows() { cap && grep -q -- "$1" "$tmp/pane.txt"; }
TERM=${TERM:-xterm}
[ "$TERM" = dumb ] && TERM=xterm
export TERM
if ! $T new-session -d -s top -x 120 -y 40 "LLMEM_NVML=none '$LLMEM' top --host $HOSTSPEC -d 0.5"; then
	not_ok "tmux new-session failed"
	exit 1
fi
both_shown() { cap && grep -q ' aaa-small .*ready' "$tmp/pane.txt" && grep -q ' zzz-big .*ready' "$tmp/pane.txt"; }
check "the screen shows both models ready" wait_for 15 both_shown
check "the screen shows the RAM pool" grep -Eq '^RAM +\[' "$tmp/pane.txt"
check "the screen shows the keys" grep -q 'q quit' "$tmp/pane.txt"
check "sorted by name: aaa-small above zzz-big" before "$tmp/pane.txt" aaa-small zzz-big
$T send-keys -t top s
size_sorted() { shows 'sort: size' && before "$tmp/pane.txt" zzz-big aaa-small; }
check "'s' sorts by size: zzz-big above aaa-small" wait_for 5 size_sorted
$T send-keys -t top F6
check "F6 sorts by state" wait_for 5 shows 'sort: state'
$T send-keys -t top s
check "'s' again: back to name" wait_for 5 shows 'sort: name'
$T send-keys -t top s
wait_for 5 size_sorted
# select zzz-big (the first row), then aaa-small
$T send-keys -t top Up
sel_on() { cap && grep -Eq "^> $1 " "$tmp/pane.txt"; }
check "up selects zzz-big" wait_for 5 sel_on zzz-big
$T send-keys -t top Down
check "down selects aaa-small" wait_for 5 sel_on aaa-small
$T send-keys -t top u
unloaded() { [ "$(sget aaa-small state)" = unloaded ]; }
check "'u' unloads the selected model (status: aaa-small unloaded)" wait_for 20 unloaded
check "the other model stays ready" [ "$(sget zzz-big state)" = ready ]
shown_unloaded() { cap && grep -Eq ' aaa-small +unloaded ' "$tmp/pane.txt"; }
check "the screen shows aaa-small unloaded" wait_for 5 shown_unloaded
check "the key line says what 'u' did" grep -q 'unloading aaa-small' "$tmp/pane.txt"
$T send-keys -t top q
closed() { ! $T has-session -t top 2>/dev/null; }
check "'q' quits: the pane closes" wait_for 5 closed

# ---- no daemon: llama-server processes
LP=$(free_port)
"$LLAMA_SERVER" -m "$M/aaa-small.gguf" --host 127.0.0.1 --port "$LP" -c 512 --alias lonely >"$tmp/ls.log" 2>&1 &
LPID=$!
BG="$BG $LPID"
ls_up() { curl -s -m 1 -o /dev/null "http://127.0.0.1:$LP/health"; }
wait_for 30 ls_up || note "the lone llama-server did not answer /health"
cat >"$tmp/nvml.conf" <<EOF
driver 580.95.05
gpu 25769803776 20000000000 5769803776 00000000:01:00.0 NVIDIA GeForce RTX 4090
proc $LPID 1073741824 compute
EOF
NOPORT=$(free_port)
LLMEM_NVML=$TOOLS/libfake-nvml.so FAKE_NVML_CONFIG=$tmp/nvml.conf \
	"$LLMEM" top -n 1 --host "127.0.0.1:$NOPORT" >"$tmp/procs.txt" 2>&1
rc=$?
check "without a daemon: exit 0 (rc $rc)" [ "$rc" -eq 0 ]
check "without a daemon: says so" grep -q "no llmem serve at 127.0.0.1:$NOPORT" "$tmp/procs.txt"
check "the process is listed by pid and alias, with its RSS and NVML's 1.1 GB" \
	grep -Eq "^  $LPID +lonely +[0-9]+ MB +1\.1 GB +512" "$tmp/procs.txt"
check "the fake GPU is a pool with a bar" grep -Eq '^CUDA0 +\[.*NVIDIA GeForce RTX 4090' "$tmp/procs.txt"
if [ "$(cat /proc/"$LPID"/comm 2>/dev/null)" = llama-server ]; then
	kill "$LPID" 2>/dev/null
fi
