#!/bin/sh
# t-options.sh: `llmem estimate` and `llmem fit` read llama-server's
# options as llama-server (v0.5.0, common/arg.cpp) reads them, so that a
# llama-server command line can be pasted in and a printed one means what
# was planned:
# - names match exactly (no abbreviations, no -name for --name), a "--"
#   name also with '_' for '-'; every llama-server option is accepted,
#   those that change memory in ways the estimate leaves out with a note;
# - -ot, --cpu-moe, --n-cpu-moe and --n-cpu-ffn form one list in
#   command-line order, first match wins, and fit prints them in the order
#   it planned with;
# - the value spellings llama.cpp takes (-fa enabled, -no-kvu, -kvo,
#   --repack, -ub 0, -fit off, --rerank) and the ones it refuses
#   (-ctk Q8_0, -ot ...=cpu);
# - --pooling alone makes llama-server output whole batches but keeps no
#   embeddings; fit prints --embeddings, --pooling and -lm dio.
#
# Run from the repository root with LLMEM and TOOLS set (tests/run.sh).
set -u
LLMEM=${LLMEM:?}
TOOLS=${TOOLS:?}
GET=$TOOLS/json-get
tmp=$(mktemp -d "${TMPDIR:-/tmp}/t-options.XXXXXX") || exit 1
trap 'rm -rf "$tmp"' EXIT
trap 'exit 1' HUP INT TERM
n=0
ok() { n=$((n + 1)); echo "ok $n - $*"; }
not_ok() { n=$((n + 1)); echo "not ok $n - $*"; }

"$TOOLS/gguf-synth" --shape llama-3.1-8b --ftype q4_k_m "$tmp/dense.gguf" >/dev/null || exit 1
"$TOOLS/gguf-synth" --shape qwen3-30b-a3b --ftype q4_k_m "$tmp/moe.gguf" >/dev/null || exit 1

set -f
# est MODEL JSONPATH options...: prints the value, or "error: ..."
est() {
	m=$1 p=$2
	shift 2
	if "$LLMEM" estimate "$tmp/$m.gguf" "$@" --json >"$tmp/e.json" 2>"$tmp/err"; then
		"$GET" "$tmp/e.json" "$p"
	else
		echo "error: $(cat "$tmp/err")"
	fi
}
# refused OPTION... : estimate must exit 2 with one line on stderr
refused() {
	"$LLMEM" estimate "$tmp/dense.gguf" "$@" >/dev/null 2>"$tmp/err"
	st=$?
	if [ "$st" = 2 ] && [ "$(wc -l <"$tmp/err")" = 1 ]; then
		ok "refused: $* ($(cat "$tmp/err"))"
	else
		not_ok "$*: status $st, $(cat "$tmp/err")"
	fi
}

# ---- names -----------------------------------------------------------
a=$(est dense config/ctx_size -c 8192)
b=$(est dense config/ctx_size --ctx-size 8192)
c=$(est dense config/ctx_size --ctx_size 8192)
if [ "$a" = 8192 ] && [ "$b" = 8192 ] && [ "$c" = 8192 ]; then
	ok "-c, --ctx-size and --ctx_size are one option"
else
	not_ok "-c $a, --ctx-size $b, --ctx_size $c"
fi
refused --ctx 8192
refused -ctx-size 8192
refused --ngl 10
refused --bogus-option
refused -c
# a pasted llama-server command line: options that do not change memory
# are read past (with their values), the estimate is the same
a=$(est dense devices/0/total -c 8192)
b=$(est dense devices/0/total --host 127.0.0.1 --port 8080 -t 8 --jinja -c 8192 --no-warmup --temp 0.7 \
	--reverse-prompt -c -a my-model --control-vector-layer-range 1 4)
if [ -n "$a" ] && [ "$a" = "$b" ] && [ ! -s "$tmp/err" ]; then
	ok "llama-server's other options are read past, silently ($b B)"
