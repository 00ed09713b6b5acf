#!/bin/sh
# t-serve-security.sh: `llmem serve` against the attack and fault cases of
# docs/SECURITY.md (the B numbers of its table), each a test:
#  B1  a --host beyond this machine needs --api-key or --insecure
#  B3  a cross-site POST: a foreign Origin 403 everywhere, a page's POST
#      must be JSON (415), the Origin reflected only when allowed
#  B4  the API key: 401 OpenAI- or Ollama-shaped, /health exempt, the key
#      never in the log; B39 no prompt in the log; B40 a backend's own key
#      is not on its command line, and its port refuses a request without it
#  B5  hostile model names: 400 or 404, no backend started
#  B9  Content-Length of 10 GiB and a chunked body past the cap: 413, closed
#  B10 deep nesting and a 2-million-value array: 400 at once, RSS bounded
#  B11 dangerous sampling fields (/v1 and /api): 400 before any load
#  B12 300 slowloris connections: other clients served meanwhile, and the
#      drippers dropped at the head's deadline
#  B13 a body that stops coming: the connection dropped
#  B14 a client that stops reading a 20 MB stream: the daemon's RSS stays
#      bounded, the stream resumes complete; a client stalled past the
#      request timeout is dropped and the backend's request cancelled
#  B15 a connection flood past the daemon's descriptor limit: it stays up,
#      quiet, and serves once they close
#  B16 a full queue: 503 with Retry-After; B17 a request that leaves while
#      queued: dequeued, and its model never loaded
#  B19 ambiguous framing (Content-Length with Transfer-Encoding, two
#      Content-Lengths, bad chunk sizes): 4xx and the connection closed
#  B20 a backend that dies before answering, B34 one that answers garbage:
#      502; B21 one that dies (or sends a bad chunk) mid-stream: an error
#      event or line, then the connection cut: no [DONE], no last chunk
#  B28 a backend that ignores SIGTERM, or leaves a child that does: nothing
#      of it survives the unload
#  B30 a backend that finds its port taken: started again on another, not
#      counted as a crash
#  B33 a model that cannot fit even alone: refused at once, nothing evicted
#  B36 a model file truncated after it was served: the load fails with the
#      reason (needs the llama.cpp build)
#  and the passthrough's image URLs: only data: URLs reach llama-server.
# The backends are tests/tools/fake-backend.py (its behaviour from the
# model's name); B36 runs the real llama-server. Needs curl and python3.
. "$(dirname "$0")/serve-lib.sh"

skip_all() {
	skip "serve security: $1"
	exit 0
}
command -v curl >/dev/null 2>&1 || skip_all "no curl"
command -v python3 >/dev/null 2>&1 || skip_all "no python3"

ATK="python3 $ROOT/tests/integration/serve-attack.py"
FAKE=$tmp/fake-backend
cp "$ROOT/tests/tools/fake-backend.py" "$FAKE" && chmod +x "$FAKE"
M=$tmp/models
mkdir -p "$M"
# fake models: llmem plans with their headers, fake-backend.py acts by name
for f in ok one other dies early garbage badchunk stubborn orphaner bindfail hangs spins crunch loadhang loadslow nolisten; do
	"$TOOLS/gguf-synth" --shape llama-3.2-1b --layers 2 --embd 64 --ff 128 --heads 2 --kv-heads 1 \
		"$M/$f.gguf" >"$tmp/synth.log" 2>&1 || { not_ok "gguf-synth failed: $(tail -3 "$tmp/synth.log")"; exit 1; }
done
# llama-70b's shape (a sparse file): fits no test machine
"$TOOLS/gguf-synth" --shape llama-3.2-1b --layers 80 --embd 8192 --ff 28672 --heads 64 --kv-heads 8 \
	"$M/huge.gguf" >"$tmp/synth.log" 2>&1 || { not_ok "gguf-synth huge failed"; exit 1; }
{
	for f in ok other dies early garbage badchunk bindfail hangs spins crunch loadhang loadslow nolisten; do
		printf '[%s]\nmodel = %s/%s.gguf\n' "$f" "$M" "$f"
	done
	printf '[one]\nmodel = %s/one.gguf\nparallel = 1\n' "$M"
	for f in stubborn orphaner; do
		printf '[%s]\nmodel = %s/%s.gguf\nstop-timeout = 1\n' "$f" "$M" "$f"
	done
	# 46 options, 92 arguments: more than llmem passes on
	printf '[manyargs]\nmodel = %s/ok.gguf\n' "$M"
	for k in seed temperature top-k top-p min-p top-n-sigma xtc-probability xtc-threshold typical-p \
		repeat-last-n repeat-penalty presence-penalty frequency-penalty dry-multiplier dry-base \
		dry-allowed-length dry-penalty-last-n adaptive-target adaptive-decay dynatemp-range dynatemp-exp \
		mirostat mirostat-lr mirostat-ent keep n-predict rope-freq-base rope-freq-scale yarn-orig-ctx \
		yarn-ext-factor yarn-attn-factor yarn-beta-slow yarn-beta-fast threads threads-batch poll prio \
		timeout sse-ping-interval threads-http cache-reuse slot-prompt-similarity swa-checkpoints \
		checkpoint-min-step image-min-tokens image-max-tokens; do
		printf '%s = 1\n' "$k"
	done
} >"$tmp/f.ini"

