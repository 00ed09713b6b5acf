#!/bin/sh
# t-serve-faults.sh: `llmem serve` under faults, each a test, and after each
# the daemon keeps serving (a normal request succeeds):
#  - a backend SIGKILLed while a streamed request is in flight: the client
#    gets an explicit error, status counts the crash with its reason, the
#    next request loads the model again;
#  - a backend that runs out of memory: simulated (a fake backend that logs
#    llama.cpp's allocation failure and exits 1), and, where the test can
#    make a memory cgroup (v2 with the memory controller delegated, or v1),
#    a real kill by the kernel's OOM killer: the daemon runs in a 40 MiB
#    cgroup with --budget 1GiB, and must count the silent SIGKILL as out of
#    memory (from its model cgroup's oom_kill count), not as a crash;
#  - a backend that never becomes healthy (--load-timeout 3s), and one that
#    exits at start (status 3): errors to the request, the reason in status,
#    "failed" after three tries, another model served meanwhile;
#  - a client that disconnects mid-stream: the backend's generation is
#    cancelled (its /slots shows the slot idle, and a request on the
#    one-slot model starts at once);
#  - a full queue (--max-queue 1, one slot): 503 with a JSON error;
#  - SIGTERM to the daemon with a request in flight: the client gets an
#    answer or an explicit error, the daemon exits 0 within the stop
#    timeout, no backend survives;
#  - SIGKILL to the daemon: its backends die within 2 s (parent-death
#    signal), and a new daemon serves on the same port.
# Fake backends are tests/tools/fake-llama-server.sh, which picks its
# behaviour from the model file's name and runs the real llama-server for
# the others. Needs the llama.cpp build that scripts/build-llama.sh caches
# (.ci/run makes it) and curl; without them every test is skipped.
. "$(dirname "$0")/serve-lib.sh"

LABELS='backend SIGKILL mid-stream
simulated out-of-memory exit
out-of-memory kill by a cgroup
backend never healthy
backend exits at start
client disconnect mid-stream
queue full
daemon SIGTERM with a request in flight
daemon SIGKILL'
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

M=$tmp/models
mkdir -p "$M"
synth "$M/tiny.gguf" 4 || { not_ok "gguf-synth failed: $(tail -3 "$tmp/synth.log")"; exit 1; }
for f in hang exit3 oom; do
	ln -s tiny.gguf "$M/$f.gguf"
done
FAKE=$tmp/fake-llama-server
cp "$ROOT/tests/tools/fake-llama-server.sh" "$FAKE" && chmod +x "$FAKE"
LLMEM_FAKE_REAL_BACKEND=$LLAMA_SERVER
export LLMEM_FAKE_REAL_BACKEND
cat >"$tmp/a.ini" <<EOF
[tiny]
model = $M/tiny.gguf
[one]
model = $M/tiny.gguf
parallel = 1
c = 8192
[hang]
model = $M/hang.gguf
[exit3]
model = $M/exit3.gguf
[oom]
model = $M/oom.gguf
EOF

since() { echo $(($(date +%s) - $1)); }
# backends of one model file still running
backends_of() { pgrep -f -- "-m $M/$1" 2>/dev/null; }
no_backends() { [ -z "$(our_backends)" ]; }
no_backends_of() { [ -z "$(backends_of "$1")" ]; }
field_is() { [ "$(sget "$1" "$2")" = "$3" ]; }
# a request finished (its curl exited): poll up to $2 s
done_within() { wait_for "$2" gone "$1"; }
# slots MODEL: "busy", "idle" or "unknown": whether the backend of MODEL
# is generating, from its /slots (with the backend's private API key,
# read from its command line or environment: llmem gives every backend one)
slots() {
	bpid=$(sget "$1" pid) && bp=$(sget "$1" port) || { echo unknown; return; }
	key=$(tr '\0' '\n' <"/proc/$bpid/cmdline" 2>/dev/null | sed -n '/^--api-key$/{n;p;q}')
	[ -n "$key" ] || key=$(tr '\0' '\n' <"/proc/$bpid/environ" 2>/dev/null | sed -n 's/^LLAMA_API_KEY=//p' | head -1)
	s=$(curl -s -m 2 ${key:+-H "Authorization: Bearer $key"} "http://127.0.0.1:$bp/slots")
	case $s in
	*'"is_processing":true'*) echo busy ;;
	*'"is_processing":false'*) echo idle ;;
	*) echo unknown ;;
	esac
}
slots_idle() { [ "$(slots "$1")" = idle ]; }

