#!/bin/sh
# t-truth.sh: llmem estimate against what the real llama-server allocates.
# For each architecture it synthesizes a small model that llama.cpp loads
# (real tokenizer metadata from llama.cpp's vocabulary files), starts
# llama-server on loopback (scripts/llama-truth.sh), and compares every
# component of `llmem estimate --json` for the same options with the
# buffers the server logged: weights (and their mapped / repacked split),
# KV cache, recurrent state, compute and output buffers, each within 1% or
# 4 MiB (tests/tools/truth-compare). The totals are printed, not asserted
# (see bench/RESULTS.md for where they stand).
#
# Needs the llama.cpp build that scripts/build-llama.sh caches (.ci/run
# makes it); without it every case is reported skipped.
set -u
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
LLMEM=${LLMEM:-$ROOT/build/llmem}
TOOLS=${TOOLS:-$ROOT/build/tools}
CACHE=${LLMEM_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/llmem}
n=0

ok() { n=$((n + 1)); echo "ok $n - $*"; }
not_ok() { n=$((n + 1)); echo "not ok $n - $*"; }
skip() { n=$((n + 1)); echo "ok $n # SKIP $*"; }

# arch|gguf-synth recipe|vocabulary file, one model a line
cases=$(cat "$ROOT/scripts/truth-models.txt")
configs='-c 4096
-c 512 -fa on -ctk q8_0 -ctv q8_0 -np 1'

bin=""
src=""
if [ -f "$CACHE/peers.env" ]; then
	# shellcheck disable=SC1091
	. "$CACHE/peers.env"
	[ -x "$CACHE/llama-bin-${LLAMA_CPP_COMMIT:-none}/llama-server" ] &&
		bin="$CACHE/llama-bin-$LLAMA_CPP_COMMIT"
	src=${LLMEM_PEERS_SRC:-}
fi
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT INT TERM

# one model (arch, gguf-synth recipe, vocabulary) and one set of options:
# llama-server's buffers against llmem's estimate, component by component
one_case() {
	arch=$1 recipe=$2 vocab=$3 opts=$4
	label="$arch ($opts)"
	if [ -z "$bin" ] || [ ! -f "$src/models/ggml-vocab-$vocab.gguf" ]; then
		skip "$label: no llama.cpp build (run scripts/build-llama.sh)"
		return
	fi
	m="$tmp/$arch.gguf"
	if [ ! -f "$m" ]; then
		# shellcheck disable=SC2086
		"$TOOLS/gguf-synth" $recipe --vocab-from "$src/models/ggml-vocab-$vocab.gguf" "$m" \
			>"$tmp/synth.log" 2>&1 || { not_ok "$label: gguf-synth failed"; cat "$tmp/synth.log"; return; }
	fi
	# shellcheck disable=SC2086
	if ! LLMEM_LLAMA_BIN=$bin bash "$ROOT/scripts/llama-truth.sh" "$m" $opts \
		>"$tmp/truth.json" 2>"$tmp/truth.err"; then
		not_ok "$label: llama-server did not load it"
		sed 's/^/# /' "$tmp/truth.err" | tail -5
		return
	fi
	# shellcheck disable=SC2086
	if ! "$LLMEM" estimate "$m" $opts --json >"$tmp/est.json" 2>"$tmp/est.err"; then
		not_ok "$label: llmem estimate failed: $(cat "$tmp/est.err")"
		return
	fi
	"$TOOLS/truth-compare" "$tmp/truth.json" "$tmp/est.json" "$arch" >"$tmp/cmp" 2>&1
	for comp in weights mapped repack kv recurrent compute output; do
		line=$(awk -v c="$comp" '$2 == c {print; exit}' "$tmp/cmp")
		case $line in
		*" ok") ok "$label $comp: $(echo "$line" | awk '{print $3, "vs", $4, $5, $6}')" ;;
		*) not_ok "$label $comp: ${line:-missing from the comparison}" ;;
		esac
	done
	grep -E " total " "$tmp/cmp" | sed 's/^/# /'
}

while IFS='|' read -r arch recipe vocab; do
	while read -r opts; do
		one_case "$arch" "$recipe" "$vocab" "$opts"
	done <<EOF2
