#!/usr/bin/env bash
# Set up the peers that bench/run.sh compares llmem against, outside the repo
# clone, under ${LLMEM_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/llmem}:
#
#   npm/                       node-llama-cpp, pinned ($NODE_LLAMA_CPP_VERSION)
#   llama.cpp-src-<tag>/       the llama.cpp source node-llama-cpp ships as a
#                              git bundle (gguf-py lives in its gguf-py/)
#   peers.env                  shell-sourceable paths and versions of the above
#
# plus Debian's python3-numpy and python3-yaml (all that gguf-py's
# `gguf.scripts.gguf_dump` imports), git, hyperfine, and nginx-light (the
# reverse proxy bench/serve.sh measures llmem serve against; only its binary
# is used: bench/serve.sh runs its own instance on loopback).
#
# Idempotent; a second run only checks (well under a second). Progress goes to
# stderr; stdout gets one line, the llama.cpp source directory, so
#   src=$(scripts/setup-peers.sh)
# works. `--print-src` does the same and is the spelling to use in scripts.
# `--print-env` prints peers.env instead.
#
# Env: LLMEM_CACHE, NODE_LLAMA_CPP_VERSION (default 3.22.1).
set -euo pipefail

NLC_VERSION=${NODE_LLAMA_CPP_VERSION:-3.22.1}
CACHE=${LLMEM_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/llmem}
NPM_DIR=$CACHE/npm
PY=/usr/bin/python3   # Debian's: a pyenv python3 on PATH has no numpy, and PyPI is out of reach

mode=src
case "${1:-}" in
  ""|--print-src) mode="src" ;;
  --print-env) mode="env" ;;
  -h|--help) sed -n '2,20p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
  *) echo "usage: $0 [--print-src|--print-env]" >&2; exit 2 ;;
esac

log() { printf 'setup-peers: %s\n' "$*" >&2; }
die() { printf 'setup-peers: error: %s\n' "$*" >&2; exit 1; }

