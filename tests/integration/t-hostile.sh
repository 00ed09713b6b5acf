#!/bin/sh
# t-hostile.sh: `llmem inspect` on the hostile GGUF files of
# reliability.md section (a). $TOOLS/gguf-hostile writes cases 1-52 and
# 55-57 (split models, 56, included) with a MANIFEST; this script adds
# what is not a regular file (53) and a file truncated while it is read
# (54).
#
# A valid file must exit 0 with nothing on stderr (with --kv --tensors
# and with --json), and `llmem estimate` on it must estimate or refuse in
# one line (hostile hyperparameters, 26-32). An invalid one must exit
# exactly 2 with exactly one line on stderr naming the file and the byte
# offset (errors about opening name the file only; split-set errors name
# the part at fault). Never a signal, never a sanitizer report. Output
# must show hostile strings escaped, never interpreted.
#
# Run from the repository root with LLMEM (the llmem binary) and TOOLS
# (build/tools) set, as tests/run.sh does. Prints TAP.
set -u
LLMEM=${LLMEM:?set LLMEM to the llmem binary}
TOOLS=${TOOLS:?set TOOLS to the directory of the test tools}

tmp=$(mktemp -d "${TMPDIR:-/tmp}/t-hostile.XXXXXX") || exit 1
bg=
cleanup() {
	rm -f "$tmp/racing"
	if [ -n "$bg" ]; then
		kill "$bg" 2>/dev/null
		wait "$bg" 2>/dev/null
	fi
	rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 1' HUP INT TERM

n=0
ok() {
	n=$((n + 1))
	echo "ok $n - $*"
}
not_ok() {
	n=$((n + 1))
	echo "not ok $n - $*"
	if [ -s "$tmp/err" ]; then
		head -c 600 "$tmp/err" | sed 's/^/#   stderr: /'
		echo
	fi
}

# inspect ARGS...: runs llmem inspect; sets rc; output in $tmp/out, $tmp/err
inspect() {
	"$LLMEM" inspect "$@" >"$tmp/out" 2>"$tmp/err" </dev/null
	rc=$?
}

# lines FILE: the number of lines, counting an unterminated last one
lines() {
	awk 'END { print NR }' "$1"
}

# one_line FILE: exactly one line, ending in a newline
one_line() {
	[ "$(lines "$1")" -eq 1 ] && [ "$(($(wc -l <"$1")))" -eq 1 ]
}

clean_run() {
	! grep -q -E 'Sanitizer|runtime error|LeakSanitizer|AddressSanitizer' "$tmp/err" "$tmp/out"
}

# no_raw_controls FILE: no control byte but tab and newline
no_raw_controls() {
	# shellcheck disable=SC2094 # both only read it
	LC_ALL=C tr -d '\000-\010\013-\037\177' <"$1" | cmp -s - "$1"
}

# check_invalid FILE DESC MODE: exit 2, nothing on stdout, one line on
# stderr that has, for MODE "offset", "FILE: offset N:"; for "open",
# FILE; for "split:PREFIX", PREFIX (the path of a file of the set)
check_invalid() {
	f=$1 desc=$2 mode=$3 why=
	inspect "$f"
	case $mode in
	offset) pat="$f: offset " ;;
	open) pat=$f ;;
	split:*) pat=${mode#split:} ;;
	esac
	if [ "$rc" -ne 2 ]; then
		why="exit status $rc, not 2"
	elif [ -s "$tmp/out" ]; then
		why="output on stdout"
	else
		# one process for the rest: this runs a few hundred times
		why=$(PAT=$pat awk '
			BEGIN { pat = ENVIRON["PAT"] }
			/Sanitizer|runtime error/ { san = 1 }
			index($0, pat) { found = 1 }
			END {
				if (san) print "sanitizer report"
				else if (NR != 1) print NR " lines on stderr, not 1"
				else if (!found) print "the line does not have \"" pat "\""
			}' "$tmp/err")
	fi
	if [ -z "$why" ]; then
		ok "$desc"
	else
		not_ok "$desc: $why"
	fi
}

# check_valid FILE DESC [big]: exit 0 and a quiet stderr with --kv
# --tensors and with --json --kv --tensors (the big files: once, plain,
# to keep this quick); the text report stays in $tmp/text
check_valid() {
	f=$1 desc=$2 why=
	if [ "${3:-}" = big ]; then
		set -- ""
	else
		set -- "--kv --tensors" "--json --kv --tensors"
	fi
	for args in "$@"; do
		# $args is split into words on purpose
		# shellcheck disable=SC2086
		inspect $args "$f"
		# a sanitizer report would be on stderr
		if [ "$rc" -ne 0 ]; then
			why="exit status $rc with '$args'"
		elif [ -s "$tmp/err" ]; then
			why="stderr with '$args'"
		elif [ "$args" != "--json --kv --tensors" ] && ! no_raw_controls "$tmp/out"; then
			why="raw control bytes in the output with '$args'"
		fi
		[ -n "$why" ] && break
		[ "$args" = "--kv --tensors" ] && cp "$tmp/out" "$tmp/text"
	done
	[ "${3:-}" = big ] && cp "$tmp/out" "$tmp/text"
	if [ -z "$why" ]; then
		ok "$desc"
	else
		not_ok "$desc: $why"
	fi
}

# check_estimate FILE DESC: `llmem estimate` on a valid GGUF file with
# hostile values (cases 26-32 mostly) must estimate (exit 0, quiet
# stderr) or refuse (exit 2, one line naming the file, nothing on
# stdout): no division by zero, no overflow, no crash
check_estimate() {
	f=$1 desc=$2 why=
	"$LLMEM" estimate "$f" >"$tmp/out" 2>"$tmp/err" </dev/null
	rc=$?
	case $rc in
	0)
		[ -s "$tmp/err" ] && why="exit 0 with stderr" ;;
	2)
		if [ -s "$tmp/out" ]; then
			why="exit 2 with output on stdout"
		else
			why=$(PAT=$f awk '
				/Sanitizer|runtime error/ { san = 1 }
				index($0, ENVIRON["PAT"]) { found = 1 }
				END {
					if (san) print "sanitizer report"
					else if (NR != 1) print NR " lines on stderr, not 1"
					else if (!found) print "the line does not name the file"
				}' "$tmp/err")
		fi ;;
	*)
		why="exit status $rc" ;;
	esac
	if [ -z "$why" ]; then
		ok "$desc (exit $rc)"
	else
		not_ok "$desc: $why"
	fi
}

