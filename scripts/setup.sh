#!/bin/sh
# Installs the Debian packages Warden needs (only those missing), with apt-get.
#   scripts/setup.sh            build + run dependencies
#   scripts/setup.sh --test     + what the test suite uses (Node.js/npm for the SDK tests, Chromium for
#                               the dashboard's browser test, openssl, curl, clang for the
#                               thread-safety analysis)
#   scripts/setup.sh --bench    + what bench/run.sh uses (wrk, nginx, Google Benchmark)
set -eu

PKGS="cmake g++ ninja-build pkg-config libpoco-dev librocksdb-dev libsodium-dev libre2-dev
libgtest-dev libgmock-dev libyaml-cpp-dev libssl-dev nlohmann-json3-dev libasio-dev libhiredis-dev"
for arg in "$@"; do
  case "$arg" in
    --test) PKGS="$PKGS openssl curl chromium clang redis-server"
            command -v node >/dev/null 2>&1 && command -v npm >/dev/null 2>&1 || PKGS="$PKGS nodejs npm" ;;
    --bench) PKGS="$PKGS wrk nginx-light curl python3 libbenchmark-dev redis-server" ;;
    *) echo "setup.sh: unknown option $arg" >&2; exit 2 ;;
  esac
done

missing=""
for p in $PKGS; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing="$missing $p"
done
[ -z "$missing" ] && exit 0

echo "setup.sh: installing:$missing" >&2
SUDO=""
[ "$(id -u)" -ne 0 ] && SUDO="sudo"
$SUDO apt-get update -qq
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends $missing