else
	not_ok "with llama-server's other options: $b, without: $a ($(cat "$tmp/err"))"
fi
b=$(est dense devices/0/total -c 8192 -otd x=CPU)
if [ "$a" = "$b" ] && grep -q 'note: -otd is not in this estimate' "$tmp/err"; then
	ok "-otd: accepted, with a note that it comes on top"
else
	not_ok "-otd: $b vs $a; stderr: $(cat "$tmp/err")"
fi
# --lora: the adapters' tensors on the device of the weight each adapts
# (with -ngl all: the GPU), in its total; --lora-scaled FNAME:SCALE and a
# comma list are read as llama-server reads them; fit prints them
"$TOOLS/lora-synth" "$tmp/dense.gguf" --rank 16 "$tmp/l.gguf" || exit 1
l1=$(est dense devices/1/lora -c 8192 --gpu 24GiB --lora "$tmp/l.gguf")
t1=$(est dense devices/1/total -c 8192 --gpu 24GiB --lora "$tmp/l.gguf")
t0=$(est dense devices/1/total -c 8192 --gpu 24GiB)
l2=$(est dense devices/1/lora -c 8192 --gpu 24GiB --lora-scaled "$tmp/l.gguf:0.5,$tmp/l.gguf:1")
l0=$(est dense devices/0/lora -c 8192 --lora "$tmp/l.gguf")
# 32 layers x (q: 4096x16 + 16x4096, v: 4096x16 + 16x1024) F16, 128-B aligned
if [ "$l1" = $((32 * (2 * 4096 * 16 * 2 + (4096 * 16 + 16 * 1024) * 2))) ] && [ "$t1" -gt "$t0" ] 2>/dev/null &&
	[ "$l2" = $((2 * l1)) ] && [ "$l0" = "$l1" ]; then
	ok "--lora: $l1 B on CUDA0 (total $t0 -> $t1), twice with two --lora-scaled, on the host without a GPU"
else
	not_ok "--lora: CUDA0 $l1 (total $t0 -> $t1), two adapters $l2, host $l0; $(cat "$tmp/err")"
fi
"$TOOLS/lora-synth" "$tmp/moe.gguf" "$tmp/l-moe.gguf" || exit 1
r1=$(est dense devices/0/lora --lora "$tmp/l-moe.gguf")
r2=$(est dense devices/0/lora --lora-scaled "$tmp/l.gguf")
r3=$(est dense devices/0/lora --lora "$tmp/missing.gguf")
case "$r1|$r2|$r3" in
*"arch mismatch"*"|"*"FNAME:SCALE"*"|"*"cannot open"*)
	ok "--lora refusals: another architecture, --lora-scaled without a scale, a missing file" ;;
*) not_ok "--lora refusals: $r1 | $r2 | $r3" ;;
esac
if LLMEM_NVML=none "$LLMEM" fit "$tmp/dense.gguf" -c 8192 --gpu 24GiB --lora-scaled "$tmp/l.gguf:0.5" \
	>"$tmp/plan.txt" 2>"$tmp/err" && grep -q "^command: llama-server -m .* --lora-scaled [^ ]*l.gguf:0.5" "$tmp/plan.txt"; then
	ok "fit prints --lora-scaled"
else
	not_ok "fit --lora-scaled: $(grep command "$tmp/plan.txt") $(cat "$tmp/err")"