# expect_text NAME DESC STRING: the last valid report of NAME has STRING
expect_text() {
	if grep -q -F -- "$3" "$tmp/text"; then
		ok "$1: $2"
	else
		: >"$tmp/err"
		not_ok "$1: $2: no '$3' in the report"
	fi
}

# ---- the generated files (1-52, 55-57) ----

cases=$tmp/cases
if ! "$TOOLS/gguf-hostile" "$cases" >/dev/null 2>"$tmp/err"; then
	not_ok "gguf-hostile writes the cases"
	echo "1..$n"
	exit 1
fi
ok "gguf-hostile writes the cases ($(lines "$cases/MANIFEST") files listed)"

while read -r num name expect; do
	f=$cases/$name
	desc="case $num: $name: $expect"
	case $expect in
	valid)
		big=
		[ "$num" -eq 57 ] && big=big
		check_valid "$f" "$desc" $big
		[ -z "$big" ] && check_estimate "$f" "case $num: $name: llmem estimate"
		case $name in
		15-str-nul-ctrl.gguf)
			# shellcheck disable=SC1003 # a literal backslash
			expect_text "$name" "NUL and escapes shown escaped" \
				'name:          a\x00b\x1b[31mred\x07\r\n%n%s\\' ;;
		15-str-bad-utf8.gguf)
			expect_text "$name" "invalid UTF-8 shown escaped" \
				'name:          \xff\xfe \xc3( \xed\xa0\x80 \xf4\x90\x80\x80 \xc0\xaf' ;;
		15-str-c1-ctrl.gguf)
			expect_text "$name" "C1 controls shown escaped" \
				'name:          \xc2\x9b31m \xc2\x85 ok' ;;
		15-str-16mib-braces.gguf)
			expect_text "$name" "16 MiB string cut short" \
				'general.description (string) = "{{{{{{{{' ;;
		27-context-length-2^63.gguf)
			expect_text "$name" "2^63 shown as it is" \
				'context_length                       9223372036854775808' ;;
		29-arch-format.gguf)
			expect_text "$name" "format string shown literally" \
				'architecture:  %n%n%s%s%s%p%x' ;;
		29-arch-path.gguf)
			expect_text "$name" "path shown literally" 'architecture:  ../x' ;;
		29-arch-escapes.gguf)
			expect_text "$name" "terminal escapes shown escaped" \
				'architecture:  \x1b[2J\x1b]0;pwned\x07llama\n\r' ;;
		29-arch-1mib.gguf)
			expect_text "$name" "1 MiB architecture shown" \
				'architecture:  abcdefghijklmnopqrstuvwxyzabcdefghijklmnopqrstuvwxyz' ;;
		29-arch-missing.gguf | 29-arch-empty.gguf)
			expect_text "$name" "no architecture" 'architecture:  (none)' ;;
		31-template-ssti.gguf)
			expect_text "$name" "template shown, not run" \
				"tokenizer.chat_template (string) = \"{{ ''.__class__.__mro__[1]" ;;
		34-name-utf8.gguf)
			expect_text "$name" "UTF-8 tensor name shown" 'blk.é.€' ;;
		56-ok-0000[123]-of-00003.gguf)
			expect_text "$name" "three parts" '(3 parts,'
			expect_text "$name" "tensors summed over the parts" ' in 6 tensors' ;;
		56-single-00001-of-00001.gguf)
			expect_text "$name" "one part" '(1 part,' ;;
		esac
		;;
	invalid)
		check_invalid "$f" "$desc" offset ;;
	invalid-split)
		check_invalid "$f" "$desc" \
			"split:${f%-[0-9][0-9][0-9][0-9][0-9]-of-[0-9][0-9][0-9][0-9][0-9].gguf}" ;;
	*)
		: >"$tmp/err"
		not_ok "$desc: unknown expectation in the MANIFEST" ;;
	esac