$configs
EOF2
done <<EOF1
$cases
EOF1
# no -c: llama-server's --fit (its default) gives each slot the training
# context, so the cache is n_ctx_train x slots (one model: it is large)
IFS='|' read -r arch recipe vocab <<EOF3
$(head -n 1 "$ROOT/scripts/truth-models.txt")
EOF3
one_case "$arch" "$recipe" "$vocab" "-np 2"

# --mmproj: the projector's weights (a Gemma 3 or Idefics3 vision tower of
# tests/tools/mmproj-synth, sized to the first model's text width) against
# the size clip.cpp reports loading ("model size": the sum of its
# tensors; the buffer pads each to 32 B), and the compute buffer it
# reserves for its warmup image (with the server's warmup), with flash
# attention (-fa auto: on, on the CPU) and without
if [ -n "$bin" ] && [ -f "$tmp/$arch.gguf" ]; then
	mp="$tmp/mmproj.gguf"
	for spec in "gemma3 auto" "gemma3 off" "idefics3 auto" "idefics3 off"; do
		ty=${spec% *} fa=${spec#* }
		"$TOOLS/mmproj-synth" --type "$ty" --text-embd 512 --embd 256 --ff 1024 --layers 4 --heads 4 \
			--image 128 --patch 8 "$mp"
		LLMEM_LLAMA_BIN=$bin LLAMA_TRUTH_WARMUP=1 LLAMA_TRUTH_LOG=$tmp/mm.log bash "$ROOT/scripts/llama-truth.sh" \
			"$tmp/$arch.gguf" -c 512 -fa $fa --mmproj "$mp" >"$tmp/truth.json" 2>"$tmp/truth.err"
		got=$(sed -n 's/.*load_hparams: model size: *\([0-9.]*\) MiB.*/\1/p' "$tmp/mm.log" 2>/dev/null | head -n 1)
		gotc=$(sed -n 's/.*reserve_compute_meta: *CPU compute buffer size = *\([0-9.]*\) MiB.*/\1/p' "$tmp/mm.log" 2>/dev/null | tail -n 1)
		"$LLMEM" estimate "$tmp/$arch.gguf" -c 512 -fa $fa --mmproj "$mp" --json >"$tmp/est.json" 2>"$tmp/est.err"
		est=$("$TOOLS/json-get" "$tmp/est.json" devices/0/projector 2>/dev/null)
		estc=$("$TOOLS/json-get" "$tmp/est.json" devices/0/projector_compute 2>/dev/null)
		if [ -n "$got" ] && [ -n "$est" ] && [ -n "$gotc" ] && [ -n "$estc" ] &&
			awk -v g="$got" -v e="$est" -v gc="$gotc" -v ec="$estc" 'BEGIN { d = e - g * 1048576; dc = ec - gc * 1048576
				exit !(d >= -5243 && d <= 5243 + 128 * 32 && dc >= -5243 && dc <= 5243) }'; then
			ok "--mmproj $ty -fa $fa: projector weights $est B, clip.cpp loaded $got MiB; compute buffer $estc B, clip.cpp $gotc MiB (on the host)"
		elif [ -z "$got" ] || [ -z "$gotc" ]; then
			not_ok "--mmproj $ty -fa $fa: llama-server did not load the projector or reserve its buffer: $(tail -3 "$tmp/truth.err")"
		else
			not_ok "--mmproj $ty -fa $fa: llmem $est B + $estc B, clip.cpp $got MiB + $gotc MiB ($(cat "$tmp/est.err"))"
		fi
	done
else
	skip "--mmproj: no llama.cpp build (run scripts/build-llama.sh)"
fi

