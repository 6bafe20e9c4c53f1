#!/bin/sh
# The whole test suite: installs what is missing, builds, installs the pinned npm packages of the
# SDK compatibility test, and runs every CTest test (unit, integration, CLI, secrets, SDK); the
# normal run then builds everything with clang, whose thread-safety analysis checks that every
# member annotated GUARDED_BY is only touched under its mutex (build-clang/).
#   scripts/test.sh              normal build (build/)
#   scripts/test.sh --sanitize   the same suite under ASan+UBSan (build-sanitize/), then a short
#                                run of each libFuzzer target (clang, build-fuzz/)
#   scripts/test.sh --tsan       the concurrency tests under ThreadSanitizer (build-tsan/): the
#                                limiters, ledgers, metrics and audit log hammered from threads, and
#                                the server under streams, drain, reload, overload and failover,
#                                the event core (thousands of connections and streams), and a
#                                fleet sharing a real redis-server
set -eu
cd "$(dirname "$0")/.."
scripts/setup.sh --test
scripts/build.sh "$@"
DIR=build
[ "${1:-}" = "--sanitize" ] && DIR=build-sanitize
if [ "${1:-}" = "--tsan" ]; then
  # Poco and RocksDB come uninstrumented from Debian; tests/tsan.supp names what TSan cannot see
  # through in them (each entry says why). Our own code has no suppressions.
  TSAN_OPTIONS="halt_on_error=1 second_deadlock_stack=1 suppressions=$PWD/tests/tsan.supp" \
    ctest --test-dir build-tsan --output-on-failure --timeout 600 -j2 \
      -R '^(AuditTest|RateLimiterTest|SpendLedgerTest|UsageLedgerTest|MetricsTest|TimelineTest|DrainTest|OverloadTest|ReloadTest|FailoverTest|GatewayTest|TlsTest|TlsListenerTest|HttpStrictnessTest|EventCoreTest|ClusterTest)\.'
  exit 0
fi
(cd tests/sdk && npm ci --no-audit --no-fund --loglevel=error)
ctest --test-dir "$DIR" --output-on-failure --timeout 300 -j2
if [ $# -eq 0 ]; then
  [ -f build-clang/build.ninja ] || CXX=clang++ CC=clang cmake -S . -B build-clang -G Ninja -DWARDEN_TESTS=OFF >/dev/null
  cmake --build build-clang --parallel
fi
if [ "${1:-}" = "--sanitize" ]; then
  [ -f build-fuzz/build.ninja ] || CXX=clang++ cmake -S . -B build-fuzz -G Ninja -DWARDEN_FUZZ=ON -DWARDEN_TESTS=OFF >/dev/null
  cmake --build build-fuzz --parallel
  for f in redactor_fuzz sse_fuzz audit_fuzz provider_fuzz config_fuzz request_fuzz; do
    mkdir -p "build-fuzz/corpus-$f"
    # Checked-in seeds (valid inputs from the golden files) give the fuzzer a head start.
    [ -d "tests/fuzz/seeds/$f" ] && cp tests/fuzz/seeds/$f/* "build-fuzz/corpus-$f/"
    # Known crashers first (regressions), then new inputs; any property violation fails the run.
    build-fuzz/tests/fuzz/$f tests/fuzz/regressions/* > "build-fuzz/$f.log" 2>&1 || { tail -20 "build-fuzz/$f.log"; exit 1; }
    # Targets that read JSON or YAML get inputs large enough to nest past every depth limit
    # (the deep-nesting seeds are 120 KB); the others stay small, where mutations pay off most.
    case "$f" in request_fuzz|provider_fuzz|config_fuzz) max_len=262144 ;; *) max_len=4096 ;; esac
    build-fuzz/tests/fuzz/$f -max_total_time="${FUZZ_SECONDS:-30}" -max_len=$max_len -print_final_stats=0 \
      "build-fuzz/corpus-$f" > "build-fuzz/$f.log" 2>&1 || { tail -20 "build-fuzz/$f.log"; exit 1; }
    tail -1 "build-fuzz/$f.log"
  done
fi