fi
# -md: a draft model, estimated as llama-server sets up its context (the
# target's options with -ngld and -ctkd/-ctvd), in each device's total;
# fit prints it
"$TOOLS/gguf-synth" --shape llama-3.2-1b --ftype q4_k_m "$tmp/draft.gguf" >/dev/null || exit 1
d1=$(est dense devices/1/draft -c 8192 --gpu 24GiB -md "$tmp/draft.gguf")
t1=$(est dense devices/1/total -c 8192 --gpu 24GiB -md "$tmp/draft.gguf")
t0=$(est dense devices/1/total -c 8192 --gpu 24GiB)
alone=$(est draft devices/1/total -c 8192 --gpu 24GiB) ao=$(est draft devices/1/overhead -c 8192 --gpu 24GiB)
d0=$(est dense devices/1/draft -c 8192 --gpu 24GiB -md "$tmp/draft.gguf" -ngld 0)
dq=$(est dense devices/1/draft -c 8192 --gpu 24GiB -md "$tmp/draft.gguf" -ctkd q8_0 -ctvd q8_0)
if [ -n "$d1" ] && [ "$t1" = $((t0 + d1)) ] && [ "$d1" = $((alone - ao)) ] && [ "$d0" -lt "$d1" ] &&
	[ "$dq" -lt "$d1" ] 2>/dev/null; then
	ok "-md: the draft's $d1 B on CUDA0 (its estimate alone less the CUDA context), in the total; less with -ngld 0 ($d0) or -ctkd q8_0 ($dq)"
else
	not_ok "-md: draft $d1, total $t0 -> $t1, alone $alone - $ao; -ngld 0 $d0; q8_0 $dq ($(cat "$tmp/err"))"
