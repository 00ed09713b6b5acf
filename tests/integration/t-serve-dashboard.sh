#!/bin/sh
# t-serve-dashboard.sh: `llmem serve`'s dashboard (GET /). Here, with curl:
# the page, its script and style are served with their content types, a
# Content-Security-Policy of default-src 'self' and X-Frame-Options DENY,
# without the API key (they hold nothing secret) but after the Host and
# Origin checks. Then in headless Chromium (tests/integration/
# serve-dashboard.mjs, through playwright-core): the page shows the loaded
# model, the pool's stacked bar, a keep-alive countdown; its buttons unload
# and load models (the daemon's /llmem/status agrees), from
# http://127.0.0.1:PORT and http://localhost:PORT; behind --api-key it asks
# for the key and then works; no CSP violation, no failed request.
#
# DASHBOARD_SCREENSHOT=docs/dashboard.png keeps the screenshot taken while
# a model is loaded (by default it goes to a temporary file).
#
# Needs the llama.cpp build that scripts/build-llama.sh caches, node,
# playwright-core (scripts/setup-clients.sh) and Chromium ($CHROMIUM,
# default /usr/bin/chromium: scripts/install-deps.sh --serve-tests);
# skipped without them.
. "$(dirname "$0")/serve-lib.sh"

CLIENTS_DIR=${LLMEM_CLIENTS:-$CACHE/npm-clients}
CHROMIUM=${CHROMIUM:-/usr/bin/chromium}
skip_all() {
	skip "serve dashboard: $1"
	exit 0
}
command -v curl >/dev/null 2>&1 || skip_all "no curl"
[ -n "$LLAMA_SERVER" ] && [ -f "$VOCAB_DIR/ggml-vocab-llama-bpe.gguf" ] ||
	skip_all "no llama.cpp build (run scripts/build-llama.sh)"
command -v node >/dev/null 2>&1 || skip_all "no node"
[ -f "$CLIENTS_DIR/node_modules/playwright-core/package.json" ] ||
	skip_all "no playwright-core in $CLIENTS_DIR (run scripts/setup-clients.sh)"
[ -x "$CHROMIUM" ] || skip_all "no $CHROMIUM (scripts/install-deps.sh --serve-tests)"

M=$tmp/models
mkdir -p "$M"
synth "$M/alpha.gguf" 4 || { not_ok "gguf-synth failed: $(tail -3 "$tmp/synth.log")"; exit 1; }
synth "$M/beta.gguf" 2 || { not_ok "gguf-synth failed: $(tail -3 "$tmp/synth.log")"; exit 1; }
# a budget twice what the two need, so that the bar shows them
fp=0
for m in alpha beta; do
	"$LLMEM" estimate "$M/$m.gguf" -c 2048 --json >"$tmp/est.json" 2>"$tmp/est.err" ||
		{ not_ok "llmem estimate $m failed: $(cat "$tmp/est.err")"; exit 1; }
	fp=$((fp + $("$GET" "$tmp/est.json" devices/0/total)))
done
serve_start "$tmp/d.log" --models-dir "$M" --backend "$LLAMA_SERVER" -c 2048 --budget $((fp * 2)) \
	--footprints "$tmp/fp.json" || { not_ok "llmem serve did not start"; exit 1; }
URL1=$URL
P1=$PORT

eq() { # eq LABEL A B
	if [ "$2" = "$3" ]; then ok "$1 ($2)"; else not_ok "$1: $2 != $3"; fi
}
# fetch PATH NAME [CURL ARGS...]: GET PATH into $tmp/NAME (headers in .hdr); prints the status
fetch() {
	_p=$1
	_n=$2
	shift 2
	curl -s -m 5 -D "$tmp/$_n.hdr" -o "$tmp/$_n" -w '%{http_code}' "$@" "$URL$_p"
}
# header NAME FIELD: a response header's value, without the CR
header() {
	awk -v f="$2" 'BEGIN { f = tolower(f) } { sub(/\r$/, "") }
		tolower(substr($0, 1, length(f) + 1)) == f ":" { sub(/^[^:]*: */, ""); print; exit }' "$tmp/$1.hdr"
}

