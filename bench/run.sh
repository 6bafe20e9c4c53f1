#!/bin/sh
# One-command benchmark: the same small chat request
#   (a) straight at a fast fake provider (nginx answering a canned completion),
#   (b) through one nginx proxy_pass hop with upstream keep-alive (the reference hop),
#   (c) through Warden (auth, JSON parse, alias rewrite, pooled upstream, access log, audit
#       records), with a key under `audit: required` and against a second Warden with the
#       audit store off (the audit's cost),
# closed loop at 32 connections, a paced light-load run, time to first SSE chunk, and the
# time a failover to the next deployment adds after a refused connection; then concurrency
# (bench/streams.py): STREAMS concurrent ~5 s streamed answers, and IDLE idle keep-alive
# connections in front of one new request, through nginx and through Warden. And (d) a Warden
# replica of a fleet (`cluster`: keys, rate limits, budgets and usage in a local redis-server)
# with the policy of (c)'s `warden-policy` row: what sharing the limits costs per request.
# Prints requests/s, p50/p90/p99, latency added over (a), and Warden's ratios to nginx.
#
#   bench/run.sh      ROUNDS=3 rounds of DURATION=4 seconds per target and load: the targets take
#                     turns within each round and medians are reported, because the machine is
#                     shared and noisy and one long run per target drifts with it.
# Needs wrk and nginx (scripts/setup.sh --bench installs them). Ratios, not absolute numbers,
# are what to compare between machines: every figure is measured in the same run.
set -eu
cd "$(dirname "$0")/.."
ROOT=$(pwd)
DURATION=${DURATION:-4}
ROUNDS=${ROUNDS:-3}
STREAMS=${STREAMS:-128 512 2048}
IDLE=${IDLE:-330}
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true  # 8,000 streams need ~16,000 descriptors in one process
scripts/setup.sh --bench
scripts/build.sh >/dev/null
T=$(mktemp -d)
cleanup() {
  [ -f "$T/nginx.pid" ] && kill "$(cat "$T/nginx.pid")" 2>/dev/null || true
  [ -n "${WPID:-}" ] && kill "$WPID" 2>/dev/null || true
  [ -n "${NPID:-}" ] && kill "$NPID" 2>/dev/null || true
  [ -n "${FPID:-}" ] && kill "$FPID" 2>/dev/null || true
  # The gateways write their stores on the way out: the directory goes once they have exited.
  wait ${WPID:-} ${NPID:-} ${FPID:-} 2>/dev/null || true
  [ -f "$T/redis.pid" ] && kill "$(cat "$T/redis.pid")" 2>/dev/null || true
  rm -rf "$T"
}
trap cleanup EXIT INT TERM

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
FAKE=$(free_port); PROXY=$(free_port); REFUSED=$(free_port)  # nothing listens on REFUSED
SLOW=$(free_port); SLOWPROXY=$(free_port)  # bench/streams.py's slow provider, and nginx in front of it
REDIS=$(free_port)  # the fleet's shared state

# The fake provider and the reference proxy hop: one nginx, two servers.
CHAT='{"id":"chatcmpl-bench","object":"chat.completion","created":1700000000,"model":"bench-model-1","choices":[{"index":0,"message":{"role":"assistant","content":"Hello! How can I help you today?"},"finish_reason":"stop"}],"usage":{"prompt_tokens":12,"completion_tokens":9,"total_tokens":21}}'
CHUNK='{"id":"chatcmpl-bench","object":"chat.completion.chunk","created":1700000000,"model":"bench-model-1","choices":[{"index":0,"delta":{"content":"Hello"},"finish_reason":null}]}'
cat > "$T/nginx.conf" <<NGINX
worker_processes 2;
pid $T/nginx.pid;
error_log $T/nginx-error.log error;
events { worker_connections 16384; }
http {
  access_log off;
  upstream fake { server 127.0.0.1:$FAKE; keepalive 64; }
  upstream slow { server 127.0.0.1:$SLOW; keepalive 64; }
  server {
    listen 127.0.0.1:$FAKE;
    keepalive_requests 1000000;
    location /v1/chat/completions {
      if (\$http_accept = "text/event-stream") { rewrite ^ /sse last; }
      default_type application/json;
      return 200 '$CHAT';
    }
    location = /sse {
      internal;
      default_type text/event-stream;
      return 200 'data: $CHUNK\n\ndata: [DONE]\n\n';
    }
  }
  server {
    listen 127.0.0.1:$PROXY;
    keepalive_requests 1000000;
    location / {
      proxy_pass http://fake;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
      proxy_buffering off;
    }
  }
  server {
    listen 127.0.0.1:$SLOWPROXY;
    keepalive_requests 1000000;
    location / {
      proxy_pass http://slow;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
      proxy_buffering off;
      proxy_read_timeout 120s;
    }
  }
}
NGINX
nginx -p "$T" -c "$T/nginx.conf" -g 'daemon on;' 2>"$T/nginx.err" || { cat "$T/nginx.err" >&2; exit 1; }