fi
# the draft's context is the target's (speculative.cpp), -c given or not
tc=$(est dense config/ctx_size -np 1) dn=$(est dense devices/0/draft -np 1 -md "$tmp/draft.gguf")
da=$("$LLMEM" estimate "$tmp/draft.gguf" -np 1 -c "$tc" --json 2>/dev/null | python3 -c '
import json, sys
h = json.load(sys.stdin)["devices"][0]
print(sum(h[k] for k in ("weights", "kv", "recurrent", "compute", "output")))')
if [ -n "$dn" ] && [ "$dn" = "$da" ]; then
	ok "-md without -c: the draft gets the target's context ($tc cells): $dn B"
else
	not_ok "-md without -c: draft $dn, the draft alone at -c $tc: $da"
fi
# an error in the draft's options is an error, not "does not fit"
LLMEM_NVML=none "$LLMEM" fit "$tmp/dense.gguf" -c 8192 --gpu 24GiB -md "$tmp/draft.gguf" -ctvd q8_0 -fa off \
	>"$tmp/plan.txt" 2>"$tmp/err"
st=$?
if [ "$st" = 2 ] && grep -q "draft model (-md): V cache quantization requires flash_attn" "$tmp/err"; then
	ok "fit -md -ctvd q8_0 -fa off: refused, saying why ($(cat "$tmp/err"))"
else
	not_ok "fit -md -ctvd q8_0 -fa off: status $st, $(cat "$tmp/err") $(head -3 "$tmp/plan.txt")"
fi
if LLMEM_NVML=none "$LLMEM" fit "$tmp/dense.gguf" -c 8192 --gpu 24GiB -md "$tmp/draft.gguf" -ctkd q8_0 \
	>"$tmp/plan.txt" 2>"$tmp/err" &&
	grep -q "^command: llama-server -m [^ ]* -md [^ ]*draft.gguf'* .*-ngld all -ctkd q8_0" "$tmp/plan.txt" &&
	grep -q "draft [0-9.]*)" "$tmp/plan.txt"; then
	ok "fit plans with the draft and prints -md, -ngld, -ctkd: $(grep '^command' "$tmp/plan.txt")"
else
	not_ok "fit -md: $(cat "$tmp/plan.txt") $(cat "$tmp/err")"
fi
# --mmproj: the projector's weights and compute buffer, on the first GPU
# (or the host with --no-mmproj-offload), in that device's total; fit
# prints it
"$TOOLS/mmproj-synth" --text-embd 4096 --embd 256 --ff 1024 --layers 2 "$tmp/mmproj.gguf" || exit 1
p1=$(est dense devices/1/projector -c 8192 --gpu 24GiB --mmproj "$tmp/mmproj.gguf")
c1=$(est dense devices/1/projector_compute -c 8192 --gpu 24GiB --mmproj "$tmp/mmproj.gguf")
t1=$(est dense devices/1/total -c 8192 --gpu 24GiB --mmproj "$tmp/mmproj.gguf")
t0=$(est dense devices/1/total -c 8192 --gpu 24GiB)
p0=$(est dense devices/0/projector -c 8192 --gpu 24GiB --mmproj "$tmp/mmproj.gguf" --no-mmproj-offload)
c0=$(est dense devices/0/projector_compute -c 8192 --gpu 24GiB --mmproj "$tmp/mmproj.gguf" --no-mmproj-offload)
if [ -n "$p1" ] && [ "$p1" -gt 0 ] && [ "$c1" -gt 0 ] && [ "$t1" = $((t0 + p1 + c1)) ] && [ "$p0" -gt 0 ] &&
	[ "$c0" = "$c1" ] 2>/dev/null; then
	ok "--mmproj: $p1 B of projector and $c1 B of its compute on CUDA0, in its total ($t0 -> $t1); on the host with --no-mmproj-offload"
else
	not_ok "--mmproj: CUDA0 projector $p1 + $c1, total $t0 -> $t1; host $p0 + $c0; $(cat "$tmp/err")"
fi
# a projector type whose vision graph is not modelled says so
LC_ALL=C sed 's/gemma3/xgemma/' "$tmp/mmproj.gguf" >"$tmp/mmproj-other.gguf"
if "$LLMEM" estimate "$tmp/dense.gguf" -c 8192 --mmproj "$tmp/mmproj-other.gguf" >"$tmp/est.txt" 2>"$tmp/err" &&
	grep -q "compute buffer is not counted for this projector type" "$tmp/est.txt" &&
	[ "$(est dense devices/0/projector_compute -c 8192 --mmproj "$tmp/mmproj-other.gguf")" = 0 ] &&
	[ -n "$(est dense projector_note -c 8192 --mmproj "$tmp/mmproj-other.gguf")" ] &&
	LLMEM_NVML=none "$LLMEM" fit "$tmp/dense.gguf" -c 8192 --gpu 24GiB --mmproj "$tmp/mmproj-other.gguf" 2>/dev/null |
	grep -q "the projector (--mmproj): its compute buffer is not counted"; then
	ok "--mmproj of a type not modelled: weights counted, the compute buffer said not to be (estimate and fit)"
else
	not_ok "--mmproj of another type: $(grep projector "$tmp/est.txt") $(cat "$tmp/err")"
fi
if LLMEM_NVML=none "$LLMEM" fit "$tmp/dense.gguf" -c 8192 --gpu 24GiB --mmproj "$tmp/mmproj.gguf" --no-mmproj-offload \
	>"$tmp/plan.txt" 2>"$tmp/err" &&
	grep -q "^command: llama-server -m .* --mmproj [^ ]*mmproj.gguf'* .*--no-mmproj-offload" "$tmp/plan.txt"; then
	ok "fit prints --mmproj and --no-mmproj-offload: $(grep '^command' "$tmp/plan.txt")"
else
	not_ok "fit --mmproj: $(grep '^command' "$tmp/plan.txt") $(cat "$tmp/err")"
fi

# the model as llama-server takes it (-m), llama-server's --device (a
# choice of devices: noted, not llmem's NAME=SIZE), and a note for a
# '_' spelling too
a=$("$LLMEM" estimate -c 8192 -m "$tmp/dense.gguf" --json 2>"$tmp/err" | "$GET" /dev/stdin devices/0/total)
b=$(est dense devices/0/total -c 8192)
if [ -n "$a" ] && [ "$a" = "$b" ]; then
	ok "-m MODEL is the model"
else
	not_ok "-m MODEL: $a vs $b ($(cat "$tmp/err"))"
fi
a=$(est dense devices/# -c 8192 --device CUDA0)
if [ "$a" = 1 ] && grep -q "note: --device CUDA0 is llama-server's choice of devices" "$tmp/err"; then
	ok "--device CUDA0 (llama-server's): noted, no device made of it"
else
	not_ok "--device CUDA0: $a devices; $(cat "$tmp/err")"
fi
a=$(est dense devices/0/total -c 8192 --mmproj_url http://x/y.gguf)
if [ -n "$a" ] && grep -q 'note: --mmproj_url is not in this estimate' "$tmp/err"; then
	ok "--mmproj_url: the note too"
else
	not_ok "--mmproj_url: $a; $(cat "$tmp/err")"
fi
set +f
refused -c 4096 --n-cpu-moe 2 -ot 'blk\.7\.=CPU' --n-cpu-moe 4
set -f
a=$(est moe devices/0/weights -c 4096 --n-cpu-moe 2 --n-cpu-moe 4) b=$(est moe devices/0/weights -c 4096 --n-cpu-moe 4)
if [ -n "$a" ] && [ "$a" = "$b" ]; then
	ok "--n-cpu-moe twice with no -ot between: the larger"
else
	not_ok "--n-cpu-moe 2 --n-cpu-moe 4: $a, --n-cpu-moe 4: $b"
fi

# ---- value spellings ---------------------------------------------------
a=$(est dense config/flash_attn -fa enabled) b=$(est dense config/flash_attn -fa disabled)
c=$(est dense config/flash_attn -fa -1)
if [ "$a$b$c" = onoffauto ]; then
	ok "-fa enabled, disabled and -1 are on, off and auto"
else
	not_ok "-fa enabled $a, disabled $b, -1 $c"
fi
refused -ctk Q8_0
refused -fa yes
a=$(est dense config/kv_unified -np 2 -no-kvu) b=$(est dense config/kv_unified -np 2 -kvu)
if [ "$a:$b" = false:true ]; then
	ok "-no-kvu and -kvu"
else
	not_ok "-no-kvu $a, -kvu $b"
fi
a=$(est dense config/kv_offload -nkvo -kvo) b=$(est dense config/repack -nr --repack)
if [ "$a:$b" = true:true ]; then
	ok "-kvo and --repack undo -nkvo and -nr"
else
	not_ok "-nkvo -kvo: kv_offload $a; -nr --repack: repack $b"
fi
a=$(est dense config/ubatch_size -c 8192 -ub 0) b=$(est dense config/ubatch_size -c 8192 -b 1024 -ub 0)
if [ "$a:$b" = 2048:1024 ]; then
	ok "-ub 0 is the batch size, as llama-context.cpp reads it"
else
	not_ok "-ub 0: $a, with -b 1024: $b"
fi
a=$(est dense config/ctx_size -np 4) b=$(est dense config/ctx_size -np 4 -fit off)
if [ "$a" = 524288 ] && [ "$b" = 131072 ]; then
	ok "no -c: every slot gets the training context; with -fit off they share it ($a, $b)"
else
	not_ok "no -c: $a; -fit off: $b"
fi
refused --gpu 24
a=$(est dense devices/1/total -c 8192 --gpu 24GiB) b=$(est dense devices/1/total -c 8192 --gpu=24GiB)
if [ -n "$a" ] && [ "$a" = "$b" ]; then
	ok "--gpu 24GiB and --gpu=24GiB (llmem's own options take either)"
else
	not_ok "--gpu 24GiB $a, --gpu=24GiB $b"
fi
refused -c 8192 --gpu 24GiB -ot 'exps=cpu'
refused -c 8192 --gpu 24GiB -sm tensor

# ---- -ot and the rules appended to it: first match wins ------------------
ot='blk\.0\.ffn_.*_exps=CUDA0'
w0=$(est moe devices/1/weights -c 4096 --gpu 48GiB --cpu-moe)
w1=$(est moe devices/1/weights -c 4096 --gpu 48GiB --cpu-moe -ot "$ot")
w2=$(est moe devices/1/weights -c 4096 --gpu 48GiB -ot "$ot" --cpu-moe)
if [ -n "$w0" ] && [ "$w1" = "$w0" ] && [ "$w2" -gt "$w0" ] 2>/dev/null; then
	ok "--cpu-moe before -ot wins, after it loses (GPU weights $w1, $w2)"
else
	not_ok "--cpu-moe: alone $w0, before -ot $w1, after -ot $w2"
fi
w3=$(est moe devices/1/weights -c 4096 --gpu 48GiB -ncmoe 4 -ot "$ot")
w4=$(est moe devices/1/weights -c 4096 --gpu 48GiB -ot "$ot" -ncmoe 4)
w5=$(est moe devices/1/weights -c 4096 --gpu 48GiB -ncmoe 4)
if [ -n "$w5" ] && [ "$w3" = "$w5" ] && [ "$w4" -gt "$w5" ] 2>/dev/null; then
	ok "--n-cpu-moe in command-line order too ($w3, $w4)"
else
	not_ok "--n-cpu-moe: alone $w5, before -ot $w3, after -ot $w4"
fi
a=$(est moe devices/1/weights -c 4096 --gpu 48GiB -ncmoe 1000) b=$(est moe devices/1/weights -c 4096 --gpu 48GiB --cpu-moe)
if [ -n "$a" ] && [ "$a" = "$b" ]; then
	ok "--n-cpu-moe over the layer count is every layer's experts"
else
	not_ok "-ncmoe 1000: $a, --cpu-moe: $b"
fi
# --n-cpu-ffn: a dense model's FFN weights of the first N layers
a=$(est dense devices/1/weights -c 4096 --gpu 24GiB) b=$(est dense devices/1/weights -c 4096 --gpu 24GiB -ncffn 8)
c=$(est dense devices/1/weights -c 4096 --gpu 24GiB -ncffn 16) d=$(est dense config/n_cpu_ffn -c 4096 --gpu 24GiB -ncffn 16)
if [ -n "$a" ] && [ "$b" -lt "$a" ] && [ "$c" -lt "$b" ] && [ "$d" = 16 ] 2>/dev/null; then
	ok "--n-cpu-ffn 8 and 16 take FFN weights off the GPU ($a, $b, $c)"
else
	not_ok "--n-cpu-ffn: none $a, 8 $b, 16 $c (config $d)"
fi

# fit plans its --n-cpu-moe after the user's -ot (which then keeps its
# experts where it said), prints that order, and the printed command
# reproduces the plan
if LLMEM_NVML=none "$LLMEM" fit "$tmp/moe.gguf" -c 8192 --gpu 12GiB -ot "$ot" --json >"$tmp/plan.json" 2>"$tmp/err"; then
	args=$("$GET" "$tmp/plan.json" plans/0/llama_server_args)
	case " $args " in
	*" -ot $ot "*"--n-cpu-moe "*) order=yes ;;
	*) order=no ;;
	esac
	# shellcheck disable=SC2086
	"$LLMEM" estimate "$tmp/moe.gguf" $args --gpu 12GiB --json >"$tmp/e.json" 2>"$tmp/err"
	a="$("$GET" "$tmp/plan.json" plans/0/estimate/devices/0/total) $("$GET" "$tmp/plan.json" plans/0/estimate/devices/1/total)"
	b="$("$GET" "$tmp/e.json" devices/0/total) $("$GET" "$tmp/e.json" devices/1/total)"
	if [ "$order" = yes ] && [ "$a" = "$b" ]; then
		ok "fit prints -ot before its --n-cpu-moe, and that command reproduces the plan ($args)"
	else
		not_ok "fit: $args; plan $a, its command $b ($(cat "$tmp/err"))"
	fi
else
	not_ok "fit with -ot failed: $(cat "$tmp/err")"
fi
if LLMEM_NVML=none "$LLMEM" fit "$tmp/moe.gguf" -c 8192 --gpu 48GiB --cpu-moe -ot "$ot" --json >"$tmp/plan.json" 2>"$tmp/err"; then
	args=$("$GET" "$tmp/plan.json" plans/0/llama_server_args)
	case " $args " in
	*" --cpu-moe -ot $ot"*) ok "fit keeps --cpu-moe before the -ot it was given before ($args)" ;;
	*) not_ok "fit --cpu-moe -ot: $args" ;;
	esac
