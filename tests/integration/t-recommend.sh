#!/bin/sh
# t-recommend.sh: `llmem recommend` on a fake home that holds models where
# people keep them: an Ollama store (manifests and blobs, two tags of one
# blob, a user namespace, an hf.co pull, a manifest whose blob is missing
# and one that is not JSON), a Hugging Face hub cache (two snapshots
# linking one blob), LM Studio's and llama.cpp's folders, and a folder
# given on the command line with a split model, a symlink, a corrupt and
# a truncated file. Every model file must be listed once, errors with
# their reason; the environment variables must move the stores; the
# verdicts must change sensibly with --mem, -c and the machine (probe
# fixtures stand in for it). Models come from gguf-synth (sparse).
set -u
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
LLMEM=${LLMEM:-$ROOT/build/llmem}
TOOLS=${TOOLS:-$ROOT/build/tools}
FIX=$ROOT/tests/fixtures/probe
JG=$TOOLS/json-get
n=0

ok() { n=$((n + 1)); echo "ok $n - $*"; }
not_ok() { n=$((n + 1)); echo "not ok $n - $*"; }
check() { # description, then a shell condition (evaluated here)
	if eval "$2"; then ok "$1"; else not_ok "$1"; fi
}

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT INT TERM
H=$tmp/home
mkdir -p "$H"
unset OLLAMA_MODELS HF_HUB_CACHE HF_HOME LLAMA_CACHE XDG_CACHE_HOME
export HOME="$H"
synth() { "$TOOLS/gguf-synth" --shape "$1" "$2" >/dev/null 2>&1 || echo "# gguf-synth $1 failed"; }

# ---- the fake home ----
O=$H/.ollama/models
mkdir -p "$O/blobs"
blob() { # shape -> prints the digest's hex; the blob is named as Ollama does
	synth "$1" "$tmp/blob.gguf"
	hex=$(sha256sum "$tmp/blob.gguf" | cut -c1-64)
	mv "$tmp/blob.gguf" "$O/blobs/sha256-$hex"
	echo "$hex"
}
manifest() { # host/ns/name/tag, hex of the model layer
	mkdir -p "$O/manifests/$(dirname "$1")"
	cat >"$O/manifests/$1" <<EOF
{"schemaVersion":2,"mediaType":"application/vnd.docker.distribution.manifest.v2+json",
 "config":{"mediaType":"application/vnd.docker.container.image.v1+json","digest":"sha256:$(printf '%064d' 1)","size":10},
 "layers":[{"mediaType":"application/vnd.ollama.image.template","digest":"sha256:$(printf '%064d' 2)","size":5},
           {"mediaType":"application/vnd.ollama.image.model","digest":"sha256:$2","size":100}]}
EOF
}
qwen=$(blob qwen3-0.6b)
tiny=$(blob tiny)
lfm=$(blob lfm2-350m)
manifest registry.ollama.ai/library/qwen3/0.6b "$qwen"
manifest registry.ollama.ai/library/qwen3/latest "$qwen"
manifest registry.ollama.ai/someone/tinyllama/q4 "$tiny"
manifest hf.co/org/Lfm-GGUF/Q4_K_M "$lfm"
manifest registry.ollama.ai/library/broken/latest "$(printf '%064d' 7)"
mkdir -p "$O/manifests/registry.ollama.ai/library/notjson"
echo 'this is not JSON' >"$O/manifests/registry.ollama.ai/library/notjson/latest"

# the Hugging Face hub cache: two snapshots link one blob
R=$H/.cache/huggingface/hub/models--org--Gemma-GGUF
mkdir -p "$R/blobs" "$R/snapshots/rev1" "$R/snapshots/rev2" "$R/refs"
synth gemma-3-1b "$R/blobs/0a1b2c"
ln -s ../../blobs/0a1b2c "$R/snapshots/rev1/gemma-1b-Q4_K_M.gguf"
ln -s ../../blobs/0a1b2c "$R/snapshots/rev2/gemma-1b-Q4_K_M.gguf"
echo rev2 >"$R/refs/main"

# LM Studio and llama.cpp's cache
mkdir -p "$H/.lmstudio/models/pub/repo" "$H/.cache/llama.cpp"
synth phi-3-mini-4k "$H/.lmstudio/models/pub/repo/phi-mini.gguf"
echo "not a model, not a .gguf" >"$H/.lmstudio/models/pub/repo/README.md"
synth tiny "$H/.cache/llama.cpp/org_repo_tiny.gguf"