# ---- daemon A: the real model, fakes, one-slot model, --max-queue 1 ----
if ! serve_start "$tmp/a.log" --footprints "$tmp/fp-a.json" --models-preset "$tmp/a.ini" --backend "$FAKE" -c 2048 \
	--load-timeout 60s --max-queue 1; then
	not_ok "llmem serve did not start"
	exit 1
fi
A=$DPID
check "baseline: a chat request on tiny succeeds" chat_ok tiny

# 1. backend SIGKILL mid-stream
stream_start tiny 1900 "$tmp/k.out"
if wait_for 30 has_bytes "$tmp/k.out"; then
	bpid=$(sget tiny pid)
	t0=$(date +%s)
	kill -KILL "$bpid"
	if done_within "$SPID" 15; then
		if grep -q '"error"' "$tmp/k.out"; then
			ok "SIGKILL mid-stream: the client gets an error in the stream ($(since "$t0") s): $(grep -o '"message":"[^"]*"' "$tmp/k.out" | tail -1)"
		else
			not_ok "SIGKILL mid-stream: the stream ended without an error: $(tail -c 300 "$tmp/k.out")"
		fi
	else
		not_ok "SIGKILL mid-stream: the client still waits 15 s after the backend died"
	fi
	wait_for 5 field_is tiny state unloaded
	crashes=$(sget tiny crashes)
	reason=$(sget tiny reason)
	case $crashes/$reason in
	1/*SIGKILL*) ok "SIGKILL mid-stream: status says crashes=1, reason '$reason'" ;;
	*) not_ok "SIGKILL mid-stream: status says crashes=$crashes, reason '$reason'" ;;
	esac
	check "SIGKILL mid-stream: busy back to 0" field_is tiny busy 0
	loads=$(sget tiny loads)
	check "SIGKILL mid-stream: the next request loads tiny again and succeeds" chat_ok tiny
	check "SIGKILL mid-stream: loads went from $loads to $((loads + 1))" field_is tiny loads $((loads + 1))
else
	not_ok "SIGKILL mid-stream: no bytes of the stream in 30 s"
fi

# 2. simulated out-of-memory exit
r=$(CHAT_TIMEOUT=30 chat oom)
case $r in
5[0-9][0-9]" "*) ok "simulated OOM: the request gets $r: $(head -c 200 "$tmp/chat.out")" ;;
*) not_ok "simulated OOM: the request got '$r' $(head -c 200 "$tmp/chat.out")" ;;
esac
ooms=$(sget oom ooms)
reason=$(sget oom reason)
case $ooms/$reason in
[1-9]*/*"out of memory"*"failed to allocate"*) ok "simulated OOM: ooms=$ooms, reason '$reason'" ;;
*) not_ok "simulated OOM: ooms=$ooms, reason '$reason'" ;;
esac
check "simulated OOM: tiny still serves" chat_ok tiny

# 3. a backend that exits at start
r=$(CHAT_TIMEOUT=30 chat exit3)
case $r in
500" "*) ok "exits at start: the request gets $r" ;;
*) not_ok "exits at start: the request got '$r' $(head -c 200 "$tmp/chat.out")" ;;
esac
reason=$(sget exit3 reason)
case $reason in
*"exited with status 3"*) ok "exits at start: reason '$reason'" ;;
*) not_ok "exits at start: reason '$reason'" ;;
esac
check "exits at start: tiny still serves" chat_ok tiny