kv() { # kv KEY LINE: the value of KEY=... in LINE
	echo "$2" | tr ' ' '\n' | sed -n "s/^$1=//p"
}
code() { # code ARGS...: curl's HTTP status, the body in $tmp/body
	curl -s -m 30 -o "$tmp/body" -w '%{http_code}' "$@"
}
post() { # post PATH JSON [CURL ARGS...]
	_p=$1
	_b=$2
	shift 2
	code -H 'Content-Type: application/json' "$@" "$URL$_p" -d "$_b"
}
loads_total() {
	status "$tmp/st.json" && python3 -c 'import json,sys; print(sum(m["loads"] for m in json.load(open(sys.argv[1]))["models"]))' "$tmp/st.json"
}
hwm() { awk '$1 == "VmHWM:" {print $2}' "/proc/$1/status"; }
alive() { kill -0 "$1" 2>/dev/null; }
field_is() { [ "$(sget "$1" "$2")" = "$3" ]; }
no_backends() { [ -z "$(our_backends)" ]; }
of_model() { pgrep -f -- "-m $M/$1" 2>/dev/null; }
none_of() { [ -z "$(of_model "$1")" ]; }

# ---- B1: beyond loopback ----
# (timeout: were it to start, it would serve until killed)
timeout 10 "$LLMEM" serve --host 0.0.0.0 --port "$(free_port)" --models-preset "$tmp/f.ini" --backend "$FAKE" \
	>"$tmp/b1.log" 2>&1
rc=$?
check "B1: --host 0.0.0.0 without a key refuses to start (exit $rc: $(head -c 120 "$tmp/b1.log"))" \
	sh -c '[ "$1" -eq 2 ] && grep -q -- "--insecure" "$2"' _ "$rc" "$tmp/b1.log"
for extra in "--api-key k3y" "--insecure"; do
	# shellcheck disable=SC2086
	if serve_start "$tmp/b1b.log" --host 0.0.0.0 $extra --models-preset "$tmp/f.ini" --backend "$FAKE"; then
		ok "B1: --host 0.0.0.0 $extra starts"
		[ "$extra" = --insecure ] &&
			check "B1: --insecure warns loudly" grep -q "WARNING.*no API key" "$tmp/b1b.log"
		kill -TERM "$DPID"
		serve_wait_exit "$DPID" 10 || kill -KILL "$DPID"
	else
		not_ok "B1: --host 0.0.0.0 $extra starts"
	fi
done

# ---- B40: presets that would expose the backend ----
for kvp in "rpc = 10.0.0.1:50052" "props = true" "tools = all" "media-path = /" "slot-save-path = /tmp"; do
	printf '[x]\nmodel = %s/ok.gguf\n%s\n' "$M" "$kvp" >"$tmp/bad.ini"
	timeout 10 "$LLMEM" serve --port "$(free_port)" --models-preset "$tmp/bad.ini" --backend "$FAKE" >"$tmp/b40.log" 2>&1
	rc=$?
	check "B40: a preset with '$kvp' is refused (exit $rc: $(grep -o 'is not allowed.*' "$tmp/b40.log" | head -c 80))" \
		sh -c '[ "$1" -eq 2 ] && grep -q "not allowed" "$2"' _ "$rc" "$tmp/b40.log"
done

# ---- daemon F: the fake backends ----
# (with llama-server options in the environment: those that change the
# memory a backend takes must not reach it, the others may)
if ! LLAMA_ARG_CTX_SIZE=99999 LLAMA_ARG_CACHE_TYPE_K=f32 LLAMA_ARG_FIT_TARGET=1 LLAMA_ARG_THREADS_HTTP=3 \
	serve_start "$tmp/f.log" --models-preset "$tmp/f.ini" --backend "$FAKE" -c 512 --request-timeout 4; then
	not_ok "llmem serve did not start"
	exit 1
fi
F=$DPID

# B5: hostile names, before anything loads
bad=0
long=$(head -c 10240 /dev/zero | tr '\0' a)
for name in '../../etc/passwd' '%2e%2e%2f%2e%2e%2fetc%2fpasswd' '/etc/passwd' 'ok\u0000../x' \
	'..\\..\\windows\\win.ini' 'ok/../ok' ' ok' "$long"; do
	for ep in /v1/chat/completions /api/chat /api/show /models/load; do
		c=$(post "$ep" "{\"model\":\"$name\",\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}]}")
		case $c in
		400 | 404) ;;
		*)
			bad=$((bad + 1))
			note "B5: $ep model '$(printf %.40s "$name")': $c $(head -c 120 "$tmp/body")"
			;;
		esac
	done
done
check "B5: 8 hostile model names on 4 endpoints: each 400 or 404 ($bad not)" [ "$bad" -eq 0 ]
check "B5: ... and no backend was started for them" [ "$(loads_total)" = 0 ]

# B14: a client that stops reading a 20 MB stream (first: the heap is fresh)
body='{"model":"ok","prompt":"x","max_tokens":5000,"fake_pad":4000,"stream":true}'
chat_ok() { [ "$(post /v1/completions '{"model":"ok","prompt":"x","max_tokens":2}')" = 200 ]; }
chat_ok || note "ok did not answer"
r=$($ATK slowread "$PORT" "$F" "$body" 2)
note "B14: $r"
b0=$(kv rss_before "$r")
b1=$(kv rss_stalled "$r")
if ldd "$LLMEM" 2>/dev/null | grep -q libasan; then
	# ASan keeps freed memory in quarantine: every chunk passed adds to the RSS
	skip "B14: a stalled reader costs the daemon <= 8 MiB: not measurable under ASan ($b0 -> $b1 KiB)"
else
	check "B14: a stalled reader of a 20 MB stream costs the daemon <= 8 MiB ($b0 -> $b1 KiB)" \
		[ $((b1 - b0)) -le 8192 ]
fi
check "B14: ... and once it reads, the stream is complete (bytes $(kv bytes "$r"), [DONE])" \
	[ "$(kv 'done' "$r")" = 1 ]
