# serve-lib.sh: helpers for the `llmem serve` integration scripts
# (t-serve-*.sh), sourced, not run (tests/run.sh runs t*.sh only).
#
# Sets ROOT, LLMEM, TOOLS, GET (json-get), CACHE, LLAMA_SERVER (the cached
# CPU llama-server, "" when scripts/build-llama.sh has not built it) and
# VOCAB_DIR (llama.cpp's models/ directory of vocabulary files); makes $tmp
# (removed at exit, after every daemon started with serve_start is killed).
# TAP: ok / not_ok / skip / check COND LABEL.
set -u
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
LLMEM=${LLMEM:-$ROOT/build/llmem}
TOOLS=${TOOLS:-$ROOT/build/tools}
GET=$TOOLS/json-get
CACHE=${LLMEM_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/llmem}
n=0
ok() { n=$((n + 1)); echo "ok $n - $*"; }
not_ok() { n=$((n + 1)); echo "not ok $n - $*"; }
skip() { n=$((n + 1)); echo "ok $n # SKIP $*"; }
# check LABEL CMD...: ok when CMD succeeds
check() {
	_label=$1
	shift
	if "$@"; then ok "$_label"; else not_ok "$_label"; fi
}
note() { printf '# %s\n' "$*"; }

LLAMA_SERVER=""
VOCAB_DIR=""
if [ -f "$CACHE/peers.env" ]; then
	# shellcheck disable=SC1091
	. "$CACHE/peers.env"
	[ -x "$CACHE/llama-bin-${LLAMA_CPP_COMMIT:-none}/llama-server" ] &&
		LLAMA_SERVER="$CACHE/llama-bin-$LLAMA_CPP_COMMIT/llama-server"
	VOCAB_DIR=${LLMEM_PEERS_SRC:-}/models
fi

tmp=$(mktemp -d "${TMPDIR:-/tmp}/t-serve.XXXXXX") || exit 1
DAEMONS=""    # pids of the daemons started here
BG=""         # other background pids (clients)
CGROUP=""     # a cgroup made here, removed at exit

# Every process whose command line names a file under $tmp/models (our
# backends: the model path is on their command line), as pids.
our_backends() {
	# the pattern is the argument llmem gives every backend: "-m PATH"
	pgrep -f -- "-m $tmp/models/" 2>/dev/null || true
}