done <"$cases/MANIFEST"

# the files with checks of their report above must all have been there
for name in 15-str-nul-ctrl.gguf 15-str-bad-utf8.gguf 15-str-c1-ctrl.gguf \
	15-str-16mib-braces.gguf 27-context-length-2^63.gguf 29-arch-format.gguf \
	29-arch-path.gguf 29-arch-escapes.gguf 29-arch-1mib.gguf 29-arch-missing.gguf \
	29-arch-empty.gguf 31-template-ssti.gguf 34-name-utf8.gguf \
	56-ok-00001-of-00003.gguf 56-single-00001-of-00001.gguf; do
	if ! grep -q -F " $name valid" "$cases/MANIFEST"; then
		: >"$tmp/err"
		not_ok "$name is missing from the MANIFEST"
	fi
done

# Tensor names may hold any byte but C0 controls; the text report must
# escape C1 controls and invalid UTF-8 (the JSON report does too).
inspect --tensors "$cases/34-name-c1-invalid-utf8.gguf"
if LC_ALL=C grep -q "$(printf '\302\233')" "$tmp/out"; then
	not_ok "case 34: inspect --tensors prints a C1 control in a tensor name raw"
else
	ok "case 34: C1 controls in a tensor name shown escaped"
fi

# ---- 53: not a regular file ----

mkfifo "$tmp/fifo.gguf"
mkdir "$tmp/dir.gguf"
ln -s /dev/zero "$tmp/zero-link.gguf"
ln -s "$tmp/fifo.gguf" "$tmp/fifo-link.gguf"
ln -s "$tmp/nowhere.gguf" "$tmp/dangling.gguf"
for f in "$tmp/fifo.gguf" "$tmp/dir.gguf" "$tmp/zero-link.gguf" "$tmp/fifo-link.gguf" \
	"$tmp/dangling.gguf" "$tmp/missing.gguf" /dev/zero /dev/urandom /dev/null; do
	[ -e "$f" ] || [ -L "$f" ] || [ "${f#"$tmp"}" != "$f" ] || continue
	check_invalid "$f" "case 53: $f refused before reading" open
done
# a part of a split model that is a FIFO
mkdir "$tmp/split"
cp "$cases/56-count-differs-00001-of-00002.gguf" "$tmp/split/fifo-00001-of-00002.gguf"
mkfifo "$tmp/split/fifo-00002-of-00002.gguf"
check_invalid "$tmp/split/fifo-00001-of-00002.gguf" "case 53: a split part that is a FIFO" \
	"split:$tmp/split/fifo-00002-of-00002.gguf"

# ---- 54: a file truncated between runs, then while it is read ----

src=$cases/54-race-source.gguf
v=$tmp/race.gguf
size=$(($(wc -c <"$src")))
# cut CUT: $v becomes the first CUT bytes of $src
cut() {
	if [ "$1" -eq 0 ]; then
		: >"$v"
	else
		dd if="$src" of="$v" bs="$1" count=1 2>/dev/null
	fi
}
for c in 0 3 23 24 4096 65536 262143 262144 262145 $((size / 2)) $((size - 100)) \
	$((size - 1)); do
	cut "$c"
	if [ "$(($(wc -c <"$v")))" -ne "$c" ]; then
		: >"$tmp/err"
		not_ok "case 54: cannot cut the file to $c bytes"
		continue
	fi
	check_invalid "$v" "case 54: cut to $c of $size bytes" offset
done
cp "$src" "$v"
check_valid "$v" "case 54: the whole file"

: >"$tmp/racing"
(
	i=0
	while [ -f "$tmp/racing" ]; do
		i=$((i + 1))
		case $((i % 5)) in
		0) cat "$src" >"$v" ;;
		1) cut 300000 ;;
		2) : >"$v" ;;
		3) cut 100000 ;;
		4) cut $((size - 7)) ;;
		esac
	done
) &
bg=$!
runs=0 bad=
start=$(date +%s)
while [ "$runs" -lt 20 ] || [ "$(date +%s)" -le "$start" ]; do
	inspect "$v"
	runs=$((runs + 1))
	case $rc in
	0) ;;
	2) one_line "$tmp/err" || bad="run $runs: $(lines "$tmp/err") lines on stderr" ;;
	*) bad="run $runs: exit status $rc" ;;
	esac
	clean_run || bad="run $runs: sanitizer report"
	[ -n "$bad" ] && break
	[ "$runs" -ge 5000 ] && break
done
rm -f "$tmp/racing"
wait "$bg"
bg=
if [ -z "$bad" ]; then
	ok "case 54: $runs runs while the file is cut and rewritten: each exits 0 or 2"
else
	not_ok "case 54: truncation race: $bad"
fi

echo "1..$n"