r=$($ATK slowread "$PORT" "$F" "$body" 9)
check "B14: a reader stalled past --request-timeout (4 s) is dropped: $r" [ "$(kv 'done' "$r")" = 0 ]
check "B14: ... and its request ends (ok busy 0)" wait_for 5 field_is ok busy 0
r=$($ATK stream "$PORT" /v1/completions '{"model":"ok","prompt":"x","max_tokens":1,"fake_delay":6,"stream":true}')
check "B14: a model silent between two events longer than --request-timeout is not cut ($r)" \
	[ "$(kv 'done' "$r")/$(kv last_chunk "$r")" = 1/1 ]

# B3: cross-site requests
bad=0
for ep in /v1/chat/completions /v1/completions /api/generate /api/chat /models/load /models/unload /api/show; do
	c=$(code -H 'Origin: https://evil.example' -H 'Content-Type: text/plain' "$URL$ep" \
		-d '{"model":"ok","prompt":"x","messages":[]}')
	[ "$c" = 403 ] || { bad=$((bad + 1)); note "B3: $ep from evil.example: $c"; }
done
check "B3: a foreign Origin's text/plain POST: 403 on 7 endpoints ($bad not)" [ "$bad" -eq 0 ]
curl -s -m 10 -D "$tmp/h" -o /dev/null -H 'Origin: https://evil.example' "$URL/v1/models"
check "B3: a foreign Origin is never reflected" sh -c '! grep -qi "access-control-allow-origin" "$1"' _ "$tmp/h"
for ct in text/plain application/x-www-form-urlencoded multipart/form-data; do
	c=$(code -H 'Origin: http://localhost:3000' -H "Content-Type: $ct" "$URL/v1/completions" \
		-d '{"model":"ok","prompt":"x","max_tokens":1}')
	check "B3: a page's $ct POST (allowed Origin): 415" [ "$c" = 415 ]
done
curl -s -m 10 -D "$tmp/h" -o /dev/null -H 'Origin: http://localhost:3000' -H 'Content-Type: application/json' \
	"$URL/v1/completions" -d '{"model":"ok","prompt":"x","max_tokens":1}'
check "B3: a page's JSON POST: 200, its Origin reflected exactly, no credentials" \
	sh -c 'grep -q "^HTTP/1.1 200" "$1" && grep -qi "^access-control-allow-origin: http://localhost:3000.$" "$1" &&
		! grep -qi "allow-credentials" "$1"' _ "$tmp/h"
c=$(code "$URL/v1/completions" -d '{"model":"ok","prompt":"x","max_tokens":1}')
check "B3: a POST with no Origin (curl, SDKs) needs no Content-Type: $c" [ "$c" = 200 ]

