#!/bin/sh
# install-deps.sh: installs the Debian/Ubuntu packages llmem needs to build
# and test, only those that are missing. Runs apt-get as root (or through
# sudo). Pass --fuzz to add clang's libFuzzer runtime.
set -eu
pkgs="make gcc pkg-config libc6-dev libjansson-dev libcmocka-dev binutils libevent-dev libncurses-dev"
for a in "$@"; do
	case "$a" in
	--fuzz) pkgs="$pkgs clang libclang-rt-dev" ;;
	*) echo "install-deps: unknown option $a" >&2; exit 2 ;;
	esac
done
missing=""
for p in $pkgs; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing="$missing $p"
done
[ -z "$missing" ] && exit 0
echo "install-deps: installing$missing"
SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO=sudo
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
# shellcheck disable=SC2086
$SUDO apt-get install -y -qq --no-install-recommends $missing >/dev/null
