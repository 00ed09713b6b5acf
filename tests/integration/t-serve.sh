#!/bin/sh
# t-serve.sh: `llmem serve` end to end: the real llama-server (built by
# scripts/build-llama.sh), tiny synthesized models, the official openai and
# ollama npm clients (scripts/setup-clients.sh), the CLI clients (ps, load,
# unload), and the request checks (404, 400, 413, Host, Origin, API key).
set -u
BUILD=${BUILD:-build}
LLMEM=${LLMEM:-$PWD/$BUILD/llmem}
TOOLS=${TOOLS:-$PWD/$BUILD/tools}
CACHE=${LLMEM_CACHE:-$HOME/.cache/llmem}
CLIENTS=$CACHE/npm-clients
n=0
ok() { n=$((n + 1)); echo "ok $n - $*"; }
not_ok() { n=$((n + 1)); echo "not ok $n - $*"; }
skip() { n=$((n + 1)); echo "ok $n # SKIP $*"; }
check() { # check DESCRIPTION COMMAND...
	d=$1
	shift
	if "$@"; then ok "$d"; else not_ok "$d"; fi
}

bin=""
src=""
if [ -f "$CACHE/peers.env" ]; then
	# shellcheck disable=SC1091
	. "$CACHE/peers.env"
	[ -x "$CACHE/llama-bin-${LLAMA_CPP_COMMIT:-none}/llama-server" ] &&
		bin="$CACHE/llama-bin-$LLAMA_CPP_COMMIT/llama-server"
	src=${LLMEM_PEERS_SRC:-}
fi
if [ -z "$bin" ] || [ ! -f "$src/models/ggml-vocab-llama-bpe.gguf" ]; then
	skip "llama-server not built (run scripts/build-llama.sh)"
	exit 0
fi

tmp=$(mktemp -d)
pids=""
cleanup() {
	for p in $pids; do kill "$p" 2>/dev/null; done
	sleep 0.3
	for p in $pids; do kill -9 "$p" 2>/dev/null; done
	rm -rf "$tmp"
}
trap cleanup EXIT INT TERM

free_port() {
	python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'
}
wait_health() { # port
	i=0
	while [ $i -lt 100 ]; do
		curl -s -o /dev/null "http://127.0.0.1:$1/health" && return 0
		sleep 0.1
		i=$((i + 1))
	done
	return 1
}
code() { # curl ARGS...: prints the HTTP status
	curl -s -o "$tmp/body" -w '%{http_code}' --max-time 120 "$@"
}

mkdir -p "$tmp/models"
"$TOOLS/gguf-synth" --shape llama-3.2-1b --layers 4 --embd 512 --ff 1536 --heads 8 --kv-heads 2 \
	--vocab-from "$src/models/ggml-vocab-llama-bpe.gguf" "$tmp/models/tiny-chat.gguf" >/dev/null 2>&1 ||
	{ not_ok "gguf-synth"; exit 1; }
# a LoRA adapter for it (outside the models dir: not a model)
"$TOOLS/lora-synth" "$tmp/models/tiny-chat.gguf" --rank 64 --targets attn_q,attn_v,ffn_up,ffn_down \
	"$tmp/tiny-lora.gguf" || { not_ok "lora-synth"; exit 1; }
# a chat template that takes tools and a thinking switch (Gemma 4's):
# /api/show's capabilities
"$TOOLS/gguf-synth" --shape llama-3.2-1b --layers 2 --embd 256 --ff 768 --heads 4 --kv-heads 2 \
	--vocab-from "$src/models/ggml-vocab-gemma-4.gguf" "$tmp/models/tiny-tools.gguf" >/dev/null 2>&1 ||
	{ not_ok "gguf-synth"; exit 1; }
# embeddings need real numbers: data, not a hole (--random)
"$TOOLS/gguf-synth" --shape llama-3.2-1b --layers 2 --embd 256 --ff 768 --heads 4 --kv-heads 2 \
	--ftype q8_0 --random 1 --vocab-from "$src/models/ggml-vocab-llama-bpe.gguf" "$tmp/tiny-emb.gguf" >/dev/null 2>&1 ||
	{ not_ok "gguf-synth"; exit 1; }