# a folder given: a split model, a symlink, a corrupt and a truncated file
M=$tmp/models
mkdir -p "$M/sub"
synth llama-3.1-8b "$M/llama-8b.gguf"
ln -s ../llama-8b.gguf "$M/sub/same-8b.gguf"
synth llama-3.2-1b "$tmp/1b.gguf"
"$TOOLS/gguf-split" "$tmp/1b.gguf" 2 "$M/llama-1b" || echo "# gguf-split failed"
printf 'GGUF\001\000\000\000garbage' >"$M/corrupt.gguf"
head -c 3000 "$tmp/1b.gguf" >"$M/truncated.gguf"
mkdir -p "$M/.hidden" && cp "$M/corrupt.gguf" "$M/.hidden/skipped.gguf"

# each file of a --json answer as one line: name|source|fits|n_parts|also|error|ngl|max_ctx|tok/s
rows() { # json file
	count=$("$JG" "$1" 'files/#')
	i=0
	while [ "$i" -lt "$count" ]; do
		"$JG" "$1" "files/$i/name" "files/$i/source" "files/$i/fits" "files/$i/n_parts" \
			"files/$i/also" "files/$i/error" "files/$i/n_gpu_layers" "files/$i/max_ctx_size" \
			"files/$i/tokens_per_s" 2>/dev/null | paste -sd'|' -
		i=$((i + 1))
	done
}
row() { grep -F "$1|" "$2" | head -n 1; }
field() { echo "$1" | cut -d'|' -f"$2"; }

run() { # out name, then arguments
	out=$1
	shift
	"$LLMEM" recommend --root "$FIX/no-gpu" "$@" >"$tmp/$out" 2>"$tmp/$out.err"
}

# ---- everything ----
run all.json --json --mem 24GB "$M"
rc=$?
[ "$rc" -eq 0 ] && ok "recommend --json exits 0" || { not_ok "recommend --json exits $rc"; sed 's/^/# /' "$tmp/all.json.err"; }
rows "$tmp/all.json" >"$tmp/all.rows"
sed 's/^/# /' "$tmp/all.rows"
check "12 entries: every model once, errors included" '[ "$(wc -l <"$tmp/all.rows")" -eq 12 ]'

r=$(row "qwen3:0.6b" "$tmp/all.rows")
check "ollama qwen3:0.6b, with its other tag" '[ "$(field "$r" 2)" = ollama ] && [ "$(field "$r" 5)" = "qwen3:latest" ] && [ "$(field "$r" 3)" = gpu ]'
r=$(row "someone/tinyllama:q4" "$tmp/all.rows")
check "ollama user namespace named someone/tinyllama:q4" '[ "$(field "$r" 3)" = gpu ]'
r=$(row "hf.co/org/Lfm-GGUF:Q4_K_M" "$tmp/all.rows")
check "ollama hf.co pull named with its host" '[ "$(field "$r" 3)" = gpu ]'
r=$(row "broken:latest" "$tmp/all.rows")
check "a manifest whose blob is missing is listed with the reason" 'echo "$r" | grep -q "is missing"'
r=$(row "notjson:latest" "$tmp/all.rows")
check "a manifest that is not JSON is listed with the reason" 'echo "$r" | grep -q "not JSON"'
check "the ollama blob path is the model file" '[ "$("$JG" "$tmp/all.json" "files/name=qwen3:0.6b/path")" = "$O/blobs/sha256-$qwen" ]'
check "HF: one entry for two snapshots of one blob" '[ "$(grep -c '\''org/Gemma-GGUF/gemma-1b-Q4_K_M.gguf|hf|'\'' "$tmp/all.rows")" -eq 1 ]'
check "LM Studio: pub/repo/phi-mini.gguf" '[ "$(field "$(row pub/repo/phi-mini.gguf "$tmp/all.rows")" 2)" = lmstudio ]'
check "llama.cpp's cache" '[ "$(field "$(row org_repo_tiny.gguf "$tmp/all.rows")" 2)" = llama.cpp ]'
r=$(row "$M/llama-1b-00001-of-00002.gguf" "$tmp/all.rows")
check "a split model once, by its first part, 2 parts" '[ "$(field "$r" 4)" = 2 ] && [ "$(grep -c -- '\''-of-00002'\'' "$tmp/all.rows")" -eq 1 ]'
r=$(row "$M/llama-8b.gguf" "$tmp/all.rows")
check "a symlink to a file listed is its other name" '[ "$(field "$r" 5)" = "$M/sub/same-8b.gguf" ]'
check "24 GB: the 8B fits on the GPU, all 33 layers, context past 8192" ' [ "$(field "$r" 3)" = gpu ] && [ "$(field "$r" 7)" = 33 ] && [ "$(field "$r" 8)" -gt 8192 ]'
r=$(row "$M/corrupt.gguf" "$tmp/all.rows")
check "a corrupt file is listed with its error and offset" 'echo "$r" | grep -q "offset"'
r=$(row "$M/truncated.gguf" "$tmp/all.rows")
check "a truncated file is listed with its error" '[ "$(field "$r" 6)" != null ]'
check "hidden folders are not searched" '! grep -q skipped.gguf "$tmp/all.rows"'
check "the places searched are listed, /usr/share/ollama under --root absent" ' [ "$("$JG" "$tmp/all.json" "searched/#")" -eq 7 ] && [ "$("$JG" "$tmp/all.json" '\''searched/1/exists'\'')" = true ] && [ "$("$JG" "$tmp/all.json" '\''searched/2/exists'\'')" = false ]'