else
	not_ok "fit --cpu-moe -ot failed: $(cat "$tmp/err")"
fi

# ---- embeddings and pooling ---------------------------------------------
o0=$(est dense devices/0/output -c 8192) op=$(est dense devices/0/output -c 8192 --pooling mean)
oe=$(est dense devices/0/output -c 8192 --embeddings) orr=$(est dense devices/0/output -c 8192 --rerank)
np=$(est dense config/n_outputs_max -c 8192 --pooling mean) pl=$(est dense config/pooling -c 8192 --rerank)
if [ -n "$o0" ] && [ "$op" = "$o0" ] && [ "$oe" -gt "$o0" ] && [ "$orr" = "$oe" ] && [ "$np" = 2048 ] &&
	[ "$pl" = rank ] 2>/dev/null; then
	ok "--pooling alone: whole batches out ($np), no embeddings kept; --embeddings and --rerank keep them"
else
	not_ok "output buffer: plain $o0, --pooling $op, --embeddings $oe, --rerank $orr; outputs $np; pooling $pl"
fi
if LLMEM_NVML=none "$LLMEM" fit "$tmp/dense.gguf" -c 8192 --gpu 24GiB --embeddings --pooling cls -lm dio \
	--json >"$tmp/plan.json" 2>"$tmp/err"; then
	args=$("$GET" "$tmp/plan.json" plans/0/llama_server_args)
	case " $args " in
	*" --embeddings "*) e1=yes ;;
	*) e1=no ;;
	esac
	case " $args " in
	*" --pooling cls "*) e2=yes ;;
	*) e2=no ;;
	esac
	case " $args " in
	*" -lm dio "*) e3=yes ;;
	*) e3=no ;;
	esac
	if [ "$e1$e2$e3" = yesyesyes ]; then
		ok "fit prints --embeddings, --pooling cls and -lm dio ($args)"
	else
		not_ok "fit: $args"
	fi