# Context checkpoints: llama-server saves, per slot, what the cache cannot
# roll back (the sliding-window cells, a recurrent state) while it
# processes a long prompt; the size it logs ("created context checkpoint
# 1 of 32 (... size = X MiB)", 3 decimals) against llmem's checkpoint_bytes.
# A model with neither (llama) makes none, and llmem counts none.
ck_port() {
	local p
	for _ in $(seq 1 50); do
		p=$((20000 + (RANDOM * 32768 + RANDOM) % 40000))
		(exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null || { echo "$p"; return 0; }
	done
	return 1
}
ck_case() {
	local arch=$1 opts=$2 port pid got est prompt
	if [ -z "$bin" ] || [ ! -f "$tmp/$arch.gguf" ] || ! command -v curl >/dev/null; then
		skip "checkpoints $arch ($opts): no llama.cpp build or curl"
		return
	fi
	port=$(ck_port) || { not_ok "checkpoints $arch: no free port"; return; }
	# shellcheck disable=SC2086
	"$bin/llama-server" -m "$tmp/$arch.gguf" --host 127.0.0.1 --port "$port" --no-warmup -lv 4 --offline \
		$opts </dev/null >"$tmp/ck.log" 2>&1 &
	pid=$!
	for _ in $(seq 1 240); do
		curl -sf "http://127.0.0.1:$port/health" >/dev/null 2>&1 && break
		kill -0 "$pid" 2>/dev/null || break
		sleep 0.25
	done
	prompt=$(for _ in $(seq 1 400); do printf 'hello world this is a test '; done)
	curl -s "http://127.0.0.1:$port/completion" -d "{\"prompt\": \"$prompt\", \"n_predict\": 1}" >/dev/null
	kill "$pid" 2>/dev/null
	wait "$pid" 2>/dev/null
	got=$(sed -n 's/.*created context checkpoint 1 of .*size = \([0-9.]*\) MiB.*/\1/p' "$tmp/ck.log" | head -n 1)
	# shellcheck disable=SC2086
	est=$("$LLMEM" estimate "$tmp/$arch.gguf" $opts --json 2>"$tmp/est.err" | "$TOOLS/json-get" /dev/stdin checkpoint_bytes)
	if [ -z "$got" ] && [ "$est" = 0 ] && grep -q "prompt done\|n_tokens = \|print_timing" "$tmp/ck.log"; then
		ok "checkpoints $arch ($opts): none made, none counted"
	elif [ -n "$got" ] && [ -n "$est" ] &&
		awk -v g="$got" -v e="$est" 'BEGIN { d = e - g * 1048576; exit !(d >= -530 && d <= 530) }'; then
		ok "checkpoints $arch ($opts): $est B each, llama-server $got MiB"
	else
		not_ok "checkpoints $arch ($opts): llmem ${est:-?} B, llama-server ${got:-none} ($(tail -n 2 "$tmp/ck.log"))"
	fi
}
ck_case gemma3 "-c 8192 -np 1"
ck_case gemma3 "-c 8192 -np 2 --no-kv-unified -fa off"
ck_case gemma3 "-c 8192 -np 1 -fa on -ctk q8_0 -ctv q8_0"
ck_case gemma3 "-c 8192 -np 1 -md $tmp/gemma3.gguf"
ck_case gpt-oss "-c 8192 -np 1"
ck_case lfm2 "-c 8192 -np 1"
ck_case llama "-c 8192 -np 1"

# --lora: the adapters' buffers ("LoRA buffer size", one line a buffer
# type: the mapped weights' and the CPU's for repacked ones) and the
# compute buffer with their matrix products in the graph (the last
# reserve), against llmem's lora and compute; adapters of
# tests/tools/lora-synth on every block matrix
lora_case() {
	local arch=$1 rank=$2 opts=$3 how=${4:-} got gotc est estc lo
	if [ -z "$bin" ] || [ ! -f "$tmp/$arch.gguf" ]; then
		skip "--lora $arch ($opts): no llama.cpp build"
		return
	fi
	"$TOOLS/lora-synth" "$tmp/$arch.gguf" --rank "$rank" \
		--targets attn_q,attn_k,attn_v,attn_output,ffn_up,ffn_gate,ffn_down "$tmp/lora.gguf" || {
		not_ok "--lora $arch: lora-synth failed"
		return
	}
	# how: applied (--lora), "scale 0" (--lora-scaled F:0) or "not applied"
	# (--lora-init-without-apply): the last two leave the graph as it is
	case $how in
	"scale 0") lo="--lora-scaled $tmp/lora.gguf:0" ;;
	"not applied") lo="--lora $tmp/lora.gguf --lora-init-without-apply" ;;
	*) lo="--lora $tmp/lora.gguf" ;;
	esac
	# shellcheck disable=SC2086
	LLMEM_LLAMA_BIN=$bin LLAMA_TRUTH_LOG=$tmp/lora.log bash "$ROOT/scripts/llama-truth.sh" "$tmp/$arch.gguf" \
		$opts $lo >"$tmp/truth.json" 2>"$tmp/truth.err"
	got=$(sed -n 's/.*LoRA buffer size = *\([0-9.]*\) MiB.*/\1/p' "$tmp/lora.log" | awk '{ s += $1; n++ } END { if (n) printf "%.2f %d", s, n }')
	gotc=$(sed -n 's/.*sched_reserve: *CPU compute buffer size = *\([0-9.]*\) MiB.*/\1/p' "$tmp/lora.log" | tail -n 1)
	# shellcheck disable=SC2086
	"$LLMEM" estimate "$tmp/$arch.gguf" $opts $lo --json >"$tmp/est.json" 2>"$tmp/est.err"
	est=$("$TOOLS/json-get" "$tmp/est.json" devices/0/lora 2>/dev/null)
	estc=$("$TOOLS/json-get" "$tmp/est.json" devices/0/compute 2>/dev/null)
	if [ -n "$got" ] && [ -n "$gotc" ] && [ -n "$est" ] && [ -n "$estc" ] &&
		awk -v g="${got% *}" -v n="${got#* }" -v e="$est" -v gc="$gotc" -v ec="$estc" 'BEGIN {
			d = e - g * 1048576; dc = ec - gc * 1048576
			exit !(d >= -5243 * n && d <= 5243 * n && dc >= -5243 && dc <= 5243) }'; then
		ok "--lora $arch rank $rank ($opts${how:+, $how}): adapters $est B (llama-server ${got% *} MiB in ${got#* } buffers), compute $estc B ($gotc MiB)"
	else
		not_ok "--lora $arch rank $rank ($opts${how:+, $how}): llmem $est B + compute $estc B; llama-server ${got:-none} MiB + compute ${gotc:-?} MiB ($(tail -n 2 "$tmp/truth.err") $(cat "$tmp/est.err"))"
	fi
}
lora_case llama 16 "-c 4096"
lora_case gemma3 64 "-c 4096"
lora_case gemma3 64 "-c 512 -ub 2048 -b 2048"
lora_case qwen3 32 "-c 4096 -fa off"
lora_case gemma3 64 "-c 4096" "scale 0"
lora_case gemma3 64 "-c 4096" "not applied"

