#!/bin/sh
# install-deps.sh: installs the Debian/Ubuntu packages llmem needs to build
# and test, only those that are missing. Runs apt-get as root (or through
# sudo). Pass --fuzz to add clang's libFuzzer runtime, --serve-tests to add
# what the `llmem serve` and `llmem top` tests use: curl, ss (iproute2), tmux, chromium
# and a font for it (the dashboard test, t-serve-dashboard.sh, drives it
# with playwright-core from scripts/setup-clients.sh), and
# Prometheus' promtool (tests/integration/t-serve-metrics.sh). promtool is
# taken out of Debian's prometheus package into the cache
# ($LLMEM_CACHE/promtool/promtool) rather than installed: the package would
# also enable and start a Prometheus server.
set -eu
pkgs="make gcc pkg-config libc6-dev libjansson-dev libcmocka-dev binutils libevent-dev libhttp-parser-dev libncurses-dev"
promtool=0
for a in "$@"; do
	case "$a" in
	--fuzz) pkgs="$pkgs clang libclang-rt-dev" ;;
	--serve-tests) pkgs="$pkgs curl iproute2 tmux chromium fonts-dejavu-core"; promtool=1 ;;
	*) echo "install-deps: unknown option $a" >&2; exit 2 ;;
	esac
done
SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO=sudo
export DEBIAN_FRONTEND=noninteractive
updated=0
missing=""
for p in $pkgs; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing="$missing $p"
done
if [ -n "$missing" ]; then
	echo "install-deps: installing$missing"
	$SUDO apt-get update -qq
	updated=1
	# shellcheck disable=SC2086
	$SUDO apt-get install -y -qq --no-install-recommends $missing >/dev/null
fi
if [ "$promtool" -eq 1 ]; then
	cache=${LLMEM_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/llmem}
	if ! command -v promtool >/dev/null 2>&1 && ! [ -x "$cache/promtool/promtool" ]; then
		echo "install-deps: promtool from Debian's prometheus package into $cache/promtool"
		[ "$updated" -eq 1 ] || $SUDO apt-get update -qq
		work=$(mktemp -d)
		trap 'rm -rf "$work"' EXIT
		# apt-get download writes into the current directory, as the
		# caller; -o keeps it from complaining about the _apt sandbox
		(cd "$work" && { apt-get download -qq -o APT::Sandbox::User=root prometheus >/dev/null 2>&1 ||
			apt-get download -qq prometheus >/dev/null; })
		dpkg-deb -x "$work"/prometheus_*.deb "$work/x"
		mkdir -p "$cache/promtool"
		cp "$work/x/usr/bin/promtool" "$cache/promtool/promtool.tmp"
		mv "$cache/promtool/promtool.tmp" "$cache/promtool/promtool"
		"$cache/promtool/promtool" --version >/dev/null
	fi
fi
