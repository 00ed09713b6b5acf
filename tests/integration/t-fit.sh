#!/bin/sh
# t-fit.sh: `llmem fit` on the fixture machines of tests/fixtures/probe/
# for synthesized models shaped like the estimate issue's (a dense 8B, a
# MoE 30B-A3B, a sliding-window Gemma 3 12B, a 70B): every plan that fits
# is run back through `llmem estimate` with the llama-server arguments it
# printed and the same devices, and must reproduce the planned total on
# every device, exactly; a plan must fit its budgets; and a model larger
# than the machine must be refused with exit status 3.
#
# Run from the repository root with LLMEM and TOOLS set (tests/run.sh).
set -u
LLMEM=${LLMEM:?}
TOOLS=${TOOLS:?}
FIX=tests/fixtures/probe
GET=$TOOLS/json-get
tmp=$(mktemp -d "${TMPDIR:-/tmp}/t-fit.XXXXXX") || exit 1
trap 'rm -rf "$tmp"' EXIT
trap 'exit 1' HUP INT TERM
n=0
ok() { n=$((n + 1)); echo "ok $n - $*"; }
not_ok() { n=$((n + 1)); echo "not ok $n - $*"; }

for shape in llama-3.1-8b qwen3-30b-a3b gemma-3-12b llama-3.3-70b; do
	"$TOOLS/gguf-synth" --shape "$shape" --ftype q4_k_m "$tmp/$shape.gguf" || exit 1
done

fit() { # fixture model options... -> $tmp/plan.json, returns llmem's status
	fx=$1
	shift
	if [ -f "$FIX/$fx/nvml.conf" ]; then
		FAKE_NVML_CONFIG=$FIX/$fx/nvml.conf LLMEM_NVML=$TOOLS/libfake-nvml.so \
			"$LLMEM" fit "$@" --root "$FIX/$fx" --json >"$tmp/plan.json" 2>"$tmp/err"
	else
		LLMEM_NVML=none "$LLMEM" fit "$@" --root "$FIX/$fx" --json >"$tmp/plan.json" 2>"$tmp/err"
	fi
}

for fx in no-gpu desktop-swap container-v2-16g container-v1 nvidia-2gpu gb10-unified amd-discrete strix-halo; do
	for shape in llama-3.1-8b qwen3-30b-a3b gemma-3-12b; do
		for opts in "-c 8192" "-c max -ctk auto"; do
			label="$fx $shape $opts"
			# shellcheck disable=SC2086
			fit "$fx" "$tmp/$shape.gguf" $opts
			st=$?
			fits=$("$GET" "$tmp/plan.json" plans/0/fits 2>/dev/null)
			if [ "$fits" != true ]; then
				# a refusal is fine when the machine is too small; say so
				if [ "$st" -eq 3 ]; then
					ok "$label: does not fit (exit 3): $("$GET" "$tmp/plan.json" plans/0/why/0)"
				else
					not_ok "$label: llmem fit failed (status $st): $(cat "$tmp/err")"
				fi
				continue
			fi
			args=$("$GET" "$tmp/plan.json" plans/0/llama_server_args)
			devs=$("$GET" "$tmp/plan.json" plans/0/devices)
			nd=$("$GET" "$tmp/plan.json" "plans/0/estimate/devices/#")
			dopt=""
			[ -n "$devs" ] && dopt="--device $devs"
			# shellcheck disable=SC2086
			if ! "$LLMEM" estimate "$tmp/$shape.gguf" $args $dopt --json >"$tmp/est.json" 2>"$tmp/err"; then
				not_ok "$label: estimate of the plan's command failed: $(cat "$tmp/err")"
				continue
			fi
			same=yes
			i=0
			while [ "$i" -lt "$nd" ]; do
				a=$("$GET" "$tmp/plan.json" "plans/0/estimate/devices/$i/total")
				b=$("$GET" "$tmp/est.json" "devices/$i/total")
				[ "$a" = "$b" ] || same="no: device $i planned $a, estimated $b"
				i=$((i + 1))
			done
			if [ "$same" = yes ]; then
				ok "$label: -m MODEL $args reproduces the plan on $nd device(s)"
			else
				not_ok "$label: $same (args: $args $dopt)"
			fi
		done
	done
done

# a 70B Q4_K_M (40 GiB) does not fit a 16 GiB container, and says why
fit container-v2-16g "$tmp/llama-3.3-70b.gguf" -c 4096
st=$?
if [ "$st" -eq 3 ] && grep -q '"fits": false' "$tmp/plan.json"; then
	ok "70B in a 16 GiB container: refused with exit 3"