else
	not_ok "fit --embeddings failed: $(cat "$tmp/err")"
fi

# ---- the prompt cache: llama-server's --cache-ram (8 GiB by default) -----
a=$(est dense prompt_cache_max -c 8192) b=$(est dense prompt_cache_max -c 8192 -cram 0)
c=$(est dense prompt_cache_max -c 8192 -cram -1) d=$(est dense config/cache_ram_mib -c 8192 -cram 512)
t0=$(est dense devices/0/total -c 8192) t1=$(est dense devices/0/total -c 8192 -cram 0)
if [ "$a:$b:$c:$d" = 8589934592:0:null:512 ] && [ -n "$t0" ] && [ "$t0" = "$t1" ]; then
	ok "prompt_cache_max: 8 GiB by default, 0 with -cram 0, null with -cram -1; not in the totals"
else
	not_ok "prompt_cache_max: default $a, -cram 0 $b, -cram -1 $c; config $d; totals $t0 $t1"
fi
if "$LLMEM" estimate "$tmp/dense.gguf" -c 8192 | grep -q 'prompt cache (-cram 8192): up to 8192 MiB more RAM'; then
	ok "the text output names the prompt cache's ceiling"
else
	not_ok "no prompt cache line: $("$LLMEM" estimate "$tmp/dense.gguf" -c 8192 2>&1 | tail -12)"
