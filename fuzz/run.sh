#!/bin/sh
# run.sh: runs each libFuzzer target in $FUZZ_BUILD for $FUZZ_SECONDS (each
# target gets that long: 8 targets at the default 60 s take about 8
# minutes), on its own corpus ($FUZZ_BUILD/corpus-NAME, kept between runs),
# seeded from fuzz/corpus/NAME (hand-written), the test fixtures
# ($FUZZ_BUILD/seeds-NAME, made again each run) and, for gguf, synthesized
# models and the hostile cases; with fuzz/NAME.dict when there is one.
# FUZZ_TARGETS="sse proc" runs only those. Fails when a target finds a
# crash (the reproducer is kept in $FUZZ_BUILD: rerun it with
# `$FUZZ_BUILD/fuzz-NAME FILE`).
set -eu
FUZZ_BUILD=${FUZZ_BUILD:-build-fuzz}
FUZZ_SECONDS=${FUZZ_SECONDS:-60}
FUZZ_TARGETS=${FUZZ_TARGETS:-}
BUILD=${BUILD:-build}
FIX=tests/fixtures

# seed DIR PREFIX FILE: FILE's bytes after PREFIX (the targets that pick
# what to parse by their first bytes), named after FILE's path.
seed() {
	name=$(printf '%s' "$3" | sed 's|^tests/fixtures/||; s|[^A-Za-z0-9._-]|_|g')
	{ printf '%s' "$2"; cat "$3"; } >"$1/$name-$(printf '%s' "$2" | od -An -tx1 | tr -d ' \n')"
}

seeds_gguf() {
	"$BUILD/tools/gguf-synth" --shape micro --ftype f16 "$1/seed-micro-f16.gguf"
	"$BUILD/tools/gguf-synth" --shape micro --ftype q8_0 "$1/seed-micro-q8_0.gguf"
	if [ -x "$BUILD/tools/gguf-hostile" ]; then
		h=$(mktemp -d)
		"$BUILD/tools/gguf-hostile" "$h" >/dev/null
		# only the small ones: libFuzzer keeps inputs in memory
		find "$h" -type f -name '*.gguf' -size -256k -exec cp {} "$1/" \;
		rm -rf "$h"
	fi
}

# fuzz-translate: answers (4 + api/backend byte) and errors (5 + status - 300)
seeds_translate() {
	s=$FIX/serve
	seed "$1" '4$' "$s/chat.txt"
	seed "$1" '4%' "$s/chat.txt"
	seed "$1" '4)' "$s/completions.txt"
	seed "$1" '4r' "$s/embeddings.txt"
	seed "$1" '43' "$s/embeddings.txt"
	for f in "$s"/error-*.txt; do
		seed "$1" '4$' "$f"
		seed "$1" '5d' "$f"
	done
}

# fuzz-sse: api/backend byte, chunk seed
seeds_sse() {
	s=$FIX/serve
	for f in "$s"/chat-stream*.txt; do
		seed "$1" 'Dx' "$f"
		seed "$1" 'd7' "$f"
	done
	for f in "$s"/completions-stream*.txt; do
		seed "$1" 'Ix' "$f"
	done
	seed "$1" 'Mx' "$s/native-stream.txt"
}