# Two keys on the same Warden: the empty `development` policy, and one that exercises every
# per-request policy check (model globs, region filter, rate limits and budgets that never bind).
mkdir -p "$T/policies"
printf 'name: default\n' > "$T/policies/default.yaml"
printf 'name: development\n' > "$T/policies/development.yaml"
printf 'name: audited\naudit: required\n' > "$T/policies/audited.yaml"
cat > "$T/policies/limited.yaml" <<'POLICY'
name: limited
models: ["gpt-*"]
providers: ["*"]
regions: ["local", "eu-*"]
rate_limits: { requests_per_minute: 100000000, tokens_per_minute: 100000000000 }
budgets: { usd_per_day: 1000000, usd_per_month: 10000000 }
POLICY
cat > "$T/warden.yaml" <<YAML
server:
  listen: 127.0.0.1:0
  access_log: $T/warden.log
data_dir: $T/data
policies_dir: $T/policies
providers:
  - name: fake
    kind: openai
    base_url: http://127.0.0.1:$FAKE/v1
    region: local
    price: { input_per_million: 0.15, output_per_million: 0.6 }
  - name: refused
    kind: openai
    base_url: http://127.0.0.1:$REFUSED/v1
    region: local
  - name: slow
    kind: openai
    base_url: http://127.0.0.1:$SLOW/v1
    region: local
# Failover is measured without backoff or breaker: every request pays the refused connect.
routing: { retries_per_deployment: 0, circuit_breaker: { failures: 0 } }
models:
  - alias: gpt-4o-mini
    deployments: [ { provider: fake, model: bench-model-1 } ]
  - alias: failover-chain
    deployments: [ { provider: refused, model: bench-model-1 }, { provider: fake, model: bench-model-1 } ]
  - alias: slow
    deployments: [ { provider: slow, model: slow-model } ]
YAML
# The same gateway with the audit store switched off: the baseline for the audit's cost.
sed -e "s|data_dir: $T/data|data_dir: $T/data-noaudit\naudit: { enabled: false }|" \
    -e "s|access_log: $T/warden.log|access_log: $T/warden-noaudit.log|" "$T/warden.yaml" > "$T/warden-noaudit.yaml"
# A replica of a fleet: the same gateway with its shared state in a local redis-server.
redis-server --port "$REDIS" --bind 127.0.0.1 --save "" --appendonly no --daemonize yes \
  --pidfile "$T/redis.pid" --dir "$T" --logfile "$T/redis.log" >/dev/null
for _ in $(seq 1 50); do redis-cli -p "$REDIS" ping >/dev/null 2>&1 && break; sleep 0.1; done
sed -e "s|data_dir: $T/data|data_dir: $T/data-fleet\nkey_hash_key_file: $T/fleet-hash.key\ncluster: { replica: bench, redis: { url: \"redis://127.0.0.1:$REDIS\" } }|" \
    -e "s|access_log: $T/warden.log|access_log: $T/warden-fleet.log|" "$T/warden.yaml" > "$T/warden-fleet.yaml"