serve_cleanup() {
	for p in $DAEMONS $BG; do
		kill -TERM "$p" 2>/dev/null
	done
	i=0
	while [ $i -lt 50 ]; do
		alive=""
		for p in $DAEMONS; do
			kill -0 "$p" 2>/dev/null && alive="$alive $p"
		done
		[ -z "$alive" ] && break
		sleep 0.1
		i=$((i + 1))
	done
	for p in $DAEMONS $BG $(our_backends); do
		kill -KILL "$p" 2>/dev/null
	done
	wait 2>/dev/null
	# the model cgroups of a daemon killed before it could remove them
	# (llmem serve makes them where its cgroup is delegated)
	# (their backends may take a moment to be gone)
	i=0
	while [ $i -lt 20 ]; do
		_left=0
		for _cg in "/sys/fs/cgroup/memory$(awk -F: '$2 ~ /(^|,)memory(,|$)/ {print $3; exit}' /proc/self/cgroup)" \
			"/sys/fs/cgroup$(sed -n 's/^0:://p' /proc/self/cgroup)"; do
			for p in $DAEMONS; do
				for c in "${_cg%/}"/model-*-"$p"-*; do
					[ -d "$c" ] && ! rmdir "$c" 2>/dev/null && _left=1
				done
			done
		done
		[ $_left = 0 ] && break
		sleep 0.1
		i=$((i + 1))
	done
	if [ -n "$CGROUP" ] && [ -d "$CGROUP" ]; then
		i=0
		# what a daemon made in it first (its v2 leaf, model cgroups)
		while ! { for c in "$CGROUP"/*/; do [ -d "$c" ] && rmdir "$c" 2>/dev/null; done
			rmdir "$CGROUP" 2>/dev/null; } && [ $i -lt 50 ]; do
			sleep 0.1
			i=$((i + 1))
		done
	fi
	rm -rf "$tmp"
}
trap serve_cleanup EXIT
trap 'exit 1' HUP INT TERM

# A TCP port on 127.0.0.1 that nothing listens on now.
free_port() {
	if command -v python3 >/dev/null 2>&1; then
		python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])' &&
			return 0
	fi
	if command -v node >/dev/null 2>&1; then
		node -e 'const s = require("net").createServer(); s.listen(0, "127.0.0.1", () => { console.log(s.address().port); s.close(); })' &&
			return 0
	fi
	i=0
	while [ $i -lt 100 ]; do
		p=$((20000 + ($$ * 7919 + i * 104729) % 40000))
		curl -s -m 1 -o /dev/null "http://127.0.0.1:$p/" 2>/dev/null || { echo $p; return 0; }
		i=$((i + 1))
	done
	return 1
}

# synth OUT LAYERS: a tiny llama-3.2-shaped model llama.cpp loads
synth() {
	"$TOOLS/gguf-synth" --shape llama-3.2-1b --layers "$2" --embd 512 --ff 1536 --heads 8 \
		--kv-heads 2 --vocab-from "$VOCAB_DIR/ggml-vocab-llama-bpe.gguf" "$1" >"$tmp/synth.log" 2>&1
}

# serve_start LOG ARGS...: starts `llmem serve --port $PORT ARGS...` in the
# background (PORT chosen here), output to LOG; waits for /health (20 s).
# Sets DPID and PORT, URL. Returns 1 when it did not come up.
serve_start() {
	_log=$1
	shift
	PORT=${SERVE_PORT:-$(free_port)} || return 1
	SERVE_PORT=""
	URL="http://127.0.0.1:$PORT"
	"$LLMEM" serve --port "$PORT" "$@" >"$_log" 2>&1 &
	DPID=$!
	DAEMONS="$DAEMONS $DPID"
	i=0
	while [ $i -lt 200 ]; do
		if ! kill -0 "$DPID" 2>/dev/null; then
			note "llmem serve exited at start:"
			sed 's/^/#   /' "$_log" | tail -5
			return 1
		fi
		curl -s -m 1 -o /dev/null "$URL/health" 2>/dev/null && return 0
		sleep 0.1
		i=$((i + 1))
	done
	note "llmem serve did not answer /health in 20 s"
	return 1
}

# gone PID: PID has exited (or is a zombie not waited for yet)
gone() {
	kill -0 "$1" 2>/dev/null || return 0
	case $(ps -o stat= -p "$1" 2>/dev/null) in Z*) return 0 ;; esac
	return 1
}

# serve_wait_exit PID SECONDS: waits for PID to exit; sets RC (its exit
# status) and returns 0, or returns 1 if it still runs after SECONDS.
serve_wait_exit() {
	i=0
	while ! gone "$1"; do
		[ $i -ge $(($2 * 10)) ] && return 1
		sleep 0.1
		i=$((i + 1))
	done
	wait "$1"
	RC=$?
	return 0
}

# status FILE: GET /llmem/status into FILE
status() {
	curl -s -m 5 "$URL/llmem/status" >"$1"
}

# sget MODEL FIELD: a field of MODEL in a fresh /llmem/status
sget() {
	status "$tmp/st.json" && "$GET" "$tmp/st.json" "models/name=$1/$2"
}

# wait_for SECONDS CMD...: polls CMD every 0.1 s until it succeeds
wait_for() {
	_t=$(($1 * 10))
	shift
	i=0
	while [ $i -lt $_t ]; do
		"$@" && return 0
		sleep 0.1
		i=$((i + 1))
	done
	return 1
}

# chat MODEL [MAX_TOKENS]: a non-streamed OpenAI chat request; writes the
# body to $tmp/chat.out and prints "HTTP_CODE SECONDS"
chat() {
	curl -s -m "${CHAT_TIMEOUT:-60}" -o "$tmp/chat.out" -w '%{http_code} %{time_total}' \
		-H 'Content-Type: application/json' "$URL/v1/chat/completions" \
		-d "{\"model\":\"$1\",\"messages\":[{\"role\":\"user\",\"content\":\"hello\"}],\"max_tokens\":${2:-8}}"
}

# chat_ok MODEL: a normal chat request succeeds (200 with choices)
chat_ok() {
	_r=$(chat "$1")
	case $_r in
	"200 "*) grep -q '"choices"' "$tmp/chat.out" ;;
	*)
		note "chat $1: $_r $(head -c 300 "$tmp/chat.out" 2>/dev/null)"
		return 1
		;;
	esac
}

# stream_start MODEL MAX_TOKENS OUT: a streamed completion in the
# background (ignore_eos: it runs MAX_TOKENS long); sets SPID
stream_start() {
	curl -sN -m "${STREAM_TIMEOUT:-120}" -H 'Content-Type: application/json' \
		-o "$3" -w '%{http_code}\n' "$URL/v1/completions" \
		-d "{\"model\":\"$1\",\"prompt\":\"Once upon a time\",\"max_tokens\":$2,\"ignore_eos\":true,\"stream\":true}" \
		>"$3.code" 2>/dev/null &
	SPID=$!
	BG="$BG $SPID"
}

has_bytes() { [ -s "$1" ]; }