# ---- the files, with curl
eq "GET / answers 200" "$(fetch / page)" 200
eq "the page is HTML" "$(header page Content-Type)" "text/html; charset=utf-8"
check "its CSP is default-src 'self'" sh -c "echo \"\$1\" | grep -q \"^default-src 'self'\"" - "$(header page Content-Security-Policy)"
eq "it may not be framed" "$(header page X-Frame-Options)" DENY
eq "no sniffing" "$(header page X-Content-Type-Options)" nosniff
check "the page loads its script and style from the daemon" \
	grep -q 'src="/dashboard.js"' "$tmp/page"
check "no inline script or style in the page" \
	sh -c "! grep -Eiq '<script>|<script [^>]*>[^<]|<style| style=| on[a-z]+=' \"\$1\"" - "$tmp/page"
eq "GET /dashboard.js answers 200" "$(fetch /dashboard.js js)" 200
eq "the script is JavaScript" "$(header js Content-Type)" "text/javascript; charset=utf-8"
check "the script is the one in the repository" cmp -s "$tmp/js" "$ROOT/src/serve/dashboard/dashboard.js"
eq "GET /dashboard.css answers 200" "$(fetch /dashboard.css css)" 200
eq "the style is CSS" "$(header css Content-Type)" "text/css; charset=utf-8"
eq "a Host other than the daemon's: 403" "$(fetch / evil -H 'Host: evil.example:'"$P1")" 403
eq "a foreign Origin: 403" "$(fetch / evil -H 'Origin: http://evil.example')" 403
eq "POST / is no endpoint: 404" "$(curl -s -m 5 -o /dev/null -w '%{http_code}' -d '{}' "$URL/")" 404

# ---- the daemon with --api-key: the page without it, the API not
serve_start "$tmp/k.log" --models-dir "$M" --backend "$LLAMA_SERVER" -c 2048 --api-key s3cret \
	--footprints "$tmp/fp2.json" || { not_ok "llmem serve --api-key did not start"; exit 1; }
URL2=$URL
eq "with --api-key, GET / answers without the key" "$(fetch / kpage)" 200
eq "and GET /dashboard.js" "$(fetch /dashboard.js kjs)" 200
eq "but GET /llmem/status needs it" "$(fetch /llmem/status kst)" 401
URL=$URL1

# ---- in Chromium
r=$(curl -s -m 60 -o "$tmp/load.out" -w '%{http_code}' "$URL1/models/load" -d '{"model":"alpha"}')
eq "POST /models/load alpha" "$r" 200
shot=${DASHBOARD_SCREENSHOT:-$tmp/dashboard.png}
case $shot in /*) ;; *) shot=$PWD/$shot ;; esac
rm -f "$tmp/tapn"
URL=$URL1 KEY_URL=$URL2 API_KEY=s3cret CHROMIUM=$CHROMIUM LLMEM_CLIENTS=$CLIENTS_DIR SCREENSHOT=$shot \
	TAP_START=$n TAP_COUNT_FILE=$tmp/tapn \
	timeout -k 5 240 node "$ROOT/tests/integration/serve-dashboard.mjs"
rc=$?
if [ -s "$tmp/tapn" ]; then
	n=$(cat "$tmp/tapn")
else
	not_ok "serve-dashboard.mjs ended without its report (status $rc)"
fi
check "the screenshot is a PNG" sh -c "[ \"\$(head -c 8 \"\$1\" | od -An -tx1 | tr -d ' ')\" = 89504e470d0a1a0a ]" - "$shot"
sz=$(wc -c <"$shot" 2>/dev/null || echo 0)
check "of a reasonable size ($sz bytes)" [ "$sz" -gt 10000 -a "$sz" -lt 400000 ]

# ---- the daemons saw the same
URL=$URL1
is() { [ "$(sget "$1" state)" = "$2" ]; }
check "alpha unloaded" wait_for 10 is alpha unloaded
check "beta unloaded" wait_for 10 is beta unloaded
eq "alpha: one unload_request eviction" \
	"$(curl -s -m 5 "$URL1/metrics" | awk '$1 == "llmem_model_evictions_total{model=\"alpha\",reason=\"unload_request\"}" { print $2 }')" 1
eq "beta loaded once" "$(sget beta loads)" 1
st=$(curl -s -m 5 -H 'Authorization: Bearer s3cret' "$URL2/llmem/status" -o "$tmp/k.json" -w '%{http_code}')
eq "the key daemon's status" "$st" 200
eq "the key daemon loaded alpha" "$("$GET" "$tmp/k.json" models/name=alpha/state)" ready