FKEY=$(build/src/warden keys create --name bench-fleet --policy limited --config "$T/warden-fleet.yaml" 2>/dev/null)
KEY=$(build/src/warden keys create --name bench --policy development --config "$T/warden.yaml" 2>/dev/null)
AKEY=$(build/src/warden keys create --name bench-audited --policy audited --config "$T/warden.yaml" 2>/dev/null)
NKEY=$(build/src/warden keys create --name bench --policy development --config "$T/warden-noaudit.yaml" 2>/dev/null)
PKEY=$(build/src/warden keys create --name bench-policy --policy limited --config "$T/warden.yaml" 2>/dev/null)
# listening_port LOG: the port a `warden serve` logs once it listens (waits up to 10 s).
listening_port() {
  for _ in $(seq 1 100); do
    port=$(sed -n 's/.*"event":"listening".*"port":\([0-9]*\).*/\1/p' "$1" 2>/dev/null | head -1)
    [ -n "$port" ] && { echo "$port"; return 0; }
    sleep 0.1
  done
  echo "warden did not start ($1)" >&2
  cat "$T/warden.err" >&2
  return 1
}
build/src/warden serve --config "$T/warden.yaml" 2>>"$T/warden.err" &
WPID=$!
WARDEN=$(listening_port "$T/warden.log")
build/src/warden serve --config "$T/warden-noaudit.yaml" 2>>"$T/warden.err" &
NPID=$!
NOAUDIT=$(listening_port "$T/warden-noaudit.log")
build/src/warden serve --config "$T/warden-fleet.yaml" 2>>"$T/warden.err" &
FPID=$!
FLEET=$(listening_port "$T/warden-fleet.log")

BODY='{"model":"gpt-4o-mini","messages":[{"role":"system","content":"You are a helpful assistant."},{"role":"user","content":"Hello!"}],"max_tokens":64}'
# wrk script: POST the body; done() prints one JSON line (latencies in microseconds).
cat > "$T/post.lua" <<LUA
wrk.method = "POST"
wrk.body = '$BODY'
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Authorization"] = "Bearer " .. (os.getenv("BENCH_KEY") or "$KEY")
local pace = tonumber(os.getenv("PACE_MS") or "0")
function delay() return pace end
function done(s, latency, requests)
  io.write(string.format('RESULT {"rps":%.1f,"p50":%d,"p90":%d,"p99":%d,"errors":%d,"non2xx":%d}\n',
    s.requests / (s.duration / 1e6), latency:percentile(50), latency:percentile(90),
    latency:percentile(99), s.errors.connect + s.errors.read + s.errors.write + s.errors.timeout,
    s.errors.status))
end
LUA

run_wrk() {  # name url conns pace_ms
  BENCH_KEY=${BENCH_KEY:-$KEY} PACE_MS=$4 wrk -t2 -c"$3" -d"${DURATION}s" -s "$T/post.lua" "$2" 2>&1 | sed -n "s/^RESULT /$1 /p"
}
echo "warming up..." >&2
for u in "http://127.0.0.1:$FAKE" "http://127.0.0.1:$PROXY" "http://127.0.0.1:$WARDEN"; do
  DURATION=2 run_wrk warm "$u/v1/chat/completions" 8 0 >/dev/null
