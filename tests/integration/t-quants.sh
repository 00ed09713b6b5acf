#!/bin/sh
# t-quants.sh: llmem's quantization mixes (src/model/quant.c) against the
# real llama-quantize. For a dense llama, a MoE qwen3moe (with expert rows
# that are not a multiple of 256, so the fallbacks run) and a
# sliding-window gemma3 it synthesizes a small F16 model with the real
# tensor layout (tests/tools/gguf-synth, real tokenizer), quantizes it
# with the pinned llama-quantize to every file type that needs no
# importance matrix, and checks tensor by tensor that
# `llmem quants F16.gguf --ftype T --tensors` predicted the types
# llama-quantize wrote, and the file size within 0.1%. Then it checks the
# catalog names work without a file. Without the llama.cpp build the
# llama-quantize cases are reported skipped.
set -u
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
LLMEM=${LLMEM:-$ROOT/build/llmem}
TOOLS=${TOOLS:-$ROOT/build/tools}
CACHE=${LLMEM_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/llmem}
n=0

ok() { n=$((n + 1)); echo "ok $n - $*"; }
not_ok() { n=$((n + 1)); echo "not ok $n - $*"; }
skip() { n=$((n + 1)); echo "ok $n # SKIP $*"; }

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT INT TERM

# ---- catalog models need no file ----
if "$LLMEM" inspect llama-3.3-70b:q4_k_m >"$tmp/i.txt" 2>&1 && grep -q 'Q4_K_M' "$tmp/i.txt"; then
	ok "inspect llama-3.3-70b:q4_k_m"
else
	not_ok "inspect llama-3.3-70b:q4_k_m"; sed 's/^/# /' "$tmp/i.txt"
fi
if "$LLMEM" estimate qwen3-30b-a3b:q8_0 -c 4096 --json >"$tmp/e.json" 2>&1 &&
	jq -e '.devices | length >= 1' "$tmp/e.json" >/dev/null 2>&1; then
	ok "estimate qwen3-30b-a3b:q8_0"
else
	not_ok "estimate qwen3-30b-a3b:q8_0"; head -5 "$tmp/e.json" | sed 's/^/# /'
fi
"$LLMEM" inspect llama-3.3-7b >/dev/null 2>"$tmp/err"
rc=$?
if [ "$rc" -eq 2 ] && grep -q 'llama-3.3-70b' "$tmp/err" && [ "$(wc -l <"$tmp/err")" -eq 1 ]; then
	ok "unknown name: exit 2, one line naming close catalog names"
else
	not_ok "unknown name: exit $rc"; sed 's/^/# /' "$tmp/err"
fi
"$LLMEM" inspect llama-3.3-70b:q9_k >/dev/null 2>&1
rc=$?
[ "$rc" -eq 2 ] && ok "unknown file type: exit 2" || not_ok "unknown file type: exit $rc"
for name in $("$LLMEM" quants --list | awk '{print $1}'); do
	if "$LLMEM" quants "$name" --mem 1TB --json >"$tmp/q.json" 2>"$tmp/q.err" &&
		jq -e '.rows | length >= 14' "$tmp/q.json" >/dev/null; then
		ok "quants $name"
	else
		not_ok "quants $name"; sed 's/^/# /' "$tmp/q.err"
	fi
	# the file holds the tensor bytes quants predicted for Q4_K_M
	"$LLMEM" inspect "$name" --json >"$tmp/c.json" 2>/dev/null
	want=$(jq '.rows[] | select(.file_type == "Q4_K_M") | .tensor_bytes' "$tmp/q.json")
	if "$LLMEM" synth "$name:q4_k_m" -o "$tmp/s.gguf" 2>"$tmp/s.err" &&
		"$LLMEM" inspect "$tmp/s.gguf" --json >"$tmp/s.json" 2>>"$tmp/s.err" &&
		{ [ "$(jq .data_bytes "$tmp/s.json")" = "$want" ] ||
		  [ "$(jq .vocab_size "$tmp/s.json")" != "$(jq .vocab_size "$tmp/c.json")" ]; }; then
		# a real tokenizer of another size resizes the embeddings
		ok "synth $name: inspect reads it; tensor bytes $(jq .data_bytes "$tmp/s.json") (predicted $want)"
	else
		not_ok "synth $name"; sed 's/^/# /' "$tmp/s.err"
	fi
	rm -f "$tmp/s.gguf"
