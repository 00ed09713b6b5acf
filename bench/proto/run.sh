#!/bin/sh
# bench/proto/run.sh: build the HTTP-stack prototypes and measure them against the same
# upstream in the same run. Prints one table (used in docs/DESIGN.md, "HTTP stack").
#   sh bench/proto/run.sh            (PORT_BASE=18180 ROUNDS=3 N_LAT=2000 MB=512)
set -eu
cd "$(dirname "$0")"
make -s all >/dev/null
PB=${PORT_BASE:-18180}
ROUNDS=${ROUNDS:-3}
N_LAT=${N_LAT:-2000}
MB=${MB:-512}
UP=$PB LE=$((PB + 1)) MC=$((PB + 2)) LE_NB=$((PB + 3)) MC_NB=$((PB + 4))
PIDS=""
cleanup() { for p in $PIDS; do kill "$p" 2>/dev/null || true; done; }
trap cleanup EXIT INT TERM

out/upstream $UP & UP_PID=$!; PIDS="$PIDS $UP_PID"
out/proto-libevent $LE $UP & LE_PID=$!; PIDS="$PIDS $LE_PID"
out/proto-mhd-curl $MC $UP 2>/dev/null & MC_PID=$!; PIDS="$PIDS $MC_PID"
PROTO_NO_BACKPRESSURE=1 out/proto-libevent $LE_NB $UP & LE_NB_PID=$!; PIDS="$PIDS $LE_NB_PID"
PROTO_NO_BACKPRESSURE=1 out/proto-mhd-curl $MC_NB $UP 2>/dev/null & MC_NB_PID=$!
PIDS="$PIDS $MC_NB_PID"
sleep 0.5

rss() { awk '/^VmRSS/ {print $2}' /proc/"$1"/status; }
# median of the numbers on stdin (one per line)
med() { sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }

IDLE_LE=$(rss $LE_PID) IDLE_MC=$(rss $MC_PID)

# (a) latency: ROUNDS rounds of N_LAT GET /small on one keep-alive connection, rotating
# the order; the median round's p50 and p99 (us)
: >/tmp/proto-lat.$$
for r in $(seq "$ROUNDS"); do
    for t in direct:$UP libevent:$LE mhd:$MC; do
        echo "${t%%:*} $(out/client lat "${t#*:}" "$N_LAT")" >>/tmp/proto-lat.$$
    done
done
lat() { awk -v k="$1" -v f="$2" '$1 == k {print $f}' /tmp/proto-lat.$$ | med; }

# (b) throughput of one MB MiB stream (16 KiB events), median of ROUNDS, MB/s
tput() { for r in $(seq "$ROUNDS"); do out/client tput "$1" "$MB"; done | med; }
TP_D=$(tput $UP) TP_LE=$(tput $LE) TP_MC=$(tput $MC)

# (c) slow client: read 64 KiB of a 256 MiB stream, stall 3 s, then read the rest.
# prints: peak VmRSS during the stall (KiB), KiB the upstream had sent by then
slow() { out/client slow "$1" "$2" $UP 256 | awk '$4 == "ok" {print $1, $2} $4 != "ok" {print "FAIL"}'; }
SL_LE=$(slow $LE $LE_PID) SL_MC=$(slow $MC $MC_PID)
SL_LE_NB=$(slow $LE_NB $LE_NB_PID) SL_MC_NB=$(slow $MC_NB $MC_NB_PID)

# (d) client disconnect: ms from the client's close() to the upstream seeing its socket
# close; median of 5; events 20 ms apart (token stream) and back to back
disc() { for r in 1 2 3 4 5; do out/client disc "$1" $UP "$2"; done | med; }
DS_D=$(disc $UP 20000) DS_LE=$(disc $LE 20000) DS_MC=$(disc $MC 20000)
DF_D=$(disc $UP 0) DF_LE=$(disc $LE 0) DF_MC=$(disc $MC 0)

# (e) size and dependencies
loc() { grep -cv '^[[:space:]]*$' "$1"; }
nlibs() { pkg-config --libs "$@" | tr ' ' '\n' | grep -c '^-l'; }
nso() { ldd "$1" | wc -l; }

cat <<EOF
| measure | direct | libevent | libuv + MHD + libcurl |
| --- | ---: | ---: | ---: |
| (a) GET /small latency p50, us ($N_LAT req, keep-alive) | $(lat direct 2) | $(lat libevent 2) | $(lat mhd 2) |
| (a) GET /small latency p99, us | $(lat direct 3) | $(lat libevent 3) | $(lat mhd 3) |
| (b) streamed throughput, MB/s ($MB MiB, 16 KiB events) | $TP_D | $TP_LE | $TP_MC |
| (c) slow client, 256 MiB stream: peak RSS KiB / KiB sent by upstream during 3 s stall | - | ${SL_LE% *} / ${SL_LE#* } | ${SL_MC% *} / ${SL_MC#* } |
| (c) same without backpressure (PROTO_NO_BACKPRESSURE=1) | - | ${SL_LE_NB% *} / ${SL_LE_NB#* } | ${SL_MC_NB% *} / ${SL_MC_NB#* } |
| (d) client close -> upstream sees close, ms (events 20 ms apart) | $DS_D | $DS_LE | $DS_MC |
| (d) same, events back to back | $DF_D | $DF_LE | $DF_MC |
| (e) non-blank lines of code | - | $(loc proto-libevent.c) | $(loc proto-mhd-curl.c) |
| (e) libraries linked (pkg-config -l) / shared objects loaded (ldd) | - | $(nlibs libevent) / $(nso out/proto-libevent) | $(nlibs libmicrohttpd libcurl libuv) / $(nso out/proto-mhd-curl) |
| (e) idle RSS, KiB | - | $IDLE_LE | $IDLE_MC |
EOF
echo
echo "machine: $(nproc) cores, $(uname -r); libevent $(pkg-config --modversion libevent)," \
     "libuv $(pkg-config --modversion libuv), libmicrohttpd $(pkg-config --modversion libmicrohttpd)," \
     "libcurl $(pkg-config --modversion libcurl); $(date -u +%Y-%m-%d)"
rm -f /tmp/proto-lat.$$
