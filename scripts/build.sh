#!/bin/sh
# Configures and builds Warden into build/ (build-sanitize/ with --sanitize: ASan+UBSan;
# build-tsan/ with --tsan: ThreadSanitizer). Idempotent.
set -eu
cd "$(dirname "$0")/.."
DIR=build
FLAGS=""
if [ "${1:-}" = "--sanitize" ]; then DIR=build-sanitize; FLAGS="-DWARDEN_SANITIZE=ON"; fi
if [ "${1:-}" = "--tsan" ]; then DIR=build-tsan; FLAGS="-DWARDEN_TSAN=ON"; fi
[ -f "$DIR/build.ninja" ] || cmake -S . -B "$DIR" -G Ninja $FLAGS >/dev/null
cmake --build "$DIR" --parallel