done

# ---- against llama-quantize ----
bin=""
src=""
if [ -f "$CACHE/peers.env" ]; then
	# shellcheck disable=SC1091
	. "$CACHE/peers.env"
	[ -x "$CACHE/llama-bin-${LLAMA_CPP_COMMIT:-none}/llama-quantize" ] &&
		bin="$CACHE/llama-bin-$LLAMA_CPP_COMMIT"
	src=${LLMEM_PEERS_SRC:-}
fi
cases='llama|--shape llama-3.2-1b --layers 8 --embd 512 --ff 1536 --heads 8 --kv-heads 2|llama-bpe
qwen3moe|--shape qwen3-30b-a3b --layers 8 --embd 512 --ff 1536 --ff-exp 320 --heads 8 --kv-heads 2 --experts 8 --experts-used 2|qwen2
gemma3|--shape gemma-3-1b --layers 8 --embd 512 --ff 1536 --heads 4 --kv-heads 1|gemma-4'
types='Q8_0 Q6_K Q5_K_M Q5_K_S Q4_K_M Q4_K_S Q4_0 Q3_K_L Q3_K_M Q3_K_S Q2_K IQ4_XS IQ4_NL MXFP4_MOE BF16'

echo "$cases" | while IFS='|' read -r arch recipe vocab; do
	if [ -z "$bin" ] || [ ! -f "$src/models/ggml-vocab-$vocab.gguf" ]; then
		for t in $types; do
			skip "$arch $t: no llama.cpp build (run scripts/build-llama.sh)"
		done
		continue
	fi
	f16="$tmp/$arch-f16.gguf"
	# shellcheck disable=SC2086
	if ! "$TOOLS/gguf-synth" $recipe --ftype f16 --vocab-from "$src/models/ggml-vocab-$vocab.gguf" \
		"$f16" >"$tmp/synth.log" 2>&1; then
		not_ok "$arch: gguf-synth failed"; sed 's/^/# /' "$tmp/synth.log"
		continue
	fi
	for t in $types; do
		[ "$t" = MXFP4_MOE ] && [ "$arch" != qwen3moe ] && continue
		out="$tmp/$arch-$t.gguf"
		if ! "$bin/llama-quantize" "$f16" "$out" "$t" 2 >"$tmp/q.log" 2>&1; then
			not_ok "$arch $t: llama-quantize failed"; tail -3 "$tmp/q.log" | sed 's/^/# /'
			continue
		fi
		"$LLMEM" inspect "$out" --json --tensors >"$tmp/real.json" 2>&1 &&
		"$LLMEM" quants "$f16" --ftype "$t" --tensors --mem 1TB --json >"$tmp/pred.json" 2>&1 || {
			not_ok "$arch $t: llmem failed"; head -3 "$tmp/pred.json" | sed 's/^/# /'; continue; }
		jq -r '.tensors[] | "\(.name) \(.type)"' "$tmp/real.json" | sort >"$tmp/real.txt"
		jq -r '.rows[0].tensors | to_entries[] | "\(.key) \(.value)"' "$tmp/pred.json" | sort >"$tmp/pred.txt"
		real_size=$(wc -c <"$out")
		pred_size=$(jq '.rows[0].file_bytes' "$tmp/pred.json")
		if ! cmp -s "$tmp/real.txt" "$tmp/pred.txt"; then
			not_ok "$arch $t: tensor types differ (llama-quantize < > llmem)"
			diff "$tmp/real.txt" "$tmp/pred.txt" | head -8 | sed 's/^/# /'
		elif ! awk -v a="$real_size" -v b="$pred_size" 'BEGIN { d = a - b; if (d < 0) d = -d; exit !(d <= a * 0.001) }'; then
			not_ok "$arch $t: file size $pred_size predicted, $real_size written"
		else
			ok "$arch $t: $(wc -l <"$tmp/real.txt") tensors typed as llama-quantize does, size $pred_size of $real_size"
		fi
		rm -f "$out"
	done
done
