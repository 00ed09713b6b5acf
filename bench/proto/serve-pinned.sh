#!/bin/sh
# bench/proto/serve-pinned.sh: what `llmem serve` itself adds to a proxied request, against
# nginx, with the backend's own time taken out: both in front of the same instant upstream
# (out/upstream, which answers any request at once with 13 bytes), everything pinned to one
# CPU, so that a round measures the proxies' own work and context switches rather than where
# the 2-vCPU scheduler put the processes (bench/serve.sh, with llama-server behind, is the
# issue's benchmark; this one says where its difference comes from).
#   sh bench/proto/serve-pinned.sh     (ROUNDS=7 N_LAT=3000 PROTO_CPU=0 BUILD=build COLD_KB=0)
# COLD_KB=N: the upstream writes N KiB of memory before each answer, as llama-server's
# inference does between the two halves of a proxied request, so that each proxy meets
# caches the backend has emptied (bench/serve.sh's situation, with the noise taken out).
# llmem starts the upstream as its "llama-server" (a wrapper that says it listens, as
# llama-server does, then runs out/upstream on the port llmem gave it), for a model file it
# plans as usual; requests are llmem's OpenAI path: POST /v1/completions with a JSON body,
# checked and routed by llmem, then forwarded. Each round: N_LAT requests per path, the
# three paths interleaved request by request (build/tools/http-bench lat); prints each
# round and the median round's added p50 / p99 (us).
set -eu
if [ -z "${PROTO_PINNED:-}" ] && [ "${PROTO_CPU:-0}" != all ] && command -v taskset >/dev/null; then
	PROTO_PINNED=1 exec taskset -c "${PROTO_CPU:-0}" sh "$0" "$@"
fi
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
BUILD=${BUILD:-build}
case $BUILD in /*) ;; *) BUILD=$ROOT/$BUILD ;; esac
cd "$ROOT/bench/proto"
make -s out/upstream >/dev/null
NGINX=${NGINX:-/usr/sbin/nginx}
[ -x "$NGINX" ] || { echo "serve-pinned.sh: $NGINX missing (apt-get install nginx-light)" >&2; exit 1; }
ROUNDS=${ROUNDS:-7}
N_LAT=${N_LAT:-3000}
WORK=$(mktemp -d "${TMPDIR:-/tmp}/serve-pinned.XXXXXX")
PIDS=""
cleanup() {
	for p in $PIDS; do kill "$p" 2>/dev/null || true; done
	rm -rf "$WORK"
}
trap cleanup EXIT INT TERM
free_port() {
	/usr/bin/python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}

# the "backend": llama-server's arguments in, its listening line out, then the upstream
cat >"$WORK/backend" <<EOF
#!/bin/sh
port=
while [ \$# -gt 0 ]; do [ "\$1" = --port ] && port=\$2; shift; done
echo "main: server is listening on http://127.0.0.1:\$port - starting the main loop"
UPSTREAM_THRASH_KB=${COLD_KB:-0} exec "$ROOT/bench/proto/out/upstream" "\$port"
EOF
chmod +x "$WORK/backend"
mkdir -p "$WORK/models"
"$BUILD/tools/gguf-synth" --shape llama-3.2-1b --layers 1 --embd 64 --ff 128 --heads 2 --kv-heads 1 \
	"$WORK/models/m.gguf" >/dev/null
LP=$(free_port)
"$BUILD/llmem" serve --models-dir "$WORK/models" --port "$LP" --backend "$WORK/backend" -c 512 \
	--keep-alive -1 >"$WORK/llmem.log" 2>&1 &
PIDS="$PIDS $!"
i=0
until curl -sf "http://127.0.0.1:$LP/health" >/dev/null 2>&1; do
	i=$((i + 1))
	[ $i -lt 500 ] || { cat "$WORK/llmem.log" >&2; exit 1; }
	sleep 0.01
done
curl -sf -X POST "http://127.0.0.1:$LP/models/load" -d '{"model":"m"}' >/dev/null
UP=$(curl -sf "http://127.0.0.1:$LP/llmem/status" |
	/usr/bin/python3 -c 'import json,sys; print([m for m in json.load(sys.stdin)["models"] if m["name"]=="m"][0]["port"])')
NP=$(free_port)
# shellcheck disable=SC1091
. ../lib.sh
BENCH_NGINX_KA_REQUESTS=1000000 bench_nginx_conf "$WORK" "$NP:$UP" >"$WORK/nginx.conf"
"$NGINX" -p "$WORK" -c "$WORK/nginx.conf" -g 'daemon off;' >"$WORK/nginx.out" 2>&1 &
PIDS="$PIDS $!"
sleep 1

BODY='{"model":"m","prompt":"hi","max_tokens":1}'
med() { sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
: >"$WORK/lat"
echo "round path p50_us p99_us"
for r in $(seq "$ROUNDS"); do
	"$BUILD/tools/http-bench" lat "$N_LAT" 100 /v1/completions "$BODY" "$UP" "$NP" "$LP" >"$WORK/r"
	paste -d' ' - "$WORK/r" <<EOF | awk -v r="$r" '{print r, $1, $3, $5}' | tee -a "$WORK/lat"
direct
nginx
llmem
EOF
done
p() { awk -v k="$1" -v f="$2" '$2 == k {print $f}' "$WORK/lat" | med; }
D50=$(p direct 3) D99=$(p direct 4)
echo "median of $ROUNDS rounds ($N_LAT requests per path each): path p50 p99, added p50 p99 (us)"
for k in direct nginx llmem; do
	a=$(p "$k" 3) b=$(p "$k" 4)
	echo "$k $a $b $((a - D50)) $((b - D99))"
done
echo "nginx $("$NGINX" -v 2>&1 | sed 's/.*: //'), llmem $(git -C "$ROOT" rev-parse --short HEAD), $(nproc) CPUs, $(uname -r), pinned to CPU ${PROTO_CPU:-0}"
