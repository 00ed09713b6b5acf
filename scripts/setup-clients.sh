#!/usr/bin/env bash
# Install the real API clients that `llmem serve`'s load test drives
# (tests/integration/t-serve-load.sh), and the browser driver of its
# dashboard test (t-serve-dashboard.sh), outside the repo clone, under
# ${LLMEM_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/llmem}:
#
#   npm-clients/node_modules/openai   the OpenAI SDK, pinned ($OPENAI_NPM_VERSION)
#   npm-clients/node_modules/ollama   ollama-js, pinned ($OLLAMA_NPM_VERSION)
#   npm-clients/node_modules/playwright-core   pinned ($PLAYWRIGHT_NPM_VERSION);
#                                     no browser: it drives Debian's chromium
#                                     (scripts/install-deps.sh --serve-tests)
#
# Idempotent; a second run only checks the installed versions (one node
# start-up). Progress goes to stderr; stdout gets one line, the directory
# (npm-clients/), so
#   dir=$(scripts/setup-clients.sh)
# works. Needs node and npm on PATH (node >= 20; openai 7.59.0 declares node
# >= 22 in its engines field, and npm only warns about it).
#
# Env: LLMEM_CACHE, OPENAI_NPM_VERSION (default 7.59.0), OLLAMA_NPM_VERSION
# (default 0.6.4), PLAYWRIGHT_NPM_VERSION (default 1.65.1).
set -euo pipefail

OPENAI_VERSION=${OPENAI_NPM_VERSION:-7.59.0}
OLLAMA_VERSION=${OLLAMA_NPM_VERSION:-0.6.4}
PLAYWRIGHT_VERSION=${PLAYWRIGHT_NPM_VERSION:-1.65.1}
CACHE=${LLMEM_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/llmem}
DIR=$CACHE/npm-clients

case "${1:-}" in
  "") ;;
  -h|--help) sed -n '2,21p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
  *) echo "usage: $0" >&2; exit 2 ;;
esac

log() { printf 'setup-clients: %s\n' "$*" >&2; }
die() { printf 'setup-clients: error: %s\n' "$*" >&2; exit 1; }

command -v node >/dev/null && command -v npm >/dev/null || die "need node >= 20 and npm on PATH"
node_major=$(node -p 'process.versions.node.split(".")[0]')
[ "$node_major" -ge 20 ] || die "the clients need node >= 20, have $(node --version)"

mkdir -p "$CACHE"
# Serialise concurrent runs.
exec 9>"$CACHE/.setup-clients.lock"
command -v flock >/dev/null && flock 9

# "<openai installed> <openai pinned> <ollama installed> <ollama pinned>
# <playwright-core installed> <playwright-core pinned>", in one node start-up
npm_state() {
  node -e '
    const r = (f) => { try { return require(f); } catch (e) { return {}; } };
    const dir = process.argv[1];
    const deps = r(dir + "/package.json").dependencies || {};
    const v = (p) => r(dir + "/node_modules/" + p + "/package.json").version || "-";
    console.log([v("openai"), deps.openai || "-", v("ollama"), deps.ollama || "-",
                 v("playwright-core"), deps["playwright-core"] || "-"].join(" "));
  ' "$DIR"
}
want="$OPENAI_VERSION $OPENAI_VERSION $OLLAMA_VERSION $OLLAMA_VERSION $PLAYWRIGHT_VERSION $PLAYWRIGHT_VERSION"
if [ "$(npm_state)" != "$want" ]; then
  log "installing openai@$OPENAI_VERSION, ollama@$OLLAMA_VERSION and playwright-core@$PLAYWRIGHT_VERSION into $DIR"
  mkdir -p "$DIR"
  cat >"$DIR/package.json" <<EOF
{
  "name": "llmem-clients",
  "private": true,
  "description": "API clients for llmem serve's load test, a browser driver for its dashboard test; written by scripts/setup-clients.sh",
  "dependencies": {
    "openai": "$OPENAI_VERSION",
    "ollama": "$OLLAMA_VERSION",
    "playwright-core": "$PLAYWRIGHT_VERSION"
  }
}
EOF
  # None of them has an install script; --ignore-scripts keeps it so
  # (playwright-core downloads no browser).
  # openai's peer dependencies (zod, ws, cloud SDKs) are all optional, so npm
  # leaves them out: chat completions need none of them.
  (cd "$DIR" && npm install --no-audit --no-fund --ignore-scripts --loglevel=error >&2)
  [ "$(npm_state)" = "$want" ] || die "npm left '$(npm_state)', wanted '$want'"
fi
# all load (through CommonJS, as serve-load.mjs and serve-dashboard.mjs do)
node -e '
  const { createRequire } = require("node:module");
  const r = createRequire(process.argv[1] + "/package.json");
  if (typeof r("openai").OpenAI !== "function" || typeof r("ollama").Ollama !== "function" ||
      typeof r("playwright-core").chromium.launch !== "function")
    process.exit(1);
' "$DIR" || die "openai, ollama or playwright-core in $DIR does not load under node $(node --version)"
printf '%s\n' "$DIR"