# fuzz-backend-log: chunk seed; logs and /proc/PID/status files
seeds_backend_log() {
	for f in "$FIX"/serve/*.log; do
		seed "$1" 'x' "$f"
	done
	find "$FIX" -path '*/proc/*/status' -type f | while read -r f; do
		seed "$1" 'x' "$f"
	done
}

# fuzz-proc: 'd' + the parser's number (see fuzz/fuzz-proc.c)
seeds_proc() {
	find "$FIX/probe" "$FIX/doctor" -type f ! -name '*.md' ! -name '*.conf' 2>/dev/null |
	while read -r f; do
		case $f in
		*/proc/*/fdinfo/*) p=x ;;
		*/proc/meminfo) p=d ;;
		*/transparent_hugepage/*) p=e ;;
		*/proc/*/cgroup) p=f ;;
		*/memory.max | */memory.high | */memory.low | */memory.min | */memory.swap.max | \
		*_limit_in_bytes) p=g ;;
		*/memory.stat | */memory.events) p=i ;;
		*/uevent) p=j ;;
		*/device/vendor | */device/device) p=k ;;
		*/proc/swaps) p=m ;;
		*/pressure/memory) p=n ;;
		*/proc/*/limits) p=o ;;
		*/proc/buddyinfo) p=p ;;
		*/proc/*/status) p=q ;;
		*/node*/meminfo) p=r ;;
		*/cmdline) p=s ;;
		*/dev/kmsg) p=t ;;
		*/comm | */product_name | */card*-*/status | */cpulist | */online | */possible | \
		*/uptime | */dev | */version | */cgroup.controllers) p=l ;;
		*) p=h ;; # one number: memory.current, mem_info_*, sysctls, module parameters
		esac
		seed "$1" "$p" "$f"
	done
}

# max_len: the largest input each target is given
max_len() {
	case $1 in
	gguf) echo 262144 ;;
	backend-log | sse) echo 32768 ;; # the largest fixtures: 30 KiB
	*) echo 16384 ;;
	esac
}

ran=0
for t in "$FUZZ_BUILD"/fuzz-*; do
	[ -x "$t" ] && [ -f "$t" ] || continue
	n=${t##*/fuzz-}
	case " ${FUZZ_TARGETS:-$n} " in *" $n "*) ;; *) continue ;; esac
	corpus=$FUZZ_BUILD/corpus-$n
	seeds=$FUZZ_BUILD/seeds-$n
	mkdir -p "$corpus"
	rm -rf "$seeds"
	mkdir -p "$seeds"
	case $n in
	gguf) seeds_gguf "$corpus" ;;
	translate) seeds_translate "$seeds" ;;
	sse) seeds_sse "$seeds" ;;
	backend-log) seeds_backend_log "$seeds" ;;
	proc) seeds_proc "$seeds" ;;
	esac
	dirs="$corpus $seeds"
	[ -d "fuzz/corpus/$n" ] && dirs="$dirs fuzz/corpus/$n"
	dict=
	[ -f "fuzz/$n.dict" ] && dict="-dict=fuzz/$n.dict"
	echo "fuzz: fuzz-$n for ${FUZZ_SECONDS}s"
	rc=0
	# shellcheck disable=SC2086 # $dirs and $dict are lists of words
	"$t" $dirs $dict -max_total_time="$FUZZ_SECONDS" -max_len="$(max_len "$n")" \
		-rss_limit_mb=2048 -timeout=10 -print_final_stats=1 \
		-artifact_prefix="$FUZZ_BUILD/fuzz-$n-" >"$FUZZ_BUILD/fuzz-$n.log" 2>&1 || rc=$?
	grep -E '^#[0-9]+[[:space:]]+DONE' "$FUZZ_BUILD/fuzz-$n.log" | tail -n 1 || true
	grep -E '^stat::(number_of_executed_units|average_exec_per_sec|new_units_added|peak_rss_mb)' \
		"$FUZZ_BUILD/fuzz-$n.log" | tr '\n' ' ' || true
	echo
	if [ "$rc" -ne 0 ]; then
		echo "fuzz: fuzz-$n failed (exit $rc); log: $FUZZ_BUILD/fuzz-$n.log" >&2
		grep -E 'ERROR|SUMMARY|check failed|artifact|keep_alive' "$FUZZ_BUILD/fuzz-$n.log" >&2 || true
		exit 1
	fi
	ran=$((ran + 1))
done
[ "$ran" -gt 0 ] || { echo "fuzz: no target ran (FUZZ_TARGETS=$FUZZ_TARGETS)" >&2; exit 1; }
echo "fuzz: all $ran targets ran clean"