# apt-get install only what is missing; `apt-get update` only if that fails.
apt_ensure() {
  local missing=() p
  for p in "$@"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q '^install ok installed$' || missing+=("$p")
  done
  [ ${#missing[@]} -eq 0 ] && return 0
  command -v apt-get >/dev/null || die "need Debian packages: ${missing[*]}"
  local sudo=""
  [ "$(id -u)" -eq 0 ] || sudo=sudo
  log "apt-get install ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  if ! $sudo apt-get install -y -q --no-install-recommends "${missing[@]}" >&2; then
    log "install failed; apt-get update and retry"
    $sudo apt-get update -q >&2
    $sudo apt-get install -y -q --no-install-recommends "${missing[@]}" >&2
  fi
}

mkdir -p "$CACHE"
# Serialise concurrent runs (two `make bench`es, say).
exec 9>"$CACHE/.setup-peers.lock"
command -v flock >/dev/null && flock 9

# --- Debian packages -------------------------------------------------------
# gguf-py declares numpy, tqdm, pyyaml and requests, but gguf_dump imports only
# numpy and yaml (gguf/metadata.py); tqdm is imported lazily by GGUFWriter's
# progress bar and requests only by remote-safetensors helpers.
apt_ensure git hyperfine python3-numpy python3-yaml nginx-light
command -v node >/dev/null && command -v npm >/dev/null \
  || die "need node >= 20 and npm on PATH (Debian 12's nodejs 18 is too old for node-llama-cpp)"
node_major=$(node -p 'process.versions.node.split(".")[0]')
[ "$node_major" -ge 20 ] || die "node-llama-cpp $NLC_VERSION needs node >= 20, have $(node --version)"

# --- node-llama-cpp ---------------------------------------------------------
PKG=$NPM_DIR/node_modules/node-llama-cpp
changed=0
# "<installed version> <pinned spec>", in one node start-up
npm_state() {
  node -e '
    const r = (f) => { try { return require(f); } catch (e) { return {}; } };
    const spec = (r(process.argv[2]).dependencies || {})["node-llama-cpp"];
    console.log((r(process.argv[1]).version || "-") + " " + (spec || "-"));
  ' "$PKG/package.json" "$NPM_DIR/package.json"
}
if [ "$(npm_state)" != "$NLC_VERSION $NLC_VERSION" ] \
   || [ ! -f "$PKG/dist/cli/cli.js" ] || [ ! -f "$PKG/llama/gitRelease.bundle" ]; then
  changed=1
  log "installing node-llama-cpp@$NLC_VERSION into $NPM_DIR"
  mkdir -p "$NPM_DIR"
  cat >"$NPM_DIR/package.json" <<EOF
{
  "name": "llmem-peers",
  "private": true,
  "description": "Peers for llmem's benchmarks; written by scripts/setup-peers.sh",
  "dependencies": {
    "node-llama-cpp": "$NLC_VERSION"
  }
}
EOF
  # Its only install script is node-llama-cpp's postinstall, which fetches or
  # builds the native llama.cpp addon; `inspect gguf` is pure JS and needs
  # none of it. The skip variable makes that postinstall a no-op and
  # --ignore-scripts skips it outright. --omit=optional leaves out the
  # @node-llama-cpp/* prebuilt binaries (about 670 MB) for the same reason.
  (cd "$NPM_DIR" && NODE_LLAMA_CPP_SKIP_DOWNLOAD=true npm install \
      --no-audit --no-fund --ignore-scripts --omit=optional --loglevel=error >&2)
  [ "$(npm_state)" = "$NLC_VERSION $NLC_VERSION" ] \
    || die "npm left node-llama-cpp as '$(npm_state)', wanted $NLC_VERSION"
fi

# --- llama.cpp source from the bundle --------------------------------------
BUNDLE=$PKG/llama/gitRelease.bundle
[ -f "$BUNDLE" ] || die "no $BUNDLE in node-llama-cpp $NLC_VERSION"
TAG=$(node -p "require('$PKG/llama/llama.cpp.info.json').tag")
[ -n "$TAG" ] && [ "$TAG" != undefined ] || die "no llama.cpp tag in $PKG/llama/llama.cpp.info.json"
SRC=$CACHE/llama.cpp-src-$TAG
MARK=$SRC/.git/llmem-setup-peers
# The bundle holds one squashed commit and only HEAD; the upstream tag it was
# made from is in llama.cpp.info.json. Keyed on the bundle's HEAD commit.
COMMIT=$(git bundle list-heads "$BUNDLE" | awk '$2 == "HEAD" { print $1; exit }')
[ -n "$COMMIT" ] || die "no HEAD in $BUNDLE"
if [ ! -f "$MARK" ] || [ "$(cat "$MARK")" != "$COMMIT" ]; then
  changed=1
  log "extracting llama.cpp $TAG ($COMMIT) into $SRC"
  rm -rf "$SRC.tmp"
  git -c advice.detachedHead=false clone -q --no-checkout "$BUNDLE" "$SRC.tmp" >&2
  git -C "$SRC.tmp" -c advice.detachedHead=false checkout -q --detach "$COMMIT" >&2
  git -C "$SRC.tmp" tag -f "$TAG" "$COMMIT" >/dev/null
  echo "$COMMIT" >"$SRC.tmp/.git/llmem-setup-peers"
  rm -rf "$SRC"
  mv "$SRC.tmp" "$SRC"
fi

# --- check that the peers run (after a change; a re-run only re-reads) -----
NLC_CLI=$PKG/dist/cli/cli.js
ENV_FILE=$CACHE/peers.env
if [ "$changed" = 1 ] || [ ! -f "$ENV_FILE" ] || ! grep -qx "LLAMA_CPP_COMMIT='$COMMIT'" "$ENV_FILE" \
   || ! grep -qx "NODE_LLAMA_CPP_VERSION='$NLC_VERSION'" "$ENV_FILE"; then
  PYTHONPATH=$SRC/gguf-py "$PY" -c 'import gguf.scripts.gguf_dump' \
    || die "gguf-py from $SRC does not import under $PY"
  cli_version=$(NODE_LLAMA_CPP_SKIP_DOWNLOAD=true node "$NLC_CLI" --version)
  [ "$cli_version" = "$NLC_VERSION" ] || die "node-llama-cpp CLI says '$cli_version', wanted $NLC_VERSION"

  cat >"$ENV_FILE.tmp" <<EOF
# written by scripts/setup-peers.sh
LLMEM_PEERS_SRC='$SRC'
LLAMA_CPP_TAG='$TAG'
LLAMA_CPP_COMMIT='$COMMIT'
GGUF_PY='$SRC/gguf-py'
PEER_PYTHON='$PY'
NODE_LLAMA_CPP_VERSION='$NLC_VERSION'
NODE_LLAMA_CPP_CLI='$NLC_CLI'
EOF
  mv "$ENV_FILE.tmp" "$ENV_FILE"
fi

if [ "$mode" = env ]; then
  cat "$ENV_FILE"
else
  printf '%s\n' "$SRC"
fi