else
	not_ok "70B in a 16 GiB container: status $st"
fi
# --ram: the same machine with 64 GiB of RAM and nothing else running (the
# container's limit no longer binds): it fits, in 64 GiB less 10%
fit container-v2-16g "$tmp/llama-3.3-70b.gguf" -c 4096 --ram 64GiB
st=$?
if [ "$st" -eq 0 ] && grep -q '57.6 GiB RAM budget' "$tmp/plan.json"; then
	ok "--ram 64GiB: the 70B fits the same container, in a 57.6 GiB RAM budget"
else
	not_ok "--ram 64GiB: status $st, $("$GET" "$tmp/plan.json" plans/0/why)"
fi
"$LLMEM" fit "$tmp/llama-3.3-70b.gguf" --ram 64 >/dev/null 2>"$tmp/err"
st1=$?
"$LLMEM" estimate "$tmp/llama-3.3-70b.gguf" --ram 64GiB >/dev/null 2>"$tmp/err2"
st2=$?
if [ "$st1" -eq 2 ] && grep -q "with a unit" "$tmp/err" && [ "$st2" -eq 2 ] && grep -q "only for llmem fit" "$tmp/err2"; then
	ok "--ram 64 (no unit) and estimate --ram refused"
else
	not_ok "--ram refusals: fit $st1 $(cat "$tmp/err"); estimate $st2 $(cat "$tmp/err2")"
fi
# quants and recommend take it too (64 GiB - 6.4 GiB, whatever this machine has)
a=$("$LLMEM" quants llama-3.1-8b -c 4096 --ram 64GiB --json 2>"$tmp/err" | "$GET" /dev/stdin ram_budget_bytes)
b=$("$LLMEM" recommend --no-default-dirs --mem 24GiB --ram 64GiB --json 2>>"$tmp/err" |
	"$GET" /dev/stdin ram_budget_bytes)
if [ "$a" = 61847529063 ] && [ "$b" = 61847529063 ]; then
	ok "quants and recommend --ram 64GiB: a RAM budget of 64 GiB less 10% ($a B)"
else
	not_ok "quants --ram: $a, recommend --ram: $b ($(cat "$tmp/err"))"
fi
# two models together: both fit, the second in what the first leaves
fit nvidia-2gpu "$tmp/llama-3.1-8b.gguf" "$tmp/gemma-3-12b.gguf" -c 8192
if [ "$("$GET" "$tmp/plan.json" 'plans/#')" = 2 ] && [ "$("$GET" "$tmp/plan.json" plans/1/fits)" = true ]; then
	ok "8B and 12B together on two GPUs"
else
	not_ok "8B and 12B together on two GPUs: $(cat "$tmp/plan.json" | head -c 300)"
fi
# placement the user fixed by hand (-ot, -sm, -mg, --no-kv-unified) is in
# the command fit prints, or llama-server would place the model otherwise
# than the plan counted on (experts on the GPU it has no room for); that
# command reproduces the plan, and the text form quotes the regex
set -f
fit nvidia-2gpu "$tmp/qwen3-30b-a3b.gguf" -c 8192 -ot 'blk\.[0-9]+\.ffn_.*_exps=CPU' -sm none -mg 1 --no-kv-unified -np 2
args=$("$GET" "$tmp/plan.json" plans/0/llama_server_args)
devs=$("$GET" "$tmp/plan.json" plans/0/devices)
case " $args " in
*" -ot blk\.[0-9]+\.ffn_.*_exps=CPU "*" "* | *" -ot blk\.[0-9]+\.ffn_.*_exps=CPU ") ot=yes ;;
*) ot=no ;;
esac
case " $args " in
*" -sm none "*) sm=yes ;;
*) sm=no ;;
esac
case " $args " in
*" -mg 1 "*) mg=yes ;;
*) mg=no ;;
esac
case " $args " in
*" --no-kv-unified "*) kvu=yes ;;
*) kvu=no ;;
esac
if [ "$ot$sm$mg$kvu" = yesyesyesyes ]; then
	ok "fit prints the -ot, -sm, -mg and --no-kv-unified it was given: $args"
else
	not_ok "fit drops placement it was given (-ot $ot, -sm $sm, -mg $mg, --no-kv-unified $kvu): $args"