cat >"$tmp/preset.ini" <<INI
; an embedding model beside the models of --models-dir
[*]
ctx-size = 2048

[tiny-emb]
model = $tmp/tiny-emb.gguf
embeddings = true
pooling = mean
override-tensor = token_embd=CPU
reverse-prompt = c

; a projector: vision (never loaded here)
[tiny-vision]
model = $tmp/models/tiny-chat.gguf
mmproj = $tmp/tiny-emb.gguf

; ... turned off
[tiny-vision-off]
model = $tmp/models/tiny-chat.gguf
mmproj = $tmp/tiny-emb.gguf
no-mmproj = true

; a draft model for speculative decoding (the same small model)
[tiny-draft]
model = $tmp/models/tiny-chat.gguf
model-draft = $tmp/models/tiny-chat.gguf

; a LoRA adapter
[tiny-lora]
model = $tmp/models/tiny-chat.gguf
lora = $tmp/tiny-lora.gguf

; a chat template from a file, which takes tools (never loaded here)
[tiny-template]
model = $tmp/models/tiny-chat.gguf
chat-template-file = $tmp/tools.jinja
INI
cat >"$tmp/tools.jinja" <<'JINJA'
{%- if tools %}{{ tools | tojson }}{% endif %}{% for m in messages %}{{ m.content }}{% endfor %}
JINJA

port=$(free_port)
"$LLMEM" serve --port "$port" --models-dir "$tmp/models" --models-preset "$tmp/preset.ini" \
	--backend "$bin" --request-timeout 3 >"$tmp/serve.log" 2>&1 &
pids="$!"
serve_pid=$!
if wait_health "$port"; then ok "serve answers /health"; else
	not_ok "serve answers /health"
	sed 's/^/# /' "$tmp/serve.log"
	exit 1
fi
base="http://127.0.0.1:$port"

# --- the official clients ---
if [ -f "$CLIENTS/node_modules/openai/package.json" ] && [ -f "$CLIENTS/node_modules/ollama/package.json" ]; then
	node tests/integration/serve-clients.mjs "$base" tiny-chat tiny-emb "$CLIENTS" 2>&1 |
		sed -e "s/^ok - /ok - client: /" -e "s/^not ok - /not ok - client: /"
else
	skip "openai/ollama npm clients not installed (run scripts/setup-clients.sh)"
fi

# --- llmem's own clients ---
out=$(LLMEM_HOST="127.0.0.1:$port" "$LLMEM" load tiny-chat 2>&1)
check "llmem load loads the model" test "$out" = "loaded tiny-chat"
out=$(LLMEM_HOST="127.0.0.1:$port" "$LLMEM" ps 2>&1)
echo "$out" | sed 's/^/# /'
check "llmem ps shows it, on the CPU, with its context" \
	sh -c 'echo "$1" | grep -q "^tiny-chat .*100% CPU *2048 "' _ "$out"
check "llmem ps has ollama's columns" sh -c 'echo "$1" | head -1 | grep -q "NAME.*SIZE.*PROCESSOR.*CONTEXT.*UNTIL"' _ "$out"
out=$(LLMEM_HOST="127.0.0.1:$port" "$LLMEM" unload tiny-chat 2>&1)
check "llmem unload answers" test "$out" = "unloading tiny-chat"
i=0
while [ $i -lt 50 ] && LLMEM_HOST="127.0.0.1:$port" "$LLMEM" ps | grep -q '^tiny-chat'; do sleep 0.1; i=$((i + 1)); done
check "llmem unload unloads" test $i -lt 50
LLMEM_HOST="127.0.0.1:$port" "$LLMEM" load no-such-model >/dev/null 2>&1
check "llmem load of an unknown model exits 2" test $? -eq 2

