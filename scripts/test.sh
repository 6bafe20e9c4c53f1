#!/bin/sh
# The whole test suite: installs what is missing, builds, installs the pinned npm packages of the
# SDK compatibility test, and runs every CTest test (unit, integration, CLI, secrets, SDK).
#   scripts/test.sh              normal build (build/)
#   scripts/test.sh --sanitize   the same suite under ASan+UBSan (build-sanitize/)
set -eu
cd "$(dirname "$0")/.."
scripts/setup.sh --test
scripts/build.sh "$@"
DIR=build
[ "${1:-}" = "--sanitize" ] && DIR=build-sanitize
(cd tests/sdk && npm ci --no-audit --no-fund --loglevel=error)
ctest --test-dir "$DIR" --output-on-failure --timeout 300 -j2