fi
# fit on a 16 GiB container: what the plan leaves of the RAM budget is
# under 8 GiB, so the command caps the prompt cache there; one the user
# gave is kept; on a large machine the default stands
FIX=tests/fixtures/probe
LLMEM_NVML=none "$LLMEM" fit "$tmp/dense.gguf" -c 16384 --root "$FIX/container-v2-16g" --json >"$tmp/plan.json" 2>"$tmp/err"
args=$("$GET" "$tmp/plan.json" plans/0/llama_server_args)
pc=$("$GET" "$tmp/plan.json" plans/0/estimate/prompt_cache_max)
cram=$(echo " $args " | sed -n 's/.* -cram \([0-9][0-9]*\) .*/\1/p')
if [ -n "$cram" ] && [ "$cram" -gt 0 ] && [ "$cram" -lt 8192 ] && [ "$pc" = $((cram * 1048576)) ] &&
	"$GET" "$tmp/plan.json" plans/0/why | grep -q "\"--cache-ram $cram: "; then
	ok "fit caps the prompt cache at the RAM its plan leaves: -cram $cram ($args)"
else
	not_ok "fit on 16 GiB: $args; prompt_cache_max $pc; why: $("$GET" "$tmp/plan.json" plans/0/why)"
fi
LLMEM_NVML=none "$LLMEM" fit "$tmp/dense.gguf" -c 16384 -cram 6000 --root "$FIX/container-v2-16g" --json >"$tmp/plan.json" 2>"$tmp/err"
a=$("$GET" "$tmp/plan.json" plans/0/llama_server_args)
LLMEM_NVML=none "$LLMEM" fit "$tmp/dense.gguf" -c 4096 --gpu 80GiB --json >"$tmp/plan.json" 2>"$tmp/err"
b=$("$GET" "$tmp/plan.json" plans/0/llama_server_args)
case " $a " in
*" -cram 6000 "*) k1=yes ;;
*) k1=no ;;
esac
case " $b " in
*" -cram "*) k2=no ;;
*) k2=yes ;;
esac
if [ "$k1$k2" = yesyes ]; then
	ok "fit keeps a given -cram ($a) and writes none when the RAM left is over 8 GiB ($b)"