# the text table names every file and error
run all.txt --mem 24GB "$M"
missing=0
while IFS='|' read -r name _; do
	grep -qF -- "$name" "$tmp/all.txt" || { echo "# not in the text: $name"; missing=$((missing + 1)); }
done <"$tmp/all.rows"
check "the text output names every file" '[ "$missing" -eq 0 ]'
check "the text output has the catalog, files and searched sections" \
	'grep -q "^catalog:" "$tmp/all.txt" && grep -q "^files: 12 models found" "$tmp/all.txt" && grep -q "^searched" "$tmp/all.txt"'

# ---- the environment moves the stores ----
mkdir -p "$tmp/alt"
mv "$O" "$tmp/alt/ollama"
mv "$H/.cache/huggingface/hub" "$tmp/alt/hub"
OLLAMA_MODELS=$tmp/alt/ollama HF_HUB_CACHE=$tmp/alt/hub LLAMA_CACHE=$tmp/alt/none \
	run env.json --json --mem 24GB
rows "$tmp/env.json" >"$tmp/env.rows"
check "OLLAMA_MODELS and HF_HUB_CACHE are read, LLAMA_CACHE replaces ~/.cache/llama.cpp" ' [ "$(grep -c '\''|ollama|'\'' "$tmp/env.rows")" -eq 5 ] && [ "$(grep -c '\''|hf|'\'' "$tmp/env.rows")" -eq 1 ] && [ "$(grep -c '\''|llama.cpp|'\'' "$tmp/env.rows")" -eq 0 ]'
mkdir -p "$tmp/hfhome"
mv "$tmp/alt/hub" "$tmp/hfhome/hub"
HF_HOME=$tmp/hfhome run hfhome.json --json --no-catalog
check "HF_HOME/hub" '[ "$(rows "$tmp/hfhome.json" | grep -c '\''|hf|'\'')" -eq 1 ]'
run nodef.json --json --no-default-dirs --no-catalog "$M"
check "--no-default-dirs: only the folder given" '[ "$("$JG" "$tmp/nodef.json" '\''files/#'\'')" -eq 4 ] && [ "$("$JG" "$tmp/nodef.json" '\''searched/#'\'')" -eq 1 ]'
run one.json --json --no-default-dirs --no-catalog "$M/llama-8b.gguf"
check "a file given" '[ "$("$JG" "$tmp/one.json" '\''files/0/fits'\'')" = cpu ]'
run nx.txt --no-default-dirs "$tmp/nonexistent"
rc=$?
check "a folder that does not exist: exit 2, one line" '[ "$rc" -eq 2 ] && [ "$(wc -l <"$tmp/nx.txt.err")" -eq 1 ]'

# ---- verdicts change sensibly with the memory ----
run m4.json --json --no-default-dirs --mem 4GB "$M/llama-8b.gguf"
r=$("$JG" "$tmp/m4.json" 'files/0/fits' 'files/0/n_gpu_layers' 'files/0/speed_ratio' 'files/0/tokens_per_s' | paste -sd'|' -)
check "4 GB: the 8B only partly, fewer layers, slower, no tokens/s without a bandwidth ($r)" ' [ "$(field "$r" 1)" = partial ] && [ "$(field "$r" 2)" -lt 33 ] && awk -v s="$(field "$r" 3)" '\''BEGIN { exit !(s > 0 && s < 1) }'\'' && [ "$(field "$r" 4)" = null ]'
run m4b.json --json --no-default-dirs --mem 4GB --bandwidth GPU0=500GB/s "$M/llama-8b.gguf"
check "--bandwidth gives tokens/s" 'awk -v t="$("$JG" "$tmp/m4b.json" '\''files/0/tokens_per_s'\'')" '\''BEGIN { exit !(t > 0) }'\'''
run cpu.json --json --no-default-dirs "$M/llama-8b.gguf"
check "no GPU (9.25 GiB of RAM): on the CPU, with tokens/s" ' [ "$("$JG" "$tmp/cpu.json" '\''files/0/fits'\'')" = cpu ] && awk -v t="$("$JG" "$tmp/cpu.json" '\''files/0/tokens_per_s'\'')" '\''BEGIN { exit !(t > 0) }'\'''
"$LLMEM" recommend --root "$FIX/container-v1" --json --no-default-dirs --no-catalog -c 131072 "$M/llama-8b.gguf" >"$tmp/small.json" 2>&1
r=$("$JG" "$tmp/small.json" 'files/0/fits' 'files/0/ctx_size' 'files/0/max_ctx_size' | paste -sd'|' -)
check "5.25 GiB of RAM and -c 131072: fits only with a smaller context ($r)" ' [ "$(field "$r" 1)" = cpu ] && [ "$(field "$r" 3)" -lt 131072 ] && [ "$(field "$r" 3)" -ge "$(field "$r" 2)" ]'
run c2k.json --json --no-default-dirs --no-catalog -c 2048 --mem 24GB "$M/llama-8b.gguf"
c2k=$("$JG" "$tmp/c2k.json" 'files/0/ctx_size' 'files/0/max_ctx_size' | paste -sd'|' -)
check "-c 2048: planned at 2048, the largest context unchanged ($c2k)" \
	'[ "$(field "$c2k" 1)" = 2048 ] && [ "$(field "$c2k" 2)" = "$(field "$(row "$M/llama-8b.gguf" "$tmp/all.rows")" 8)" ]'
