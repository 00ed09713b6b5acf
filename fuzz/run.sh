#!/bin/sh
# run.sh: runs each libFuzzer target in $FUZZ_BUILD for $FUZZ_SECONDS,
# seeded with synthesized models and the hostile cases; fails when a
# target finds a crash (the reproducer is kept in $FUZZ_BUILD).
set -eu
FUZZ_BUILD=${FUZZ_BUILD:-build-fuzz}
FUZZ_SECONDS=${FUZZ_SECONDS:-60}
BUILD=${BUILD:-build}
corpus=$FUZZ_BUILD/corpus-gguf
mkdir -p "$corpus"
"$BUILD/tools/gguf-synth" --shape micro --ftype f16 "$corpus/seed-micro-f16.gguf"
"$BUILD/tools/gguf-synth" --shape micro --ftype q8_0 "$corpus/seed-micro-q8_0.gguf"
if [ -x "$BUILD/tools/gguf-hostile" ]; then
	h=$(mktemp -d)
	"$BUILD/tools/gguf-hostile" "$h" >/dev/null
	# only the small ones: libFuzzer keeps inputs in memory
	find "$h" -type f -name '*.gguf' -size -256k -exec cp {} "$corpus/" \;
	rm -rf "$h"
fi
for t in "$FUZZ_BUILD"/fuzz-*; do
	[ -x "$t" ] || continue
	echo "fuzz: $(basename "$t") for ${FUZZ_SECONDS}s"
	rc=0
	"$t" "$corpus" -dict=fuzz/gguf.dict -max_total_time="$FUZZ_SECONDS" -max_len=262144 \
		-rss_limit_mb=2048 -timeout=10 -print_final_stats=1 \
		-artifact_prefix="$FUZZ_BUILD/" >"$FUZZ_BUILD/$(basename "$t").log" 2>&1 || rc=$?
	tail -n 6 "$FUZZ_BUILD/$(basename "$t").log"
	if [ "$rc" -ne 0 ]; then
		echo "fuzz: $(basename "$t") failed (exit $rc); log: $FUZZ_BUILD/$(basename "$t").log" >&2
		grep -E 'ERROR|SUMMARY|artifact' "$FUZZ_BUILD/$(basename "$t").log" >&2 || true
		exit 1
	fi
done
echo "fuzz: all targets ran clean"