# --- /api/show: Ollama's Go client reads modified_at as RFC 3339 and
# refuses anything else, "" included ---
c=$(code -X POST "$base/api/show" -d '{"model":"tiny-chat"}')
check "/api/show has modified_at in RFC 3339 ($("$TOOLS/json-get" "$tmp/body" modified_at))" \
	sh -c '[ "$1" = 200 ] && "$2" "$3" modified_at | grep -Eq "^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}"' \
	_ "$c" "$TOOLS/json-get" "$tmp/body"

# --- /api/show's capabilities, as Ollama infers them: from the chat
# template (tools, thinking), --embeddings, --mmproj ---
caps() { # model: its capabilities, comma-separated
	c=$(code -X POST "$base/api/show" -d "{\"model\":\"$1\"}")
	[ "$c" = 200 ] || { echo "HTTP $c"; return; }
	python3 -c 'import json, sys; print(",".join(json.load(open(sys.argv[1]))["capabilities"]))' "$tmp/body"
}
out=$(caps tiny-chat)
check "/api/show: a template-less model can complete, nothing more ($out)" test "$out" = completion
out=$(caps tiny-tools)
check "/api/show: Gemma 4's template takes tools and thinks ($out)" test "$out" = completion,tools,thinking
out=$(caps tiny-emb)
check "/api/show: the --embeddings model embeds ($out)" test "$out" = embedding
out=$(caps tiny-vision)
check "/api/show: a model with a projector sees ($out)" test "$out" = completion,vision
out=$(caps tiny-vision-off)
check "/api/show: ... not with no-mmproj ($out)" test "$out" = completion
out=$(caps tiny-template)
check "/api/show: the template of chat-template-file counts, not the file's ($out)" test "$out" = completion,tools

# --- the llama.cpp router's endpoints ---
c=$(code -X POST "$base/models/load" -d '{"model":"tiny-chat"}')
check "POST /models/load answers 200 once loaded" test "$c" = 200
c=$(code "$base/models")
check "GET /models lists the model as loaded" sh -c '[ "$1" = 200 ] && grep -q "\"id\":\"tiny-chat\"[^}]*\"status\":{\"value\":\"loaded\"" "$2"' _ "$c" "$tmp/body"
c=$(code "$base/llmem/status")
check "the status has the prediction and the measured footprint" \
	sh -c '[ "$1" = 200 ] && grep -q "\"predicted_total\"" "$2" && grep -q "\"measured_total\"" "$2"' _ "$c" "$tmp/body"
pred=$("$TOOLS/json-get" "$tmp/body" models/name=tiny-chat/predicted_total)
meas=$("$TOOLS/json-get" "$tmp/body" models/name=tiny-chat/measured_total)
check "measured footprint within 1% of the prediction ($meas vs $pred)" \
	awk -v a="$meas" -v b="$pred" 'BEGIN { d = a - b; if (d < 0) d = -d; exit !(b > 0 && d <= b / 100) }'

# --- the preset's options reach llama-server once each ---
c=$(code -X POST "$base/models/load" -d '{"model":"tiny-emb"}')
code "$base/llmem/status" >/dev/null
epid=$("$TOOLS/json-get" "$tmp/body" models/name=tiny-emb/pid)
eargs=$(tr '\0' ' ' <"/proc/${epid:-0}/cmdline" 2>/dev/null)
echo "# tiny-emb: $eargs"
check "the backend gets the preset's options, each once (--embeddings, --pooling mean, -c 2048, -ot; a value "c" is not -c)" \
	sh -c '[ "$1" = 200 ] && [ "$(echo "$2" | grep -o -- "--embeddings" | wc -l)" = 1 ] &&
		[ "$(echo "$2" | grep -o -- "-ot token_embd=CPU" | wc -l)" = 1 ] &&
		[ "$(echo "$2" | grep -o -- "--reverse-prompt c " | wc -l)" = 1 ] &&
		[ "$(echo "$2" | grep -o -- "--pooling mean" | wc -l)" = 1 ] &&
		[ "$(echo "$2" | grep -o -- " -c 2048" | wc -l)" = 1 ]' _ "$c" "$eargs"