# -md: a draft model for speculative decoding (a smaller model of the same
# vocabulary). llama-server logs both models' buffers; their sum on the
# host against llmem's weights, caches, compute and output buffers plus
# its draft, within the logs' rounding (0.005 MiB a line)
if [ -n "$bin" ] && [ -f "$tmp/$arch.gguf" ]; then
	dm="$tmp/draft.gguf"
	"$TOOLS/gguf-synth" --shape llama-3.2-1b --layers 2 --embd 256 --ff 768 --heads 4 --kv-heads 2 \
		--vocab-from "$src/models/ggml-vocab-$vocab.gguf" "$dm" >/dev/null 2>&1 &&
		LLMEM_LLAMA_BIN=$bin bash "$ROOT/scripts/llama-truth.sh" "$tmp/$arch.gguf" -c 512 -md "$dm" \
			>"$tmp/truth.json" 2>"$tmp/truth.err"
	got=$(python3 -c '
import json, sys
t = json.load(open(sys.argv[1]))
print(sum(v["bytes"] for k in ("model", "kv", "rs", "compute", "output") for v in t[k + "_buffer_totals"].values()))
' "$tmp/truth.json" 2>/dev/null)
	est=$("$LLMEM" estimate "$tmp/$arch.gguf" -c 512 -md "$dm" --json 2>"$tmp/est.err" | python3 -c '
import json, sys
h = json.load(sys.stdin)["devices"][0]
print(sum(h[k] for k in ("weights", "kv", "recurrent", "compute", "output", "draft")), h["draft"])
' 2>/dev/null)
	if [ -n "$got" ] && [ -n "$est" ] &&
		awk -v g="$got" -v e="${est% *}" 'BEGIN { d = e - g; exit !(d >= -65536 && d <= 65536) }'; then
		ok "-md: both models' buffers $got B, llmem ${est% *} B (the draft's ${est#* } B)"
	else
		not_ok "-md: llama-server's buffers '$got', llmem '$est' ($(tail -2 "$tmp/truth.err") $(cat "$tmp/est.err"))"
	fi
else
	skip "-md: no llama.cpp build (run scripts/build-llama.sh)"
fi