# the passthrough's media: llama-server would fetch a URL itself
msg() { printf '{"model":"ok","max_tokens":1,"messages":[{"role":"user","content":[{"type":"%s",%s}]}]}' "$1" "$2"; }
for part in 'image_url:"image_url":{"url":"http://169.254.169.254/latest/meta-data"}' \
	'image_url:"image_url":{"url":"HTTPS://example.com/a.png"}' \
	'image_url:"image_url":{"url":"file:///etc/passwd"}' \
	'image_url:"image_url":"http://127.0.0.1:22/"' \
	'input_audio:"input_audio":{"url":"http://example.com/a.wav","format":"wav"}' \
	'video_url:"video_url":{"url":"https://example.com/v.mp4"}'; do
	c=$(post /v1/chat/completions "$(msg "${part%%:*}" "${part#*:}")")
	check "media: a ${part%%:*} URL to fetch is refused ($(echo "${part#*:}" | grep -o '"[a-zA-Z]*://[^"/]*' | head -1)...): $c" [ "$c" = 400 ]
done
c=$(post /v1/chat/completions "$(msg image_url '"image_url":{"url":"data:image/png;base64,iVBORw0KGgo="}')")
check "media: a data: URL goes through: $c" [ "$c" = 200 ]

# B11: dangerous sampling fields
bad=0
for f in '"n_probs":100000' '"top_logprobs":1000000' '"max_tokens":9223372036854775807' '"max_tokens":4294967297' \
	'"n_predict":-7' '"n_discard":-1' '"n_keep":-5' '"max_tokens":1e300' '"logit_bias":{"4294967296":5}' \
	'"logit_bias":[[-1,5]]' '"n_cmpl":100000000' '"id_slot":-9'; do
	c=$(post /v1/completions "{\"model\":\"ok\",\"prompt\":\"x\",$f}")
	[ "$c" = 400 ] || { bad=$((bad + 1)); note "B11: $f: $c"; }
done
for p in '[1,2,-1]' '[[1],[2,2147483648]]' '[5,1e20]'; do
	c=$(post /v1/completions "{\"model\":\"ok\",\"prompt\":$p}")
	[ "$c" = 400 ] || { bad=$((bad + 1)); note "B11: prompt $p: $c"; }
done
c=$(post /v1/embeddings '{"model":"ok","input":[-3]}')
[ "$c" = 400 ] || { bad=$((bad + 1)); note "B11: embeddings input [-3]: $c"; }
for o in '"num_predict":99999999999' '"num_keep":-9' '"repeat_last_n":-5000000000'; do
	c=$(post /api/generate "{\"model\":\"ok\",\"prompt\":\"x\",\"options\":{$o}}")
	[ "$c" = 400 ] || { bad=$((bad + 1)); note "B11: /api/generate $o: $c"; }
done
check "B11: 19 dangerous values on /v1 and /api: each 400 ($bad not)" [ "$bad" -eq 0 ]
c=$(post /v1/completions '{"model":"ok","prompt":[1,2,3],"max_tokens":-1,"n_probs":5,"n_keep":-1,"logit_bias":{"15":-100}}')
check "B11: the same fields in range go through: $c" [ "$c" = 200 ]

# B10: shapes
h0=$(hwm "$F")
python3 -c "print('{\"model\":\"ok\",\"prompt\":' + '['*100000 + ']'*100000 + '}')" >"$tmp/deep.json"
python3 -c "print('{\"model\":\"ok\",\"prompt\":[' + ','.join(['0']*2000000) + ']}')" >"$tmp/wide.json"
python3 -c "print('{\"model\":\"ok\",\"prompt\":\"x\",\"stop\":[' + ','.join(['{}']*2000000) + ']}')" >"$tmp/objs.json"
for f in deep wide objs; do
	t0=$(date +%s)
	c=$(code -H 'Content-Type: application/json' "$URL/v1/completions" --data-binary @"$tmp/$f.json")
	c2=$(code -H 'Content-Type: application/json' "$URL/api/generate" --data-binary @"$tmp/$f.json")
	el=$(($(date +%s) - t0))
	check "B10: a $f JSON body ($(wc -c <"$tmp/$f.json") bytes): 400 on /v1 and /api ($c, $c2, $el s)" \
		[ "$c/$c2/$((el <= 10))" = 400/400/1 ]
done
h1=$(hwm "$F")
check "B10: ... the daemon's peak RSS grew <= 100 MiB ($h0 -> $h1 KiB)" [ $((${h1:-999999} - ${h0:-0})) -le 102400 ]

# B9: sizes
r=$($ATK raw "$PORT" 'POST /v1/completions HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 10737418240\r\n\r\n' 5)
check "B9: Content-Length 10 GiB: 413 before the body, closed ($r)" \
	[ "$(kv status "$r")/$(kv eof "$r")" = 413/1 ]
r=$($ATK bigchunked "$PORT" 70)
check "B9: a chunked body past the 64 MiB cap: 413, closed ($r)" [ "$(kv status "$r")" = 413 ]

# B19: framing
for t in 'CL+TE:POST /v1/completions HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n2\r\n{}\r\n0\r\n\r\nGET /health HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n' \
	'two CL:POST /v1/completions HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 2\r\nContent-Length: 41\r\n\r\n{}GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n' \
	'bad chunk size:POST /v1/completions HTTP/1.1\r\nHost: 127.0.0.1\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n{}\r\n0\r\n\r\n' \
	'negative chunk size:POST /v1/completions HTTP/1.1\r\nHost: 127.0.0.1\r\nTransfer-Encoding: chunked\r\n\r\n-2\r\n{}\r\n0\r\n\r\n' \
	'TE gzip:POST /v1/completions HTTP/1.1\r\nHost: 127.0.0.1\r\nTransfer-Encoding: gzip, chunked\r\n\r\n2\r\n{}\r\n0\r\n\r\n' \
	'negative CL:POST /v1/completions HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: -1\r\n\r\n{}'; do
	# closed at once, not after the request timeout (4 s) of a kept-alive connection
	r=$($ATK raw "$PORT" "${t#*:}" 2)
	case $(kv status "$r")/$(kv eof "$r") in
	4[0-9][0-9]/1) ok "B19: ${t%%:*}: refused and closed ($r)" ;;
	*) not_ok "B19: ${t%%:*}: $r" ;;
	esac
done

# B13: a body that stops coming
r=$($ATK slowbody "$PORT")
s=$(kv closed_after "$r")
check "B13: a body that stops coming is dropped after the request timeout (${s} s, timeout 4)" \
	awk -v s="$s" 'BEGIN { exit !(s >= 3 && s <= 10) }'

# B12: slowloris
$ATK slowloris "$PORT" 300 8 >"$tmp/loris" &
LP=$!
BG="$BG $LP"
sleep 2
worst=0
fails=0
for _ in 1 2 3 4 5; do
	t=$(curl -s -m 10 -o /dev/null -w '%{http_code} %{time_total}' "$URL/v1/models")
	[ "${t% *}" = 200 ] || fails=$((fails + 1))
	worst=$(awk -v a="$worst" -v b="${t#* }" 'BEGIN { print (b > a ? b : a) }')
	sleep 0.5
done
wait "$LP"
# the head has a deadline of its own (the request timeout, 4 s here), not
# one per read: a connection dripping a byte a second is gone by the end
check "B12: 300 connections dripping their headers for 8 s are all dropped at the 4 s head deadline ($(cat "$tmp/loris"))" \
	[ "$(kv open "$(cat "$tmp/loris")")" = 0 ]
check "B12: with 300 slowloris connections, other clients are served (5/5: $fails failed, worst ${worst} s)" \
	sh -c '[ "$1" -eq 0 ] && awk -v w="$2" "BEGIN { exit !(w < 3) }"' _ "$fails" "$worst"

# B20/B34: the backend fails before answering
c=$(post /v1/completions '{"model":"early","prompt":"x","max_tokens":3}')
check "B20: a backend that dies before answering: 502 with the reason: $(head -c 100 "$tmp/body")" \
	sh -c '[ "$1" = 502 ] && grep -q "\"error\"" "$2"' _ "$c" "$tmp/body"
for st in false true; do
	c=$(post /v1/completions "{\"model\":\"garbage\",\"prompt\":\"x\",\"max_tokens\":3,\"stream\":$st}")
	check "B34: a backend that answers garbage (stream $st): 502" [ "$c" = 502 ]
done
# B21: mid-stream
for m in dies badchunk; do
	r=$($ATK stream "$PORT" /v1/completions "{\"model\":\"$m\",\"prompt\":\"x\",\"max_tokens\":10,\"stream\":true}")
	check "B21: SSE, backend $m mid-stream: an error event, no [DONE], no last chunk, closed ($r)" \
		[ "$(kv status "$r")/$(kv error "$r")/$(kv 'done' "$r")/$(kv last_chunk "$r")/$(kv eof "$r")" = 200/1/0/0/1 ]
done
r=$($ATK stream "$PORT" /api/generate '{"model":"dies","prompt":"x"}')
check "B21: Ollama NDJSON, backend dies mid-stream: an error line, no done:true, no last chunk ($r)" \
	[ "$(kv status "$r")/$(kv error "$r")/$(kv 'done' "$r")/$(kv last_chunk "$r")/$(kv eof "$r")" = 200/1/0/0/1 ]
curl -sN -m 30 -o /dev/null "$URL/v1/completions" -H 'Content-Type: application/json' \
	-d '{"model":"dies","prompt":"x","max_tokens":10,"stream":true}'
rc=$?
check "B21: curl reports the cut stream (exit $rc: 18 = partial transfer)" [ "$rc" -eq 18 ]
r=$($ATK stream "$PORT" /v1/completions '{"model":"ok","prompt":"x","max_tokens":10,"stream":true}')
check "B21: a complete stream still ends normally ($r)" \
	[ "$(kv 'done' "$r")/$(kv last_chunk "$r")" = 1/1 ]
check "after the backend faults: the daemon serves" chat_ok

# B40: the backend's own key
post /v1/completions '{"model":"ok","prompt":"x","max_tokens":1}' >/dev/null
bpid=$(sget ok pid)
bport=$(sget ok port)
if [ -n "$bpid" ] && [ -r "/proc/$bpid/cmdline" ]; then
	check "B40: the backend's key is not on its command line (ps shows it to every user)" \
		sh -c '! tr "\0" "\n" <"/proc/$1/cmdline" | grep -q -- "--api-key"' _ "$bpid"
	check "B40: ... it is in its environment" grep -q LLAMA_API_KEY= "/proc/$bpid/environ"
	check "the backend's environment has no memory option of the daemon's (LLAMA_ARG_CTX_SIZE, _CACHE_TYPE_K, _FIT_TARGET), and the others (LLAMA_ARG_THREADS_HTTP)" \
		sh -c '! tr "\0" "\n" <"/proc/$1/environ" | grep -Eq "^LLAMA_ARG_(CTX_SIZE|CACHE_TYPE_K|FIT_TARGET)=" &&
			tr "\0" "\n" <"/proc/$1/environ" | grep -q "^LLAMA_ARG_THREADS_HTTP=3$"' _ "$bpid"
	# (one the daemon was given is kept)
	check "the backend numbers GPUs as the plan does (CUDA_DEVICE_ORDER=PCI_BUS_ID)" \
		sh -c 'tr "\0" "\n" <"/proc/$1/environ" | grep -qx "CUDA_DEVICE_ORDER=$2"' _ "$bpid" \
		"${CUDA_DEVICE_ORDER:-PCI_BUS_ID}"
	c=$(code -H 'Content-Type: application/json' "http://127.0.0.1:$bport/v1/completions" -d '{"prompt":"x"}')
	check "B40: the backend's port refuses a request without its key: $c" [ "$c" = 401 ]
else
	skip "B40: no backend pid in the status"
fi

# B28: process groups
for m in stubborn orphaner; do
	post /v1/completions "{\"model\":\"$m\",\"prompt\":\"x\",\"max_tokens\":1}" >/dev/null
	nb=$(of_model "$m.gguf" | wc -l)
	post /models/unload "{\"model\":\"$m\"}" >/dev/null
	check "B28: $m (ignores SIGTERM itself or in a child; $nb processes): none left 3 s after the unload" \
		wait_for 4 none_of "$m.gguf"
done

# B30: the port taken
c=$(post /v1/completions '{"model":"bindfail","prompt":"x","max_tokens":1}')
check "B30: a backend whose port was taken: started again, served ($c)" [ "$c" = 200 ]
check "B30: ... not counted as a crash or a failure" \
	[ "$(sget bindfail crashes)/$(sget bindfail failures)" = 0/0 ]

# a preset with more arguments than a backend's command line takes: refused
# with the reason, not cut short (a flag kept without its value)
c=$(post /v1/completions '{"model":"manyargs","prompt":"x","max_tokens":1}')
check "a preset with 92 llama-server arguments: refused with the reason ($c: $(head -c 120 "$tmp/body"))" \
	sh -c '[ "$1" -ge 400 ] && grep -q "92 arguments; llmem passes at most" "$2"' _ "$c" "$tmp/body"

check "daemon F still serves after every case" chat_ok
kill -TERM "$F"
serve_wait_exit "$F" 15 || kill -KILL "$F"
check "daemon F left no backend" wait_for 5 no_backends

# ---- B16, B17: daemon Q, one slot, one model loaded at a time ----
if serve_start "$tmp/q.log" --models-preset "$tmp/f.ini" --backend "$FAKE" -c 512 --max-queue 1 --max-loaded 1; then
	Q=$DPID
	slow='{"model":"one","prompt":"x","max_tokens":60,"fake_delay":0.1,"stream":true}'
	curl -sN -m 60 -o "$tmp/q1.out" -H 'Content-Type: application/json' "$URL/v1/completions" -d "$slow" &
	Q1=$!
	BG="$BG $Q1"
	wait_for 20 sh -c '[ -s "$1" ]' _ "$tmp/q1.out"
	curl -s -m 60 -o "$tmp/q2.out" -H 'Content-Type: application/json' "$URL/v1/completions" \
		-d '{"model":"one","prompt":"x","max_tokens":1}' &
	Q2=$!
	BG="$BG $Q2"
	if wait_for 5 field_is one queued 1; then
		curl -s -m 10 -D "$tmp/h" -o "$tmp/body" -H 'Content-Type: application/json' "$URL/v1/completions" \
			-d '{"model":"one","prompt":"x","max_tokens":1}'
		check "B16: a full queue: 503 with Retry-After ($(grep -i retry-after "$tmp/h" | tr -d '\r'))" \
			sh -c 'grep -q "^HTTP/1.1 503" "$1" && grep -qi "^retry-after: [0-9]" "$1"' _ "$tmp/h"
	else
		not_ok "B16: the second request is not queued"
	fi
	# B17: a request for another model waits (one model at a time, one
	# busy); its client leaves
	curl -s -m 60 -o /dev/null -H 'Content-Type: application/json' "$URL/v1/completions" \
		-d '{"model":"other","prompt":"x","max_tokens":1}' &
	Q3=$!
	BG="$BG $Q3"
	if wait_for 5 field_is other queued 1; then
		kill -TERM "$Q3"
		check "B17: a queued request whose client left is dequeued" wait_for 3 field_is other queued 0
		wait "$Q1" 2>/dev/null
		wait "$Q2" 2>/dev/null
		sleep 1
		check "B17: ... and its model is never loaded (loads $(sget other loads), state $(sget other state))" \
			[ "$(sget other loads)/$(test -e "$M/other.gguf.requests" && echo asked)" = 0/ ]
	else
		not_ok "B17: the request for another model is not queued"
	fi
	kill -TERM "$Q"
	serve_wait_exit "$Q" 15 || kill -KILL "$Q"
else
	not_ok "daemon Q did not start"
fi

# ---- B4, B39: daemon K with an API key ----
KEY=k3y-$$-never-logged
if serve_start "$tmp/k.log" --models-preset "$tmp/f.ini" --backend "$FAKE" -c 512 --api-key "$KEY"; then
	K=$DPID
	c=$(code "$URL/health")
	check "B4: /health needs no key: $c" [ "$c" = 200 ]
	c=$(post /v1/completions '{"model":"ok","prompt":"x"}' -H 'Authorization: Bearer wrong-key-abc')
	check "B4: a wrong key: 401 OpenAI-shaped" \
		sh -c '[ "$1" = 401 ] && grep -q "\"type\":\"authentication_error\"" "$2"' _ "$c" "$tmp/body"
	c=$(post /api/generate '{"model":"ok","prompt":"x"}')
	check "B4: no key on /api: 401 Ollama-shaped" sh -c '[ "$1" = 401 ] && grep -q "^{\"error\":\"" "$2"' _ "$c" "$tmp/body"
	c=$(code -H "Authorization: Bearer ${KEY}x" "$URL/v1/models")
	check "B4: the key with a byte more: 401" [ "$c" = 401 ]
	c=$(post /v1/completions '{"model":"ok","prompt":"PROMPT-MARKER-'$$'","max_tokens":1}' -H "Authorization: Bearer $KEY")
	check "B4: the key: 200" [ "$c" = 200 ]
	# a browser's preflight carries no credentials: answered without the
	# key for an allowed Origin, refused for another; the request it
	# clears still needs the key
	c=$(curl -s -m 10 -o /dev/null -D "$tmp/h" -w '%{http_code}' -X OPTIONS -H 'Origin: http://localhost:3000' \
		-H 'Access-Control-Request-Method: POST' -H 'Access-Control-Request-Headers: authorization, content-type' \
		"$URL/v1/chat/completions")
	check "B4: a preflight from an allowed Origin needs no key: $c, the Origin and Authorization allowed" \
		sh -c '[ "$1" = 204 ] && grep -qi "^access-control-allow-origin: http://localhost:3000" "$2" &&
			grep -qi "^access-control-allow-headers:.*authorization" "$2"' _ "$c" "$tmp/h"
	c=$(code -X OPTIONS -H 'Origin: https://evil.example' -H 'Access-Control-Request-Method: POST' "$URL/v1/chat/completions")
	check "B4: ... from a foreign Origin: $c" [ "$c" = 403 ]
	c=$(post /v1/chat/completions '{"model":"ok","messages":[{"role":"user","content":"x"}]}' -H 'Origin: http://localhost:3000')
	check "B4: ... and the request it clears, without the key: $c" [ "$c" = 401 ]
	post /v1/completions '{"model":"no-such","prompt":"PROMPT-MARKER-'$$'"}' -H "Authorization: Bearer $KEY" >/dev/null
	kill -TERM "$K"
	serve_wait_exit "$K" 15 || kill -KILL "$K"
	check "B4: the key is not in the daemon's output" sh -c '! grep -q -e "$1" -e wrong-key-abc "$2"' _ "$KEY" "$tmp/k.log"
	check "B39: no prompt in the daemon's output" sh -c '! grep -q "PROMPT-MARKER" "$1"' _ "$tmp/k.log"
else
	not_ok "daemon K did not start"
fi

# ---- B15: a connection flood past the descriptor limit ----
PORT=$(free_port)
URL="http://127.0.0.1:$PORT"
# shellcheck disable=SC3045 # dash, bash and busybox sh have ulimit -n
(ulimit -n 64 && exec "$LLMEM" serve --port "$PORT" --models-preset "$tmp/f.ini" --backend "$FAKE" -c 512) \
	>"$tmp/l.log" 2>&1 &
L=$!
DAEMONS="$DAEMONS $L"
if wait_for 20 curl -s -m 1 -o /dev/null "$URL/health"; then
	cpu0=$(awk '{print $14 + $15}' "/proc/$L/stat")
	r=$($ATK flood "$PORT" 150 3)
	cpu1=$(awk '{print $14 + $15}' "/proc/$L/stat")
	check "B15: 150 connections against a limit of 64 descriptors ($r): the daemon stays up" alive "$L"
	check "B15: ... and quiet: one line in its log, not one per accept() ($(grep -c 'accept' "$tmp/l.log") lines)" \
		[ "$(grep -c 'accept' "$tmp/l.log")" -le 2 ]
	check "B15: ... not spinning ($(((cpu1 - cpu0) * 10)) ms of CPU in 3 s)" [ $((cpu1 - cpu0)) -le 100 ]
	check "B15: once they close, /health answers" wait_for 3 curl -sf -m 1 -o /dev/null "$URL/health"
	check "B15: ... and a model serves" chat_ok
	kill -TERM "$L"
	serve_wait_exit "$L" 15 || kill -KILL "$L"
else
	not_ok "B15: the daemon with 64 descriptors did not start: $(tail -2 "$tmp/l.log")"
fi

# ---- B33: a model that cannot fit even alone ----
small=$("$LLMEM" estimate "$M/ok.gguf" -c 512 --gpu 4GiB --json 2>/dev/null | "$GET" /dev/stdin devices/0/total)
printf '[ok]\nmodel = %s/ok.gguf\n[huge]\nmodel = %s/huge.gguf\n' "$M" "$M" >"$tmp/c.ini"
# a small GPU of its own: the same plan on any machine
if serve_start "$tmp/c.log" --models-preset "$tmp/c.ini" --backend "$FAKE" -c 512 --gpu 4GiB \
	--budget $((small * 4)) --no-pressure; then
	C=$DPID
	chat_ok || note "B33: ok did not serve: $(head -c 300 "$tmp/body")"
	t0=$(date +%s)
	c=$(post /v1/completions '{"model":"huge","prompt":"x","max_tokens":1}')
	el=$(($(date +%s) - t0))
	check "B33: a model over the budget alone: refused at once ($c in ${el} s: $(head -c 120 "$tmp/body"))" \
		sh -c '[ "$1" = 503 ] && [ "$2" -le 5 ]' _ "$c" "$el"
	check "B33: ... nothing was evicted for it (ok loaded, evictions 0)" \
		[ "$(sget ok state)/$(sget ok evictions)" = ready/0 ]
	kill -TERM "$C"
	serve_wait_exit "$C" 15 || kill -KILL "$C"
else
	not_ok "daemon C did not start"
fi

# ---- B24: a backend hung mid-answer ----
if serve_start "$tmp/h.log" --models-preset "$tmp/f.ini" --backend "$FAKE" -c 512 --stall-timeout 3s --load-timeout 10s; then
	# slow but alive: a byte every 1.5 s is progress, not a hang
	c=$(post /v1/completions '{"model":"other","prompt":"x","max_tokens":4,"stream":true,"fake_delay":1.5}')
	check "B24: a slow stream (an event every 1.5 s, 6 s in all) is not killed ($c)" \
		sh -c '[ "$1" = 200 ] && grep -q "\[DONE\]" "$2"' _ "$c" "$tmp/body"
	t0=$(date +%s)
	c=$(post /v1/completions '{"model":"hangs","prompt":"x","max_tokens":4,"stream":true}')
	t1=$(date +%s)
	check "B24: a stream that stops: an error event within the stall timeout ($c after $((t1 - t0)) s)" \
		sh -c '[ "$1" = 200 ] && [ "$2" -le 8 ] && grep -q "\"error\"" "$3" && ! grep -q "\[DONE\]" "$3"' \
		_ "$c" "$((t1 - t0))" "$tmp/body"
	reason=$(sget hangs reason)
	check "B24: ... the status says it hung ($(echo "$reason" | head -c 120))" \
		sh -c 'echo "$1" | grep -q "hung"' _ "$reason"
	wait_for 10 none_of hangs
	check "B24: ... and the hung backend is gone" none_of hangs
	t0=$(date +%s)
	c=$(post /v1/completions '{"model":"hangs","prompt":"x","max_tokens":4}')
	t1=$(date +%s)
	check "B24: not streamed, nothing sent: an error within the stall timeout ($c after $((t1 - t0)) s)" \
		sh -c '[ "$1" -ge 500 ] && [ "$2" -le 8 ]' _ "$c" "$((t1 - t0))"
	# a backend that computes in silence: alive while its main loop
	# answers GET /slots, hung when it does not (spinning: CPU time is
	# no proof then); the stall timeout is 3 s, the probe's 9 s
	t0=$(date +%s)
	c=$(post /v1/completions '{"model":"crunch","prompt":"x","max_tokens":2,"fake_spin":8}')
	t1=$(date +%s)
	check "B24: 8 s of silent computation while GET /slots answers is not killed ($c after $((t1 - t0)) s)" \
		sh -c '[ "$1" = 200 ] && [ "$2" -ge 7 ]' _ "$c" "$((t1 - t0))"
	t0=$(date +%s)
	c=$(post /v1/completions '{"model":"spins","prompt":"x","max_tokens":2}')
	t1=$(date +%s)
	check "B24: spinning a CPU with GET /slots unanswered: an error after the probe's timeout ($c after $((t1 - t0)) s)" \
		sh -c '[ "$1" -ge 500 ] && [ "$2" -ge 9 ] && [ "$2" -le 20 ]' _ "$c" "$((t1 - t0))"
	reason=$(sget spins reason)
	check "B24: ... the status says why ($(echo "$reason" | head -c 140))" \
		sh -c 'echo "$1" | grep -q "GET /slots"' _ "$reason"
	# B25: a load that stalls is killed within the stall timeout, not
	# after --load-timeout (10 s here); one that keeps logging is not
	t0=$(date +%s)
	c=$(post /v1/completions '{"model":"loadslow","prompt":"x","max_tokens":2}')
	t1=$(date +%s)
	check "B25: a slow load that keeps logging (5 s, stall timeout 3 s) is served ($c after $((t1 - t0)) s)" \
		sh -c '[ "$1" = 200 ] && [ "$2" -ge 4 ]' _ "$c" "$((t1 - t0))"
	t0=$(date +%s)
	c=$(post /v1/completions '{"model":"loadhang","prompt":"x","max_tokens":2}')
	t1=$(date +%s)
	reason=$(sget loadhang reason)
	check "B25: a load that stalls: the request gets an error within three stall timeouts and their backoff ($c after $((t1 - t0)) s)" \
		sh -c '[ "$1" -ge 500 ] && [ "$2" -le 60 ]' _ "$c" "$((t1 - t0))"
	check "B25: ... the status says it stalled while loading ($(echo "$reason" | head -c 120))" \
		sh -c 'echo "$1" | grep -q "stalled while loading"' _ "$reason"
	wait_for 10 none_of loadhang
	check "B25: ... and no stalled backend is left" none_of loadhang
	# B30: a responder on the port is trusted only once the child it
	# started said it listens there
	# (our health polls keep it busy, so it is the load timeout that ends it)
	c=$(post /v1/completions '{"model":"nolisten","prompt":"x","max_tokens":2}' -m 90)
	nreq=$(grep -c . "$M/nolisten.gguf.requests" 2>/dev/null || true)
	check "B30: a responder that answers /health but never said it listens on the port gets no request ($c, ${nreq:-0} forwarded)" \
		sh -c '[ "$1" -ge 500 ] && [ "${2:-0}" = 0 ]' _ "$c" "$nreq"
	wait_for 10 none_of nolisten
	kill -TERM "$DPID"
	serve_wait_exit "$DPID" 10 || kill -KILL "$DPID"
else
	not_ok "daemon H did not start"
fi

# ---- B36: the model file truncated after it was served (real llama-server) ----
if [ -z "$LLAMA_SERVER" ] || [ ! -f "$VOCAB_DIR/ggml-vocab-llama-bpe.gguf" ]; then
	skip "B36: no llama.cpp build (run scripts/build-llama.sh)"
else
	mkdir -p "$tmp/real"
	synth "$tmp/real/tiny.gguf" 2 || not_ok "B36: gguf-synth failed"
	# and a preset's model whose file is not there yet (a download)
	printf '[later]\nmodel = %s\n' "$tmp/later.gguf" >"$tmp/later.ini"
	if serve_start "$tmp/r.log" --models-dir "$tmp/real" --models-preset "$tmp/later.ini" \
		--backend "$LLAMA_SERVER" -c 512; then
		R=$DPID
		c=$(post /v1/completions '{"model":"tiny","prompt":"x","max_tokens":1}')
		check "B36: the model serves first ($c)" [ "$c" = 200 ]
		p1=$(sget tiny predicted_total)
		nl1=$(sget tiny n_layer)
		post /models/unload '{"model":"tiny"}' >/dev/null
		wait_for 10 field_is tiny state unloaded
		# replaced by a bigger model under the same name: planned from
		# the new header, not the one read first
		synth "$tmp/real/tiny.new" 4 && mv "$tmp/real/tiny.new" "$tmp/real/tiny.gguf"
		c=$(post /v1/completions '{"model":"tiny","prompt":"x","max_tokens":1}')
		p2=$(sget tiny predicted_total)
		nl2=$(sget tiny n_layer)
		check "B36: replaced by a 4-layer model: served ($c), planned from its header (layers $nl1 -> $nl2, predicted $p1 -> $p2)" \
			sh -c '[ "$1" = 200 ] && [ "$2" -eq $(($3 + 2)) ] && [ "$4" -gt "$5" ]' _ "$c" "$nl2" "$nl1" "$p2" "$p1"
		post /models/unload '{"model":"tiny"}' >/dev/null
		wait_for 10 field_is tiny state unloaded
		truncate -s $(($(wc -c <"$tmp/real/tiny.gguf") / 2)) "$tmp/real/tiny.gguf"
		c=$(post /v1/completions '{"model":"tiny","prompt":"x","max_tokens":1}')
		check "B36: truncated: the request gets an error with the reason ($c: $(head -c 160 "$tmp/body"))" \
			sh -c '[ "$1" -ge 400 ] && grep -qi "load\|bounds\|corrupt\|truncated" "$2"' _ "$c" "$tmp/body"
		reason=$(sget tiny reason)
		check "B36: ... the status says why ($(echo "$reason" | head -c 100))" \
			sh -c 'echo "$1" | grep -qi "load\|bounds\|corrupt\|truncated"' _ "$reason"
		c=$(post /v1/completions '{"model":"later","prompt":"x","max_tokens":1}')
		check "B36: a model file not there yet: an error ($c)" [ "$c" -ge 400 ]
		synth "$tmp/later.new" 2 && mv "$tmp/later.new" "$tmp/later.gguf"
		c=$(post /v1/completions '{"model":"later","prompt":"x","max_tokens":1}')
		check "B36: ... served once the file is there ($c: $(head -c 160 "$tmp/body"))" [ "$c" = 200 ]
		kill -TERM "$R"
		serve_wait_exit "$R" 15 || kill -KILL "$R"
	else
		not_ok "daemon R did not start"
	fi
fi
check "no backend left at the end" wait_for 5 no_backends