# load_preset NAME: loads it; sets c (the status), mpred and mmeas (the
# plan's total and what the backend reported), margs (its command line)
load_preset() {
	c=$(code -X POST "$base/models/load" -d "{\"model\":\"$1\"}")
	code "$base/llmem/status" >/dev/null
	mpid=$("$TOOLS/json-get" "$tmp/body" "models/name=$1/pid")
	mpred=$("$TOOLS/json-get" "$tmp/body" "models/name=$1/predicted_total")
	mmeas=$("$TOOLS/json-get" "$tmp/body" "models/name=$1/measured_total")
	margs=$(tr '\0' ' ' <"/proc/${mpid:-0}/cmdline" 2>/dev/null)
	echo "# $1: $margs"
}
# --- a draft model: the backend gets it, the plan counts it ---
load_preset tiny-draft
check "a preset's model-draft reaches the backend once, and the plan counts it ($mpred B against tiny-chat's $pred)" \
	sh -c '[ "$1" = 200 ] && [ "$(echo "$2" | grep -o -- "--model-draft " | wc -l)" = 1 ] &&
		[ "$(echo "$2" | grep -o -- " -ngld " | wc -l)" -le 1 ] &&
		awk -v a="$3" -v b="$4" "BEGIN { exit !(a > b * 1.5) }"' _ "$c" "$margs" "${mpred:-0}" "${pred:-0}"
check "... and its measured footprint is within 2% of that ($mmeas vs $mpred)" \
	awk -v a="$mmeas" -v b="$mpred" 'BEGIN { d = a - b; if (d < 0) d = -d; exit !(b > 0 && d <= b / 50) }'
code -X POST "$base/models/unload" -d '{"model":"tiny-draft"}' >/dev/null
# --- a LoRA adapter: the backend gets it, the plan counts it ---
load_preset tiny-lora
check "a preset's lora reaches the backend once, and the plan counts it ($mpred B against tiny-chat's $pred)" \
	sh -c '[ "$1" = 200 ] && [ "$(echo "$2" | grep -o -- "--lora [^ ]*tiny-lora.gguf" | wc -l)" = 1 ] &&
		awk -v a="$3" -v b="$4" "BEGIN { exit !(a > b + 2000000) }"' _ "$c" "$margs" "${mpred:-0}" "${pred:-0}"
check "... and its measured footprint is within 2% of that ($mmeas vs $mpred)" \
	awk -v a="$mmeas" -v b="$mpred" 'BEGIN { d = a - b; if (d < 0) d = -d; exit !(b > 0 && d <= b / 50) }'
code -X POST "$base/models/unload" -d '{"model":"tiny-lora"}' >/dev/null
# a projector the preset turns off is not given to the backend (which
# would load it anyway) nor counted
c=$(code -X POST "$base/models/load" -d '{"model":"tiny-vision-off"}')
code "$base/llmem/status" >/dev/null
vpid=$("$TOOLS/json-get" "$tmp/body" models/name=tiny-vision-off/pid)
vpred=$("$TOOLS/json-get" "$tmp/body" models/name=tiny-vision-off/predicted_total)
vargs=$(tr '\0' ' ' <"/proc/${vpid:-0}/cmdline" 2>/dev/null)
check "no-mmproj: the backend gets no --mmproj, the plan counts none ($vpred B, as tiny-chat's $pred)" \
	sh -c '[ "$1" = 200 ] && [ -n "$2" ] && ! echo "$2" | grep -q -- "--mmproj " && [ "$3" = "$4" ]' _ \
	"$c" "$vargs" "$vpred" "$pred"
code -X POST "$base/models/unload" -d '{"model":"tiny-vision-off"}' >/dev/null
code "$base/llmem/status" >/dev/null

# --- keep-alive to the backend: sequential requests share a connection ---
# (the one that carried them all is still open, with at least 10 writes:
# a connection per request would leave none that wrote more than one)
bport=$("$TOOLS/json-get" "$tmp/body" models/name=tiny-chat/port)
for i in 1 2 3 4 5 6 7 8 9 10; do
	code "$base/v1/completions" -d '{"model":"tiny-chat","prompt":"hi","max_tokens":1}' >/dev/null
done
segs=$(ss -Htni state established "( dport = :$bport )" |
	sed -n 's/.*data_segs_out:\([0-9]*\).*/\1/p' | sort -n | tail -1)