else
	not_ok "fit -cram 6000: $a; on a large machine: $b"
fi
set +f
# a projector or an adapter given as the model: what it is and where it goes
r4=$(est l devices/0/total)
r5=$(est mmproj devices/0/total)
case "$r4|$r5" in
*"not a model: give a LoRA with --lora"*"|"*"not a model: give it with --mmproj"*)
	ok "an adapter or a projector as the model: said so, with the option it goes with" ;;
*) not_ok "adapter/projector as the model: $r4 | $r5" ;;
esac
# the chart: one bar a device, a GPU's scaled to its memory ('.' free, '>' over)
"$LLMEM" estimate "$tmp/dense.gguf" -c 4096 --gpu 24GiB >"$tmp/est.txt" 2>"$tmp/err"
g=$(grep '^  CUDA0  *|' "$tmp/est.txt")
"$LLMEM" estimate "$tmp/dense.gguf" -c 4096 --gpu 2GiB >"$tmp/est2.txt" 2>>"$tmp/err"
g2=$(grep '^  CUDA0  *|' "$tmp/est2.txt")
h=$(grep '^  CPU  *|' "$tmp/est.txt")
case "$g|$g2|$h" in
"  CUDA0"*"|WWWWWWWW"*"K"*"O"*"....|  "*" MiB of 24576 MiB|  CUDA0"*"|>"*" MiB of 2048 MiB|  CPU"*"|W"*)
	ok "the chart: CUDA0's bar in 24 GiB with room left, over 2 GiB marked, the host's" ;;
*) not_ok "the chart: [$g] [$g2] [$h] $(cat "$tmp/err")" ;;
esac
echo "1..$n"
