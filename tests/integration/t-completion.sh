#!/bin/sh
# t-completion.sh: contrib/llmem.bash-completion, sourced into bash: it
# registers itself for llmem, completes the subcommands, the options of each
# and the values of a few, and offers every command 'llmem --help' lists and
# every option each 'llmem COMMAND --help' lists (so a new option without a
# completion fails here). Skipped without bash.
set -u
BUILD=${BUILD:-build}
LLMEM=${LLMEM:-$PWD/$BUILD/llmem}
COMP=$PWD/contrib/llmem.bash-completion
n=0
ok() { n=$((n + 1)); echo "ok $n - $*"; }
not_ok() { n=$((n + 1)); echo "not ok $n - $*"; }
skip() { n=$((n + 1)); echo "ok $n # SKIP $*"; }

if ! command -v bash >/dev/null 2>&1; then
	skip "no bash"
	exit 0
fi
tmp=$(mktemp -d) || exit 1
trap 'rm -rf "$tmp"' EXIT
# llmem on PATH for the catalog completion
mkdir -p "$tmp/bin" "$tmp/files/sub"
ln -s "$LLMEM" "$tmp/bin/llmem"
: >"$tmp/files/a.gguf"
: >"$tmp/files/b.txt"

# comp WORDS...: what completing the last word offers, one per line, sorted
comp() {
	PATH="$tmp/bin:$PATH" bash --norc --noprofile -c '
		. "$1" || exit 3
		shift
		COMP_WORDS=("$@")
		COMP_CWORD=$((${#COMP_WORDS[@]} - 1))
		COMP_LINE="$*"
		COMP_POINT=${#COMP_LINE}
		COMPREPLY=()
		_llmem
		printf "%s\n" "${COMPREPLY[@]}"' bash "$COMP" "$@" | sed '/^$/d' | sort
}
has() { # has WORD LIST: WORD is a line of LIST
	printf '%s\n' "$2" | grep -qxF -- "$1"
}

# 1. it registers
reg=$(bash --norc --noprofile -c '. "$1" && complete -p llmem' bash "$COMP" 2>&1)
case $reg in
*"-F _llmem"*" llmem") ok "complete -p llmem: $reg" ;;
*) not_ok "complete -p llmem: '$reg'" ;;
esac

# 2. subcommands
out=$(comp llmem '')
missing=""
for c in $("$LLMEM" --help | awk '/^commands:/ {on = 1; next} on && /^  [a-z]/ {print $1}'); do
	has "$c" "$out" || missing="$missing $c"
done
if [ -z "$missing" ] && has help "$out" && [ "$(comp llmem se)" = serve ]; then
	ok "every command of 'llmem --help' completes ('se' -> serve)"
else
	not_ok "commands: missing '$missing'; 'se' -> '$(comp llmem se)'"
fi
check_eq() { # check_eq LABEL WANT GOT
	if [ "$2" = "$3" ]; then ok "$1"; else not_ok "$1: want '$2', got '$3'"; fi
}
check_eq "llmem help ins -> inspect" inspect "$(comp llmem help ins)"
check_eq "llmem serve --no- -> --no-cgroups --no-pressure" "--no-cgroups
--no-pressure" "$(comp llmem serve --no-)"
check_eq "llmem fit m.gguf --for '' -> its modes" "json
llama-server
ollama" "$(comp llmem fit m.gguf --for '')"
check_eq "llmem estimate -fa '' -> on off auto" "auto
off
on" "$(comp llmem estimate x.gguf -fa '')"
check_eq "llmem inspect DIR/ -> .gguf files and directories" "$tmp/files/a.gguf
$tmp/files/sub" "$(comp llmem inspect "$tmp/files/")"
check_eq "llmem serve --models-dir DIR/ -> directories" "$tmp/files/sub" \
	"$(comp llmem serve --models-dir "$tmp/files/")"
check_eq "llmem serve --port '' -> nothing (a value)" "" "$(comp llmem serve --port '')"
got=$(comp llmem quants llama-3.2-)
if has llama-3.2-1b "$got" && has llama-3.2-3b "$got"; then
	ok "llmem quants llama-3.2- -> catalog names ($(echo $got))"
else
	not_ok "llmem quants llama-3.2- -> '$got'"
fi

# 3. every option of every --help is offered
bad=""
for c in $("$LLMEM" --help | awk '/^commands:/ {on = 1; next} on && /^  [a-z]/ {print $1}'); do
	offered=$(comp llmem "$c" -)
	for o in $("$LLMEM" "$c" --help 2>&1 | grep -E '^usage:|^ +-' |
		grep -oE -- '(^|[ ,/[(|])--?[a-z][a-z0-9-]*' | sed 's/^[ ,/[(|]//' | sort -u); do
		has "$o" "$offered" || bad="$bad $c:$o"
	done
done
if [ -z "$bad" ]; then
	ok "every option of every 'llmem COMMAND --help' completes"
else
	not_ok "options not offered:$bad"
fi