fi
# shellcheck disable=SC2086
"$LLMEM" estimate "$tmp/qwen3-30b-a3b.gguf" $args --device "$devs" --json >"$tmp/est.json" 2>"$tmp/err"
a="$("$GET" "$tmp/plan.json" plans/0/estimate/devices/1/total) $("$GET" "$tmp/plan.json" plans/0/estimate/devices/2/total)"
b="$("$GET" "$tmp/est.json" devices/1/total) $("$GET" "$tmp/est.json" devices/2/total)"
if [ "$a" = "$b" ] && [ "$("$GET" "$tmp/est.json" devices/1/total)" -lt "$("$GET" "$tmp/est.json" devices/2/total)" ]; then
	ok "that command reproduces the plan, everything on GPU 1 less the experts ($b)"
else
	not_ok "that command estimates $b, the plan $a ($(cat "$tmp/err"))"
fi
set +f
FAKE_NVML_CONFIG=$FIX/nvidia-2gpu/nvml.conf LLMEM_NVML=$TOOLS/libfake-nvml.so "$LLMEM" fit "$tmp/qwen3-30b-a3b.gguf" \
	-c 8192 -ot 'blk\.[0-9]+\.ffn_.*_exps=CPU' --root "$FIX/nvidia-2gpu" >"$tmp/plan.txt" 2>"$tmp/err"
if grep '^command: llama-server -m ' "$tmp/plan.txt" | grep -qF -- " -ot 'blk\.[0-9]+\.ffn_.*_exps=CPU'"; then
	ok "the printed command quotes the -ot regex for the shell"
else
	not_ok "the printed command: $(grep '^command' "$tmp/plan.txt") $(cat "$tmp/err")"
fi

# -ot patterns are llama.cpp's (ECMAScript) regexes: \d is a digit, not
# a d (the common way to write the experts-on-CPU pattern); what POSIX
# regexes cannot say is refused, not matched otherwise
set -f
w() { "$LLMEM" estimate "$tmp/qwen3-30b-a3b.gguf" -c 4096 --gpu 24GiB -ngl all "$@" --json 2>"$tmp/err" |
	"$GET" /dev/stdin devices/1/weights 2>/dev/null; }
w_none=$(w)
w_posix=$(w -ot 'blk\.[0-9]+\.ffn_.*_exps=CPU')
w_ecma=$(w -ot 'blk\.\d+\.ffn_(up|gate|down)_exps\.\w+=CPU')
w_br=$(w -ot 'blk\.[\d]+\.ffn_\S*_exps=CPU')
if [ -n "$w_posix" ] && [ "$w_posix" -lt "$w_none" ] && [ "$w_ecma" = "$w_posix" ] && [ "$w_br" = "$w_posix" ]; then
	ok "-ot \\d, \\w, \\S and [\\d] match as in llama.cpp (GPU weights $w_none -> $w_ecma)"
else
	not_ok "-ot classes: none $w_none, [0-9] $w_posix, \\d $w_ecma, [\\d] $w_br"
fi
"$LLMEM" estimate "$tmp/qwen3-30b-a3b.gguf" -ot '(?:blk)=CPU' >/dev/null 2>"$tmp/err"
st=$?
if [ "$st" = 2 ] && grep -q "not supported" "$tmp/err"; then
	ok "-ot with a (?:...) group: refused ($(cat "$tmp/err"))"
else
	not_ok "-ot with a (?:...) group: status $st, $(cat "$tmp/err")"
fi
set +f
# -ts as llama.cpp reads it: the last one given, split at , or /; -np 0
# refused as llama-server does; -ngl -1 is auto; --no-kv-unified has no
# effect with -np auto (llama-server unifies the cache then)
t() { "$LLMEM" estimate "$tmp/llama-3.1-8b.gguf" -c 4096 --device a=24GiB,b=24GiB "$@" --json 2>"$tmp/err" |
	"$GET" /dev/stdin devices/1/total 2>/dev/null; }
a=$(t -ts 3,1) b=$(t -ts 3/1) c=$(t -ts 1,1 -ts 3,1) d=$(t -ts 1,1)
if [ -n "$a" ] && [ "$a" = "$b" ] && [ "$a" = "$c" ] && [ "$a" != "$d" ]; then
	ok "-ts 3/1 and -ts 1,1 -ts 3,1 read as -ts 3,1"
else
	not_ok "-ts: 3,1 $a; 3/1 $b; 1,1 then 3,1 $c; 1,1 $d"
