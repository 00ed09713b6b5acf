#!/bin/sh
# run.sh: runs every unit test binary ($BUILD/tests/test-*) and every
# integration script (tests/integration/t*.sh), counts the individual
# tests each reports (cmocka's "[  PASSED  ] N test(s)" and
# "[  FAILED  ] N test(s)" lines; TAP "ok"/"not ok" lines, "# SKIP"
# counted apart, from the
# scripts) and ends with one summary line: "N passed, N failed".
set -u
BUILD=${BUILD:-build}
export BUILD
LLMEM=${LLMEM:-$PWD/$BUILD/llmem}
TOOLS=${TOOLS:-$PWD/$BUILD/tools}
export LLMEM TOOLS
passed=0
failed=0
skipped=0
log=$(mktemp)
trap 'rm -f "$log"' EXIT

count() { # $1 = name, $2 = exit status; reads $log
	p=$(sed -n 's/^\[  PASSED  \] \([0-9][0-9]*\) test.*/\1/p' "$log" | awk '{s+=$1} END {print s+0}')
	f=$(sed -n 's/^\[  FAILED  \] \([0-9][0-9]*\) test.*/\1/p' "$log" | awk '{s+=$1} END {print s+0}')
	ts=$(grep -c '^ok [0-9]* # SKIP' "$log")
	tp=$(($(grep -c '^ok ' "$log") - ts))
	skipped=$((skipped + ts))
	tf=$(grep -c '^not ok ' "$log")
	p=$((p + tp))
	f=$((f + tf))
	if [ "$2" -ne 0 ] && [ "$f" -eq 0 ]; then
		f=1 # crashed or failed without saying which test
	fi
	passed=$((passed + p))
	failed=$((failed + f))
	if [ "$f" -ne 0 ]; then
		echo "FAIL $1 ($p passed, $f failed)"
		grep -E '^\[  (FAILED|  ERROR) |^not ok|^# |ERROR|error|Sanitizer|runtime error' "$log" | head -40
	else
		echo "PASS $1 ($p tests)"
	fi
}

for t in "$BUILD"/tests/test-*; do
	[ -x "$t" ] || continue
	"$t" >"$log" 2>&1
	count "$(basename "$t")" $?
done
for t in tests/integration/t*.sh; do
	[ -f "$t" ] || continue
	sh "$t" >"$log" 2>&1
	count "$(basename "$t")" $?
done
if [ "$skipped" -gt 0 ]; then
	echo "$passed passed, $failed failed, $skipped skipped"
else
	echo "$passed passed, $failed failed"
fi
[ "$failed" -eq 0 ] && [ "$passed" -gt 0 ]
