#!/bin/sh
# The event-loop spike (docs/decisions/0001-event-loops.md): the canned benchmark exchange on
# Asio coroutines and on Poco's reactor, each with 2 loop threads, under wrk at 32 keep-alive
# connections (ROUNDS rounds of DURATION seconds, taking turns); prints requests/s and the
# server's CPU time per request. Needs wrk (scripts/setup.sh --bench).
set -eu
cd "$(dirname "$0")/../.."
DURATION=${DURATION:-4}
ROUNDS=${ROUNDS:-3}
scripts/build.sh >/dev/null
cmake --build build --target asio_spike poco_spike >/dev/null
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }
for name in asio poco; do
  port=$(free_port)
  "build/bench/${name}_spike" "$port" 2 & pid=$!
  sleep 0.5
  for r in $(seq "$ROUNDS"); do
    before=$(cpu_ticks "$pid")
    rps=$(wrk -t2 -c32 -d"${DURATION}s" "http://127.0.0.1:$port/v1/chat/completions" | awk '/Requests\/sec/ {print $2}')
    after=$(cpu_ticks "$pid")
    python3 -c "import os; t=os.sysconf('SC_CLK_TCK'); r=float('$rps'); print(f'$name round $r: {r:,.0f} req/s, {($after-$before)/t/(r*$DURATION)*1e6:.1f} us CPU per request')"
  done
  kill "$pid"
done
