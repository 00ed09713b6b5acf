#!/usr/bin/env bash
# build-llama.sh: builds llama.cpp's llama-server, llama-fit-params and
# llama-quantize (CPU only) once, from the llama.cpp source that the pinned
# npm package node-llama-cpp ships (scripts/setup-peers.sh extracts it),
# into a cache outside the clone keyed by the source commit. The first run
# takes about 15 minutes on 2 cores; later runs return at once. Prints the
# directory holding the binaries on its last line.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
cache=${LLMEM_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/llmem}
bash "$here/setup-peers.sh" >&2
# shellcheck disable=SC1091
. "$cache/peers.env"
out="$cache/llama-bin-$LLAMA_CPP_COMMIT"
targets="llama-server llama-fit-params llama-quantize"
if [ -x "$out/llama-server" ] && [ -x "$out/llama-fit-params" ] && [ -x "$out/llama-quantize" ]; then
	echo "$out"
	exit 0
fi
command -v cmake >/dev/null || { echo "build-llama: installing cmake" >&2; apt-get install -y -qq cmake >&2; }
command -v g++ >/dev/null || { echo "build-llama: installing g++" >&2; apt-get install -y -qq g++ >&2; }
bdir="$cache/llama-build-$LLAMA_CPP_COMMIT"
cmake -S "$LLMEM_PEERS_SRC" -B "$bdir" -DCMAKE_BUILD_TYPE=Release -DLLAMA_CURL=OFF \
	-DLLAMA_OPENSSL=OFF -DLLAMA_BUILD_TESTS=OFF -DLLAMA_BUILD_EXAMPLES=OFF -DGGML_NATIVE=ON \
	-DBUILD_SHARED_LIBS=OFF >&2
# shellcheck disable=SC2086
cmake --build "$bdir" -j "$(nproc)" --target $targets >&2
mkdir -p "$out.tmp"
for t in $targets; do
	cp "$bdir/bin/$t" "$out.tmp/"
done
rm -rf "$out"
mv "$out.tmp" "$out"
echo "$out"