check "10 requests in a row go over one backend connection (${segs:-no} writes on it)" \
	test "${segs:-0}" -ge 10

# --- bad requests ---
c=$(code "$base/v1/chat/completions" -d '{"model":"no-such","messages":[]}')
check "unknown model: 404 with a JSON error" sh -c '[ "$1" = 404 ] && grep -q "\"error\"" "$2"' _ "$c" "$tmp/body"
c=$(code "$base/v1/chat/completions" -d '{"model":')
check "malformed JSON: 400" test "$c" = 400
c=$(code "$base/api/chat" -d '[1,2]')
check "Ollama: a body that is not an object: 400 {\"error\":...}" sh -c '[ "$1" = 400 ] && grep -q "^{\"error\":\"" "$2"' _ "$c" "$tmp/body"
c=$(code "$base/v1/chat/completions" -d '{"model":"../../etc/passwd","messages":[]}')
check "a path as a model name is only a name: 404" test "$c" = 404
head -c $((65 * 1024 * 1024)) /dev/zero | tr '\0' 'a' >"$tmp/big"
c=$(code "$base/v1/chat/completions" -H 'Content-Type: application/json' --data-binary @"$tmp/big")
check "a body over the limit: 413" test "$c" = 413
c=$(code -H 'Host: evil.example.com' "$base/v1/models")
check "a foreign Host (DNS rebinding): 403" test "$c" = 403
c=$(code -H 'Host: localhost:'"$port" "$base/v1/models")
check "Host localhost:PORT: 200" test "$c" = 200
c=$(code -H 'Origin: http://evil.example.com' "$base/v1/models")
check "a foreign Origin: 403" test "$c" = 403
c=$(code -H 'Origin: http://localhost:3000' "$base/v1/models")
check "a localhost Origin: 200" test "$c" = 200
c=$(code "$base/no/such/endpoint")
check "unknown endpoint: 404" test "$c" = 404
# slowloris: a client that never finishes its headers is dropped
start=$(date +%s)
python3 - "$port" <<'PY' >"$tmp/slow" 2>&1
import socket, sys, time
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])))
s.sendall(b"GET /v1/models HTTP/1.1\r\nHost: 127.0.0.1\r\n")
s.settimeout(60)
try:
    d = s.recv(100)
    print("closed" if d == b"" else "data")
except Exception as e:
    print("timeout", e)
PY
el=$(($(date +%s) - start))
check "a request whose headers never end is dropped (${el} s)" sh -c 'grep -q -e closed -e data "$1" && [ "$2" -le 10 ]' _ "$tmp/slow" "$el"
c=$(code "$base/health")
check "still serving after the bad requests" test "$c" = 200

# --- an API key ---
port2=$(free_port)
"$LLMEM" serve --port "$port2" --models-dir "$tmp/models" --backend "$bin" --api-key sekret >"$tmp/serve2.log" 2>&1 &
pids="$pids $!"
wait_health "$port2"
c=$(code "http://127.0.0.1:$port2/v1/models")
check "--api-key: no key, 401" test "$c" = 401
c=$(code -H 'Authorization: Bearer wrong' "http://127.0.0.1:$port2/v1/models")
check "--api-key: a wrong key, 401" test "$c" = 401
c=$(code -H 'Authorization: Bearer sekret' "http://127.0.0.1:$port2/v1/models")
check "--api-key: the key, 200" test "$c" = 200

# --- stop: SIGTERM stops every backend ---
kill -TERM "$serve_pid"
i=0
while [ $i -lt 150 ] && kill -0 "$serve_pid" 2>/dev/null; do sleep 0.1; i=$((i + 1)); done
check "SIGTERM: the daemon exits" test $i -lt 150
sleep 0.2
# ([l]lama: the pattern does not match pgrep's own command line)
if pgrep -f "[l]lama-server -m $tmp/" >/dev/null; then not_ok "SIGTERM: no llama-server of it survives"; else
	ok "SIGTERM: no llama-server of it survives"; fi
exit 0