done
: > "$T/results"
round=1
while [ "$round" -le "$ROUNDS" ]; do
  echo "round $round of $ROUNDS..." >&2
  for load in closed32:32:0 paced:4:5; do
    run=${load%%:*}; rest=${load#*:}; conns=${rest%%:*}; pace=${rest#*:}
    run_wrk "direct $run" "http://127.0.0.1:$FAKE/v1/chat/completions" "$conns" "$pace" >> "$T/results"
    run_wrk "nginx $run" "http://127.0.0.1:$PROXY/v1/chat/completions" "$conns" "$pace" >> "$T/results"
    run_wrk "warden $run" "http://127.0.0.1:$WARDEN/v1/chat/completions" "$conns" "$pace" >> "$T/results"
    BENCH_KEY=$PKEY run_wrk "warden-policy $run" "http://127.0.0.1:$WARDEN/v1/chat/completions" \
      "$conns" "$pace" >> "$T/results"
    BENCH_KEY=$AKEY run_wrk "warden-audited $run" "http://127.0.0.1:$WARDEN/v1/chat/completions" \
      "$conns" "$pace" >> "$T/results"
    BENCH_KEY=$NKEY run_wrk "warden-noaudit $run" "http://127.0.0.1:$NOAUDIT/v1/chat/completions" \
      "$conns" "$pace" >> "$T/results"
    BENCH_KEY=$FKEY run_wrk "warden-fleet $run" "http://127.0.0.1:$FLEET/v1/chat/completions" \
      "$conns" "$pace" >> "$T/results"
  done
  round=$((round + 1))
done
echo "time to first chunk..." >&2
for target in direct:$FAKE nginx:$PROXY warden:$WARDEN; do
  echo "${target%%:*} ttfc $(python3 bench/ttfc.py "${target##*:}" "$KEY" 300)" >> "$T/results"
done
echo "warden failover $(python3 bench/failover.py "$WARDEN" "$KEY" 500)" >> "$T/results"
RSS_KB=$(sed -n 's/^VmHWM:[[:space:]]*\([0-9]*\).*/\1/p' /proc/$WPID/status)
echo "concurrency (streams: $STREAMS; idle: $IDLE)..." >&2
# shellcheck disable=SC2086
python3 bench/streams.py "$SLOW" "$SLOWPROXY" "$WARDEN" "$KEY" $STREAMS --idle $IDLE > "$T/concurrency" || true
THREADS=$(sed -n 's/^Threads:[[:space:]]*//p' /proc/$WPID/status)
CONC_RSS_KB=$(sed -n 's/^VmHWM:[[:space:]]*\([0-9]*\).*/\1/p' /proc/$WPID/status)
# build.sh configured before libbenchmark-dev may have been installed: configure again if needed.
[ -x build/bench/redaction_bench ] || { cmake -S . -B build >/dev/null && cmake --build build --target redaction_bench >/dev/null; }

python3 - "$T/results" "$RSS_KB" <<'PY'
import json, statistics, sys
runs, rows = {}, {}
for line in open(sys.argv[1]):
    target, run, payload = line.split(" ", 2)
    if run in ("ttfc", "failover"):
        rows[(target, run)] = json.loads(payload)
    else:
        runs.setdefault((target, run), []).append(json.loads(payload))
for k, rs in runs.items():  # medians over the rounds, field by field
    rows[k] = {f: statistics.median(r[f] for r in rs) for f in rs[0]}
ms = lambda us: f"{us/1000:.3f}"
print(f"\nmedians of {len(runs[('direct', 'closed32')])} rounds")
print(f"{'target':14} {'run':9} {'req/s':>9} {'p50 ms':>8} {'p90 ms':>8} {'p99 ms':>8} {'added p50':>10} {'errors':>7}")
for run in ("closed32", "paced"):
    base = rows[("direct", run)]
    for t in ("direct", "nginx", "warden", "warden-policy", "warden-audited", "warden-noaudit", "warden-fleet"):
        r = rows[(t, run)]
        print(f"{t:14} {run:9} {r['rps']:9.0f} {ms(r['p50']):>8} {ms(r['p90']):>8} {ms(r['p99']):>8} "
              f"{ms(r['p50'] - base['p50']):>10} {int(r['errors'] + r['non2xx']):7d}")
print()
print("time to first SSE chunk, median of 300 (warm = keep-alive connection, cold = new connection):")
for t in ("direct", "nginx", "warden"):
    r, b = rows[(t, "ttfc")], rows[("direct", "ttfc")]
    print(f"  {t:7} warm {ms(r['warm'])} ms" + ("" if t == "direct" else f" (+{ms(r['warm'] - b['warm'])})")
          + f"   cold {ms(r['cold'])} ms" + ("" if t == "direct" else f" (+{ms(r['cold'] - b['cold'])})"))
d, n, w = (rows[(t, "paced")]["p50"] for t in ("direct", "nginx", "warden"))
added_n, added_w = n - d, w - d
print()
print(f"added p50 at light load: nginx {ms(added_n)} ms, warden {ms(added_w)} ms -> "
      f"ratio {added_w / added_n if added_n > 0 else float('inf'):.2f}x (target <= 1.5x)")
rn, rw = rows[("nginx", "closed32")]["rps"], rows[("warden", "closed32")]["rps"]
print(f"throughput at 32 connections: warden/nginx = {rw / rn:.2f} (target >= 0.5)")
tw, tn, td = (rows[(t, "ttfc")] for t in ("warden", "nginx", "direct"))
print(f"first-chunk overhead (warm): warden {ms(tw['warm'] - td['warm'])} ms, nginx "
      f"{ms(tn['warm'] - td['warm'])} ms (target < 0.5 ms); cold: warden {ms(tw['cold'] - td['cold'])} ms, "
      f"nginx {ms(tn['cold'] - td['cold'])} ms")
pc, pp = rows[("warden-policy", "closed32")], rows[("warden-policy", "paced")]
wc, wp = rows[("warden", "closed32")], rows[("warden", "paced")]
print(f"policy overhead ('limited' vs 'development' policy, same Warden): throughput "
      f"{(pc['rps'] / wc['rps'] - 1) * 100:+.1f}% ({pc['rps']:.0f} vs {wc['rps']:.0f} req/s), "
      f"paced p50 {(pp['p50'] / wp['p50'] - 1) * 100:+.1f}% ({ms(pp['p50'])} vs {ms(wp['p50'])} ms); "
      f"target: under 5% extra")
ac, ap = rows[("warden-audited", "closed32")], rows[("warden-audited", "paced")]
nc, np_ = rows[("warden-noaudit", "closed32")], rows[("warden-noaudit", "paced")]
print(f"audit cost ('audit: required' vs the audit store off, same build): throughput "
      f"{ac['rps'] / nc['rps']:.2f}x ({ac['rps']:.0f} vs {nc['rps']:.0f} req/s; target >= 0.90), "
      f"paced p50 +{ms(ap['p50'] - np_['p50'])} ms ({ms(ap['p50'])} vs {ms(np_['p50'])} ms)")
fc, fp = rows[("warden-fleet", "closed32")], rows[("warden-fleet", "paced")]
print(f"fleet cost ('limited' policy: limits and budgets in Redis vs in this process): throughput "
      f"{fc['rps'] / pc['rps']:.2f}x ({fc['rps']:.0f} vs {pc['rps']:.0f} req/s), paced p50 "
      f"{'+' if fp['p50'] >= pp['p50'] else ''}{ms(fp['p50'] - pp['p50'])} ms ({ms(fp['p50'])} vs {ms(pp['p50'])} ms)")
fo = rows[("warden", "failover")]
print(f"failover after a refused connection (no backoff): +{ms(fo['failover'] - fo['base'])} ms "
      f"({ms(fo['failover'])} vs {ms(fo['base'])} ms median; target < 2 ms plus the backoff)")
print(f"warden peak RSS: {int(sys.argv[2]) / 1024:.1f} MB (target < 60 MB)")
PY

echo
echo "concurrency, through nginx proxy_pass and through Warden (same slow provider: 20 chunks 250 ms apart):"
python3 - "$T/concurrency" <<'PY'
import json, sys
rows = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
f = lambda v: "-" if v is None else f"{v:.0f}"
for r in rows:
    if r["measure"] == "streams":
        print(f"  {r['concurrent']:5d} streams  {r['target']:6}  intact {r['intact']:5d}/{r['concurrent']}  first chunk "
              f"p50 {f(r['first_chunk_p50_ms'])} ms p90 {f(r['first_chunk_p90_ms'])} ms  wall {r['wall_s']} s")
    else:
        print(f"  {r['idle_connections']:5d} idle     {r['target']:6}  idle served {r['idle_served']}  a new request: "
              f"{'answered' if r['new_request_intact'] else 'NOT answered'}, first chunk {f(r['new_first_chunk_ms'])} ms")
PY
echo "  warden threads after it: $THREADS, peak RSS $((CONC_RSS_KB / 1024)) MB"

echo
echo "audit appends (bench/audit_bench):"
build/bench/audit_bench 3 32

echo "redaction (all shipped rule sets; BM_Redact/<bytes>/<bytes between values>, 0 = none; BaselineCopy = copying the same bytes):"
build/bench/redaction_bench --benchmark_min_time=0.2 2>/dev/null | grep -E "^BM_|^Benchmark|^-"