# 4. client disconnect mid-stream, on the one-slot model
check "disconnect: the one-slot model loads and serves" chat_ok one
stream_start one 8000 "$tmp/d.out"
if wait_for 30 has_bytes "$tmp/d.out"; then
	sleep 0.5
	before=$(slots one)
	kill -TERM "$SPID"
	check "disconnect: status shows busy 0 within 3 s" wait_for 3 field_is one busy 0
	case $before in
	busy) check "disconnect: the backend cancelled the generation (its /slots: idle within 10 s)" wait_for 10 slots_idle one ;;
	*) skip "disconnect: the backend's /slots cannot tell (it said '$before' while generating)" ;;
	esac
	# the abandoned generation (8000 tokens) would hold the slot minutes
	r=$(CHAT_TIMEOUT=60 chat one)
	case $r in
	"200 "[0-9].* | "200 1"[0-4].*) ok "disconnect: a request on the one-slot model starts at once ($r s)" ;;
	*) not_ok "disconnect: a request on the one-slot model got '$r' (the abandoned generation runs on?)" ;;
	esac
else
	not_ok "disconnect: no bytes of the stream in 30 s"
fi

# 5. queue full: one in flight, one queued, the third gets 503
stream_start one 8000 "$tmp/q1.out"
Q1=$SPID
if wait_for 30 has_bytes "$tmp/q1.out"; then
	curl -s -m 60 -o "$tmp/q2.out" -w '%{http_code} %{time_total}\n' -H 'Content-Type: application/json' \
		"$URL/v1/chat/completions" -d '{"model":"one","messages":[{"role":"user","content":"hi"}],"max_tokens":8}' \
		>"$tmp/q2.code" 2>/dev/null &
	Q2=$!
	BG="$BG $Q2"
	if wait_for 5 field_is one queued 1; then
		r=$(chat one)
		msg=$("$GET" "$tmp/chat.out" error/message 2>/dev/null)
		case $r/$msg in
		"503 "*/*queue*) ok "queue full: the third request gets 503: $msg" ;;
		*) not_ok "queue full: the third request got '$r' $(head -c 200 "$tmp/chat.out")" ;;
		esac
		kill -TERM "$Q1"
		if done_within "$Q2" 30; then
			r=$(cat "$tmp/q2.code")
			case $r in
			"200 "*) ok "queue full: the queued request is served once the first ends ($r)" ;;
			*) not_ok "queue full: the queued request got '$r'" ;;
			esac
		else
			not_ok "queue full: the queued request still waits 30 s after the first ended"
		fi
	else
		not_ok "queue full: the second request is not queued: $(sget one queued) queued, $(sget one busy) busy"
	fi
	kill -TERM "$Q1" "$Q2" 2>/dev/null
else
	not_ok "queue full: no bytes of the stream in 30 s"
fi
check "after the faults: tiny serves" chat_ok tiny
check "after the faults: one serves" chat_ok one
check "after the faults: no request left open" field_is tiny busy 0

# daemon A goes: SIGTERM, idle
kill -TERM "$A"
if serve_wait_exit "$A" 15; then
	check "daemon A exits 0 on SIGTERM (status $RC)" [ "$RC" -eq 0 ]
else
	not_ok "daemon A still runs 15 s after SIGTERM"
fi
check "daemon A left no backend" wait_for 3 no_backends

# 6. a real OOM kill, in a memory cgroup smaller than the model
# cgroup_make: a child memory cgroup limited to $1 bytes; sets CGROUP,
# CG_PROCS, CG_EVENTS (the file with the oom_kill count)
cgroup_make() {
	v2=$(awk '$3 == "cgroup2" {print $2; exit}' /proc/mounts)
	self=$(sed -n 's/^0:://p' /proc/self/cgroup)
	if [ -n "$v2" ] && [ -n "$self" ] && [ -d "$v2$self" ] &&
		grep -qw memory "$v2$self/cgroup.subtree_control" 2>/dev/null &&
		mkdir "$v2$self/llmem-t-$$" 2>/dev/null; then
		CGROUP=$v2$self/llmem-t-$$
		CG_PROCS=$CGROUP/cgroup.procs
		CG_EVENTS=$CGROUP/memory.events
		echo "$1" >"$CGROUP/memory.max" 2>/dev/null && echo 0 >"$CGROUP/memory.swap.max" 2>/dev/null
		[ "$(cat "$CGROUP/memory.max")" = "$1" ] && return 0
		rmdir "$CGROUP"
		CGROUP=""
	fi
	v1=$(awk '$3 == "cgroup" && $4 ~ /(^|,)memory(,|$)/ {print $2; exit}' /proc/mounts)
	self=$(awk -F: '$2 ~ /(^|,)memory(,|$)/ {print $3; exit}' /proc/self/cgroup)
	if [ -n "$v1" ] && [ -d "$v1$self" ] && mkdir "$v1$self/llmem-t-$$" 2>/dev/null; then
		CGROUP=$v1$self/llmem-t-$$
		CG_PROCS=$CGROUP/cgroup.procs
		CG_EVENTS=$CGROUP/memory.oom_control
		echo "$1" >"$CGROUP/memory.limit_in_bytes" 2>/dev/null
		[ "$(cat "$CGROUP/memory.limit_in_bytes")" = "$1" ] &&
			grep -q '^oom_kill ' "$CG_EVENTS" 2>/dev/null && return 0
		rmdir "$CGROUP"
		CGROUP=""
	fi
	return 1
}
# the OOM kills in the cgroup and below it (llmem serve may run each backend
# in a cgroup of its own under its own)
oom_kills() {
	find "$CGROUP" -name "${CG_EVENTS##*/}" -exec awk '$1 == "oom_kill" {s += $2} END {print s + 0}' {} + 2>/dev/null |
		awk '{s += $1} END {print s + 0}'
}
if [ "$(id -u)" -ne 0 ] && [ -z "${LLMEM_TEST_CGROUP:-}" ]; then
	skip "out-of-memory kill by a cgroup: not root (no cgroup to make)"
