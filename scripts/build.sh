#!/bin/sh
# Configures and builds Warden into build/ (or build-sanitize/ with --sanitize). Idempotent.
set -eu
cd "$(dirname "$0")/.."
DIR=build
FLAGS=""
if [ "${1:-}" = "--sanitize" ]; then DIR=build-sanitize; FLAGS="-DWARDEN_SANITIZE=ON"; fi
[ -f "$DIR/build.ninja" ] || cmake -S . -B "$DIR" -G Ninja $FLAGS >/dev/null
cmake --build "$DIR" --parallel
