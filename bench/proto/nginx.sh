#!/bin/sh
# bench/proto/nginx.sh: the latency a proxy adds, nginx against the prototypes, in one run:
# direct, nginx (Debian's, keep-alive upstream, unbuffered, as bench/serve.sh sets it up),
# proto-libevent (evhttp, what llmem serve uses) and proto-raw (libevent's loop with its
# own framing, writing at once), all in front of the same upstream. ROUNDS rounds of
# N_LAT GET /small on one keep-alive connection, the paths interleaved round by round;
# prints each round and the median round's p50/p99 and what each proxy adds (us).
#   sh bench/proto/nginx.sh            (PORT_BASE=18280 ROUNDS=7 N_LAT=3000 PROTO_CPU=0)
# Everything runs on one CPU (PROTO_CPU; "all" for none): on this 2-vCPU VM, unpinned,
# where the client, proxy and upstream land and how the vCPUs wake decide a round's
# latency (the same path measured 18 and 97 us p50 in two rounds); on one CPU what a
# proxy adds is its own work and its two context switches, and repeats within a few us.
set -eu
if [ -z "${PROTO_PINNED:-}" ] && [ "${PROTO_CPU:-0}" != all ] && command -v taskset >/dev/null; then
	PROTO_PINNED=1 exec taskset -c "${PROTO_CPU:-0}" sh "$0" "$@"
fi
cd "$(dirname "$0")"
make -s all >/dev/null
NGINX=${NGINX:-/usr/sbin/nginx}
[ -x "$NGINX" ] || { echo "nginx.sh: $NGINX missing (apt-get install nginx-light)" >&2; exit 1; }
PB=${PORT_BASE:-18280}
ROUNDS=${ROUNDS:-7}
N_LAT=${N_LAT:-3000}
UP=$PB NG=$((PB + 1)) LE=$((PB + 2)) RAW=$((PB + 3))
WORK=$(mktemp -d "${TMPDIR:-/tmp}/proto-nginx.XXXXXX")
PIDS=""
cleanup() {
	for p in $PIDS; do kill "$p" 2>/dev/null || true; done
	rm -rf "$WORK"
}
trap cleanup EXIT INT TERM

# shellcheck disable=SC1091
. ../lib.sh
BENCH_NGINX_KA_REQUESTS=1000000 bench_nginx_conf "$WORK" "$NG:$UP" >"$WORK/nginx.conf"
out/upstream $UP & PIDS="$PIDS $!"
"$NGINX" -p "$WORK" -c "$WORK/nginx.conf" -g 'daemon off;' >"$WORK/out.log" 2>&1 & PIDS="$PIDS $!"
out/proto-libevent $LE $UP & PIDS="$PIDS $!"
out/proto-raw $RAW $UP & PIDS="$PIDS $!"
sleep 1

med() { sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
: >"$WORK/lat"
for r in $(seq "$ROUNDS"); do
	for t in direct:$UP nginx:$NG libevent:$LE raw:$RAW; do
		set -- $(out/client lat "${t#*:}" "$N_LAT")
		echo "$r ${t%%:*} $1 $2" >>"$WORK/lat"
	done
done
echo "round path p50_us p99_us"
cat "$WORK/lat"
p() { awk -v k="$1" -v f="$2" '$2 == k {print $f}' "$WORK/lat" | med; }
D50=$(p direct 3) D99=$(p direct 4)
echo "median of $ROUNDS rounds ($N_LAT requests each): path p50 p99, added p50 p99 (us)"
for k in direct nginx libevent raw; do
	a=$(p "$k" 3) b=$(p "$k" 4)
	echo "$k $a $b $((a - D50)) $((b - D99))"
done
echo "nginx $("$NGINX" -v 2>&1 | sed 's/.*: //'), $(nproc) CPUs, $(uname -r)"