elif ! cgroup_make $((40 * 1024 * 1024)); then
	skip "out-of-memory kill by a cgroup: no writable memory cgroup (v2 with memory delegated, or v1)"
else
	# the daemon runs inside the cgroup (its backends with it); --budget
	# makes it plan as if the memory were there (--no-pressure: it would
	# see that it is not, and refuse the load)
	sh -c 'echo $$ >"$1" && shift && exec "$@"' sh "$CG_PROCS" "$LLMEM" serve --port "$(free_port)" \
		--footprints "$tmp/fp-cg.json" --models-preset "$tmp/a.ini" --backend "$LLAMA_SERVER" -c 2048 --budget 1GiB --no-pressure \
		>"$tmp/cg.log" 2>&1 &
	D=$!
	DAEMONS="$DAEMONS $D"
	PORT=""
	wait_for 20 grep -qs 'serving .* on http' "$tmp/cg.log" &&
		PORT=$(sed -n 's/.*on http:\/\/127.0.0.1:\([0-9]*\).*/\1/p' "$tmp/cg.log" | head -1)
	URL="http://127.0.0.1:$PORT"
	if [ -z "$PORT" ] || ! wait_for 20 curl -s -m 1 -o /dev/null "$URL/health"; then
		not_ok "OOM kill by a cgroup: the daemon did not start in the cgroup"
		sed 's/^/#   /' "$tmp/cg.log" | head -5
	else
		k0=$(oom_kills)
		r=$(CHAT_TIMEOUT=60 chat tiny)
		k1=$(oom_kills)
		note "cgroup $CGROUP (limit 40 MiB): oom_kill $k0 -> $k1"
		case $r in
		5[0-9][0-9]" "*) ok "OOM kill by a cgroup: the request gets $r: $(head -c 200 "$tmp/chat.out")" ;;
		*) not_ok "OOM kill by a cgroup: the request got '$r' $(head -c 200 "$tmp/chat.out")" ;;
		esac
		check "OOM kill by a cgroup: the daemon survives and answers" curl -sf -m 5 -o /dev/null "$URL/llmem/status"
		ooms=$(sget tiny ooms)
		reason=$(sget tiny reason)
		note "llmem's classification: state $(sget tiny state), ooms=$ooms, crashes=$(sget tiny crashes)"
		# (a model cgroup the daemon made and removed took its oom_kill
		# count with it; a SIGKILL here can only be the OOM killer's)
		case $ooms/$reason in
		[1-9]*/*"out of memory"*) ok "OOM kill by a cgroup: counted as out of memory (ooms=$ooms): '$reason'" ;;
		*)
			if [ "${k1:-0}" -gt "${k0:-0}" ] || expr "$reason" : '.*SIGKILL' >/dev/null; then
				not_ok "OOM kill by a cgroup: counted as ooms=$ooms, crashes=$(sget tiny crashes): '$reason'"
			else
				skip "OOM kill by a cgroup: the kernel's OOM killer did not act (oom_kill $k0 -> $k1; '$reason')"
			fi
			;;
		esac
		check "OOM kill by a cgroup: no backend left in the cgroup" wait_for 5 no_backends
	fi
	kill -TERM "$D" 2>/dev/null
	serve_wait_exit "$D" 15 || kill -KILL "$D" 2>/dev/null
fi

# 7. a backend that never becomes healthy: daemon H, --load-timeout 3s
# (every backend gets it: the real model has to load within 3 s too)
if serve_start "$tmp/h.log" --footprints "$tmp/fp-h.json" --models-preset "$tmp/a.ini" --backend "$FAKE" -c 2048 --load-timeout 3s; then
	H=$DPID
	tiny_up=false
	for _ in 1 2; do
		chat_ok tiny && { tiny_up=true; break; }
	done
	curl -s -m 90 -o "$tmp/h.out" -w '%{http_code} %{time_total}\n' -H 'Content-Type: application/json' \
		"$URL/v1/chat/completions" -d '{"model":"hang","messages":[{"role":"user","content":"hi"}],"max_tokens":8}' \
		>"$tmp/h.code" 2>/dev/null &
	HC=$!
	BG="$BG $HC"
	wait_for 10 field_is hang state loading
	if ! $tiny_up; then
		skip "never healthy: another model served meanwhile: tiny did not load within 3 s here"
	else
		r=$(chat tiny)
		case $r in
		"200 "*)
			if gone "$HC"; then
				not_ok "never healthy: tiny answered ($r s), but only after hang's request ended"
			else
				ok "never healthy: while hang is being tried, tiny answers ($r s)"
			fi
			;;
		*) not_ok "never healthy: while hang is being tried, tiny answered '$r'" ;;
		esac
	fi
	# 3 tries of 3 s, 1 s and 2 s apart: about 12 s
	if done_within "$HC" 60; then
		r=$(cat "$tmp/h.code")
		case $r in
		500" "*) ok "never healthy: the request gets $r: $(head -c 200 "$tmp/h.out")" ;;
		*) not_ok "never healthy: the request got '$r' $(head -c 200 "$tmp/h.out")" ;;
		esac
	else
		not_ok "never healthy: the request still waits after 60 s"
	fi
	st=$(sget hang state)
	reason=$(sget hang reason)
	case $st/$reason in
	failed/*"3 times"*"not healthy"*) ok "never healthy: state failed after 3 tries, reason '$reason'" ;;
	*) not_ok "never healthy: state $st, reason '$reason'" ;;
	esac
	check "never healthy: no hung backend left" wait_for 3 no_backends_of hang.gguf
	r=$(chat hang)
	case $r in
	500" "*) ok "never healthy: a request to the failed model is refused at once ($r)" ;;
	*) not_ok "never healthy: a request to the failed model got '$r'" ;;
	esac
	if $tiny_up; then
		check "never healthy: tiny still serves" chat_ok tiny
	fi
	kill -TERM "$H"
	serve_wait_exit "$H" 15 || kill -KILL "$H" 2>/dev/null
else
	not_ok "daemon H did not start"
fi

# ---- 8. SIGTERM with a request in flight (the real backend) ----
cat >"$tmp/b.ini" <<EOF
[tiny]
model = $M/tiny.gguf
stop-timeout = 5
EOF
if serve_start "$tmp/b.log" --footprints "$tmp/fp-b.json" --models-preset "$tmp/b.ini" --backend "$LLAMA_SERVER" -c 2048; then
	B=$DPID
	chat_ok tiny || note "daemon B: tiny did not serve"
	stream_start tiny 1900 "$tmp/t.out"
	if wait_for 30 has_bytes "$tmp/t.out"; then
		t0=$(date +%s)
		kill -TERM "$B"
		if serve_wait_exit "$B" 15; then
			el=$(since "$t0")
			check "SIGTERM in flight: the daemon exits 0 (status $RC)" [ "$RC" -eq 0 ]
			check "SIGTERM in flight: within the stop timeout (${el} s <= 5 + 1)" [ "$el" -le 6 ]
		else
			not_ok "SIGTERM in flight: the daemon still runs 15 s after SIGTERM"
		fi
		if done_within "$SPID" 5; then
			if grep -q '"error"\|\[DONE\]' "$tmp/t.out"; then
				ok "SIGTERM in flight: the client gets an explicit end: $(grep -o '"message":"[^"]*"\|\[DONE\]' "$tmp/t.out" | tail -1)"
			else
				not_ok "SIGTERM in flight: the stream ended without an error or [DONE]: $(tail -c 200 "$tmp/t.out")"
			fi
		else
			not_ok "SIGTERM in flight: the client still waits after the daemon exited"
		fi
		check "SIGTERM in flight: no backend survives" wait_for 2 no_backends
	else
		not_ok "SIGTERM in flight: no bytes of the stream in 30 s"
	fi
else
	not_ok "daemon B did not start"
fi

# ---- 9. SIGKILL: the backends die with the daemon ----
cat >"$tmp/c.ini" <<EOF
[tiny]
model = $M/tiny.gguf
[one]
model = $M/tiny.gguf
parallel = 1
EOF
if serve_start "$tmp/c.log" --footprints "$tmp/fp-c.json" --models-preset "$tmp/c.ini" --backend "$LLAMA_SERVER" -c 2048; then
	C=$DPID
	chat_ok tiny || note "daemon C: tiny did not serve"
	chat_ok one || note "daemon C: one did not serve"
	nb=$(our_backends | wc -l)
	check "SIGKILL: the daemon runs 2 backends ($nb)" [ "$nb" -eq 2 ]
	# the measured footprints reach the file (written by a thread of the
	# daemon half a second after each load), both entries
	fp_entries() {
		python3 -c 'import json,sys; print(len(json.load(open(sys.argv[1]))["entries"]))' "$tmp/fp-c.json" 2>/dev/null
	}
	fp_two() { [ "$(fp_entries)" = 2 ]; }
	check "the footprint file holds both models' measurements ($(wait_for 5 fp_two; fp_entries))" fp_two
	kill -KILL "$C"
	t0=$(date +%s)
	if wait_for 2 no_backends; then
		ok "SIGKILL: no backend survives the daemon (gone within 2 s)"
	else
		not_ok "SIGKILL: backends alive 2 s after the daemon died: $(our_backends | tr '\n' ' ')"
	fi
	wait "$C" 2>/dev/null
	# a new daemon on the same port serves the same models
	SERVE_PORT=$PORT
	if serve_start "$tmp/c2.log" --footprints "$tmp/fp-c2.json" --models-preset "$tmp/c.ini" --backend "$LLAMA_SERVER" -c 2048; then
		check "SIGKILL: a new daemon serves tiny afterwards" chat_ok tiny
		kill -TERM "$DPID"
		serve_wait_exit "$DPID" 15 || kill -KILL "$DPID"
	else
		not_ok "SIGKILL: a new daemon does not start"
	fi
else
	not_ok "daemon C did not start"
fi
check "no backend left at the end" wait_for 3 no_backends