"$LLMEM" recommend --root "$FIX/container-v1" --json --no-default-dirs --no-catalog --mem 1GB \
	"$M/llama-8b.gguf" >"$tmp/none.json" 2>&1
check "1 GB GPU and 5.25 GiB of RAM: the 8B does not fit, with why" ' [ "$("$JG" "$tmp/none.json" '\''files/0/fits'\'')" = none ] && [ "$("$JG" "$tmp/none.json" '\''files/0/why'\'')" != null ]'

# ---- the catalog: larger models as the memory grows ----
prev=""
mono=0
for mem in 8GB 24GB 80GB 200GB 1TB; do
	run "cat-$mem.json" --json --no-default-dirs --mem "$mem"
	"$JG" "$tmp/cat-$mem.json" 'catalog/family=llama-3.x/best/parameters' >"$tmp/p" 2>/dev/null
	p=$(cat "$tmp/p")
	echo "# $mem: llama-3.x $("$JG" "$tmp/cat-$mem.json" 'catalog/family=llama-3.x/best/model' 'catalog/family=llama-3.x/best/file_type' | paste -sd' ' -)"
	if [ -n "$prev" ] && [ "$p" -lt "$prev" ]; then mono=1; fi
	prev=$p
done
check "llama-3.x: the recommended size never shrinks as memory grows" '[ "$mono" -eq 0 ]'
check "24 GB: llama-3.1-8b Q8_0 (the 70B does not fit)" ' [ "$("$JG" "$tmp/cat-24GB.json" '\''catalog/family=llama-3.x/best/model'\'')" = llama-3.1-8b ] && [ "$("$JG" "$tmp/cat-24GB.json" '\''catalog/family=llama-3.x/best/file_type'\'')" = Q8_0 ]'
check "80 GB: llama-3.3-70b" '[ "$("$JG" "$tmp/cat-80GB.json" '\''catalog/family=llama-3.x/best/model'\'')" = llama-3.3-70b ]'
check "1 TB: llama-3.1-405b" '[ "$("$JG" "$tmp/cat-1TB.json" '\''catalog/family=llama-3.x/best/model'\'')" = llama-3.1-405b ]'
check "8 GB: deepseek does not fit, the smallest named" ' [ "$("$JG" "$tmp/cat-8GB.json" '\''catalog/family=deepseek/fits'\'')" = none ] && [ "$("$JG" "$tmp/cat-8GB.json" '\''catalog/family=deepseek/smallest/file_type'\'')" = Q2_K ]'
f=$("$JG" "$tmp/cat-24GB.json" 'catalog/family=gemma-3/best/model' 'catalog/family=gemma-3/best/file_type' | paste -sd: -)
"$LLMEM" quants "${f%%:*}" --json --mem 24GB >"$tmp/q.json" 2>/dev/null
check "the catalog's file size is what quants says ($f)" ' [ "$("$JG" "$tmp/cat-24GB.json" '\''catalog/family=gemma-3/best/file_bytes'\'')" = "$("$JG" "$tmp/q.json" "rows/file_type=${f#*:}/file_bytes")" ]'
families=$("$JG" "$tmp/cat-24GB.json" 'catalog/#')
check "nine families ($families)" '[ "$families" -eq 9 ]'
run cpucat.txt --no-default-dirs
check "no GPU: the catalog says what fits in RAM" 'grep -q '\''fits in RAM'\'' "$tmp/cpucat.txt"'

echo "1..$n"