fi
"$LLMEM" estimate "$tmp/llama-3.1-8b.gguf" -np 0 >/dev/null 2>&1
check_np=$?
a=$(t --no-kv-unified) b=$(t)
if [ "$check_np" = 2 ] && [ -n "$a" ] && [ "$a" = "$b" ]; then
	ok "-np 0 refused; --no-kv-unified without -np: unified, as llama-server"
else
	not_ok "-np 0 status $check_np; --no-kv-unified $a vs $b"
fi
fit nvidia-2gpu "$tmp/llama-3.3-70b.gguf" -c 4096 -ngl -1
a=$("$GET" "$tmp/plan.json" plans/0/llama_server_args)
fit nvidia-2gpu "$tmp/llama-3.3-70b.gguf" -c 4096 -ngl auto
b=$("$GET" "$tmp/plan.json" plans/0/llama_server_args)
fit nvidia-2gpu "$tmp/llama-3.1-8b.gguf" -c 4096 -ts 1
ts1=$("$GET" "$tmp/plan.json" plans/0/llama_server_args)
case " $ts1 " in
*" -ts 1 "*) ts1ok=yes ;;
*) ts1ok=no ;;
esac
if [ -n "$a" ] && [ "$a" = "$b" ] && [ "$ts1ok" = yes ]; then
	ok "fit -ngl -1 plans as -ngl auto ($a); -ts 1 is in the command ($ts1)"
else
	not_ok "fit -ngl -1: $a; auto: $b; -ts 1: $ts1"
fi

# CUDA_VISIBLE_DEVICES=1: the plan is for the one GPU llama-server will
# see (the RTX 3060), which it will call CUDA0
CUDA_VISIBLE_DEVICES=1
export CUDA_VISIBLE_DEVICES
fit nvidia-2gpu "$tmp/llama-3.1-8b.gguf" -c 8192
unset CUDA_VISIBLE_DEVICES
a=$("$GET" "$tmp/plan.json" plans/0/devices) b=$("$GET" "$tmp/plan.json" plans/0/llama_server_args)
if [ "$a" = "CUDA0=12884901888B" ]; then
	ok "CUDA_VISIBLE_DEVICES=1: planned for that GPU alone, as CUDA0 ($a: $b)"
else
	not_ok "CUDA_VISIBLE_DEVICES=1: devices $a, $b ($(cat "$tmp/err"))"
fi

# device names as llama.cpp spells them (an -ot in a printed command names one)
nm=$("$LLMEM" estimate "$tmp/llama-3.1-8b.gguf" -c 4096 --device rocm0=24GiB,vulkan1=8GiB,cuda2=8GiB --json |
	"$GET" /dev/stdin devices/1/name devices/2/name devices/3/name 2>&1 | tr '\n' ' ')
if [ "$nm" = "ROCm0 Vulkan1 CUDA2 " ]; then
	ok "--device rocm0,vulkan1,cuda2: $nm"
else
	not_ok "--device names: $nm"
fi

# llama-server's load modes (-lm; the pinned release has no --no-mmap or
# --mlock): what each means to the estimate, and what fit prints for them
for lm in "none:false:false" "dio:false:false" "mlock:false:true" "mmap+mlock:true:true" "mmap:true:false" \
	"auto:true:false"; do
	IFS=: read -r mode mm ml <<EOF2
$lm
EOF2
	"$LLMEM" estimate "$tmp/llama-3.1-8b.gguf" -lm "$mode" --json >"$tmp/est.json" 2>"$tmp/err"
	got="$("$GET" "$tmp/est.json" config/mmap):$("$GET" "$tmp/est.json" config/mlock)"
	if [ "$got" = "$mm:$ml" ]; then
		ok "-lm $mode: mmap $mm, mlock $ml"
	else
		not_ok "-lm $mode: mmap:mlock is $got, not $mm:$ml ($(cat "$tmp/err"))"
	fi
done
for opts in "--no-mmap|-lm none" "--no-mmap --mlock|-lm mlock" "--mlock|-lm mmap+mlock" "-lm mlock|-lm mlock"; do
	given=${opts%%|*} want=${opts#*|}
	# shellcheck disable=SC2086
	fit no-gpu "$tmp/llama-3.1-8b.gguf" -c 4096 $given
	args=$("$GET" "$tmp/plan.json" plans/0/llama_server_args)
	case " $args " in
	*" $want "*"--no-mmap"* | *"--no-mmap"*) not_ok "fit $given: prints --no-mmap: $args" ;;
	*" $want "*) ok "fit $given: prints $want" ;;
	*) not_ok "fit $given: $args (no $want)" ;;
	esac
done
