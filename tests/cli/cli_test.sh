#!/bin/sh
# CLI test of the real binary: check-config (file:line for every problem), keys create/list/
# revoke, serve refusing an invalid config, serve answering and exiting 0 on SIGTERM, usage.
# usage: cli_test.sh WARDEN_BIN SOURCE_DIR
set -u
BIN="$1"
SRC="$2"
T=$(mktemp -d)
trap 'kill $PID 2>/dev/null; rm -rf "$T"' EXIT
PID=""
fails=0
. "$SRC/tests/support/listening_port.sh"
fail() { echo "FAIL: $*" >&2; fails=$((fails + 1)); }
expect_rc() { want=$1; shift; "$@" >"$T/out" 2>"$T/err"; rc=$?; [ "$rc" -eq "$want" ] || fail "$* exited $rc, wanted $want: $(cat "$T/err")"; }

# 1. The shipped config is valid.
# (relative paths in a config, like ./policies, are resolved from the working directory)
cd "$SRC"
expect_rc 0 "$BIN" check-config --config config/warden.yaml
cd "$T"
grep -q "are valid" "$T/err" || fail "check-config did not say valid: $(cat "$T/err")"

# 2. A bad config: every problem with file:line, exit 1, and serve refuses it.
cat > "$T/bad.yaml" <<'YAML'
server:
  listen: 127.0.0.1:notaport
providers:
  - name: p
    kind: nonsense
models:
  - alias: m
    deployments:
      - { provider: missing, model: x }
YAML
expect_rc 1 "$BIN" check-config --config "$T/bad.yaml"
for line in 2 5 9; do
  grep -q "^$T/bad.yaml:$line:" "$T/err" || fail "no problem reported at line $line: $(cat "$T/err")"
done
expect_rc 1 "$BIN" serve --config "$T/bad.yaml"
grep -q "error" "$T/err" || fail "serve did not explain why it refused"

# 3. Keys: create prints the key once on stdout; list shows it without the secret; revoke.
cat > "$T/ok.yaml" <<YAML
server:
  listen: 127.0.0.1:0
  access_log: $T/access.log
data_dir: $T/data
policies_dir: $SRC/policies
providers:
  - { name: local-echo, kind: echo }
models:
  - alias: echo
    deployments: [ { provider: local-echo, model: echo-1 } ]
YAML
expect_rc 0 "$BIN" keys create --name ci-key --config "$T/ok.yaml"
KEY=$(cat "$T/out")
case "$KEY" in wdn_*) ;; *) fail "key does not start with wdn_: $KEY" ;; esac
SECRET=$(printf '%s' "$KEY" | cut -d_ -f4-)   # wdn_<env>_<id>_<secret>; the secret may hold '_'
[ ${#SECRET} -eq 43 ] || fail "could not take the secret out of the key: $KEY"
expect_rc 0 "$BIN" keys list --config "$T/ok.yaml"
grep -q "ci-key .*active" "$T/out" || fail "keys list does not show the active key"
grep -q -- "$SECRET" "$T/out" "$T/err" && fail "keys list printed the secret"
expect_rc 2 "$BIN" keys create --config "$T/ok.yaml"
expect_rc 0 "$BIN" keys create --name other --config "$T/ok.yaml"
expect_rc 0 "$BIN" keys revoke other --config "$T/ok.yaml"
"$BIN" keys list --config "$T/ok.yaml" | grep -q "other .*revoked" || fail "revoked key not shown as revoked"
expect_rc 1 "$BIN" keys revoke no-such-key --config "$T/ok.yaml"

# 4. serve: answers on the port it logs, and SIGTERM stops it with exit 0.
"$BIN" serve --config "$T/ok.yaml" 2>"$T/serve.err" &
PID=$!
PORT=$(listening_port "$T/access.log")
[ -n "$PORT" ] || fail "serve did not log a listening port"
if [ -n "$PORT" ]; then
  code=$(curl -s -o "$T/body" -w '%{http_code}' "http://127.0.0.1:$PORT/v1/chat/completions" \
    -H "Authorization: Bearer $KEY" -H 'Content-Type: application/json' \
    -d '{"model":"echo","messages":[{"role":"user","content":"ping pong"}]}')
  [ "$code" = 200 ] || fail "chat via the binary returned $code"
  grep -q '"content":"ping pong"' "$T/body" || fail "echo answer missing: $(cat "$T/body")"
  # usage reads beside the running gateway (read-only, no lock).
  expect_rc 0 "$BIN" usage --config "$T/ok.yaml"
  # Core dumps are off in the process, whatever the shell allowed (they would hold keys).
  grep -Eq '^Max core file size +0 +0 ' /proc/$PID/limits || fail "core dumps are not off: $(grep core /proc/$PID/limits)"
  # A second serve on the same data directory fails clearly instead of corrupting it.
  expect_rc 1 "$BIN" serve --config "$T/ok.yaml"
  grep -qi "in use" "$T/err" || fail "second serve did not say the data dir is in use: $(cat "$T/err")"
fi
kill -TERM $PID
wait $PID
rc=$?
PID=""
[ "$rc" -eq 0 ] || fail "serve exited $rc on SIGTERM"
grep -q '"event":"stopped"' "$T/access.log" || fail "no stopped log line"
grep -q "ping pong" "$T/access.log" && fail "prompt text in the log"

# 4a. Everything Warden wrote is private: directories 0700, files 0600 (issue 16: db was 0755/0644).
WIDE=$(find "$T/data" "$T/access.log" -perm /077 2>/dev/null)
[ -z "$WIDE" ] || fail "files or directories readable by others: $WIDE"
[ "$(stat -c %a "$T/data/db")" = 700 ] || fail "data_dir/db is mode $(stat -c %a "$T/data/db")"
chmod 755 "$T/data/db"
expect_rc 0 "$BIN" check-config --config "$T/ok.yaml"
grep -q "the key and usage store $T/data/db is mode 0755" "$T/err" || fail "check-config did not warn about a wide directory: $(cat "$T/err")"
# Readable by our own group only (Kubernetes mounts secrets 0440 root:fsGroup): not reported.
chmod 750 "$T/data/db"
expect_rc 0 "$BIN" check-config --config "$T/ok.yaml"
grep -q "$T/data/db is mode" "$T/err" && fail "check-config warned about a directory only its own group reads: $(cat "$T/err")"
chmod 700 "$T/data/db"

# 4b. usage: the stopped gateway flushed its aggregates; table, csv and json agree.
expect_rc 0 "$BIN" usage --by model --config "$T/ok.yaml"
grep -Eq '^echo +1 ' "$T/out" || fail "usage table has no echo row with 1 request: $(cat "$T/out")"
expect_rc 0 "$BIN" usage --by provider --format csv --config "$T/ok.yaml"
grep -q '^local-echo,1,' "$T/out" || fail "usage csv: $(cat "$T/out")"
expect_rc 0 "$BIN" usage --by day --format json --since 2000-01-01 --config "$T/ok.yaml"
grep -q '"requests": 1' "$T/out" || fail "usage json: $(cat "$T/out")"
expect_rc 2 "$BIN" usage --by colour --config "$T/ok.yaml"
expect_rc 2 "$BIN" usage --since yesterday --config "$T/ok.yaml"

# 4c. usage budgets: per key under a budgeted policy, spent today and this month, the limit and
# what is left (issue 20). One cheap request through the echo provider, then stop: the CLI's
# figures are the access log's, exactly (money is integer pico-dollars everywhere).
mkdir -p "$T/budget-policies/redaction"
printf 'name: default\n' >"$T/budget-policies/default.yaml"
printf 'name: capped\nbudgets: { usd_per_day: 1000, usd_per_month: 5000 }\n' >"$T/budget-policies/capped.yaml"
cat > "$T/budget.yaml" <<YAML
server:
  listen: 127.0.0.1:0
  access_log: $T/budget-access.log
data_dir: $T/budget-data
policies_dir: $T/budget-policies
providers:
  - { name: local-echo, kind: echo, price: { input_per_million: 0.15, output_per_million: 0.6 } }
models:
  - alias: echo
    deployments: [ { provider: local-echo, model: echo-1 } ]
YAML
expect_rc 0 "$BIN" keys create --name capped-key --policy capped --config "$T/budget.yaml"
CAPPED=$(cat "$T/out")
expect_rc 0 "$BIN" keys create --name free-key --config "$T/budget.yaml"
"$BIN" serve --config "$T/budget.yaml" 2>"$T/budget-serve.err" &
PID=$!
PORT=$(listening_port "$T/budget-access.log")
[ -n "$PORT" ] || fail "serve (budget) did not log a listening port"
code=$(curl -s -o "$T/body" -w '%{http_code}' "http://127.0.0.1:$PORT/v1/chat/completions" \
  -H "Authorization: Bearer $CAPPED" -H 'Content-Type: application/json' \
  -d '{"model":"echo","messages":[{"role":"user","content":"ping pong"}]}')
[ "$code" = 200 ] || fail "budget chat returned $code"
COST=$(sed -n 's/.*"cost_usd":\([0-9.e+-]*\).*/\1/p' "$T/budget-access.log" | head -1)
# 4d. Ledger freshness: beside the running gateway, with no further traffic, `warden usage`
# shows the request within the interval the README states (the flusher writes every second).
fresh=""
for i in 1 2 3 4 5 6 7 8 9 10; do
  "$BIN" usage --by key --format csv --config "$T/budget.yaml" >"$T/out" 2>"$T/err"
  if grep -q ',1,' "$T/out"; then fresh=$i; break; fi
  sleep 0.25
done
[ -n "$fresh" ] || fail "warden usage did not show the request within 2.5 s: $(cat "$T/out")"
# ...and the export beside it: one content-free row per request, the same cost.
expect_rc 0 "$BIN" usage export --format csv --config "$T/budget.yaml"
head -1 "$T/out" | grep -q '^request_id,time,key_id,policy,tags,endpoint,model,deployment,provider,status,outcome,' ||
  fail "usage export header: $(head -1 "$T/out")"
awk -F, -v cost="$COST" 'NR == 2 { found = ($3 != "" && $7 == "echo" && $10 == 200 && $15 + 0 == cost + 0) } END { exit found ? 0 : 1 }' \
  "$T/out" || fail "usage export row does not match the access log cost $COST: $(cat "$T/out")"
grep -q 'ping pong' "$T/out" && fail "usage export holds the prompt"
expect_rc 0 "$BIN" usage export --since 2000-01-01 --config "$T/budget.yaml"
grep -q '"cost_picos":' "$T/out" || fail "usage export jsonl: $(cat "$T/out")"
expect_rc 2 "$BIN" usage export --format xml --config "$T/budget.yaml"
expect_rc 2 "$BIN" usage export --since yesterday --config "$T/budget.yaml"
kill -TERM "$PID"; wait "$PID"; PID=""
expect_rc 0 "$BIN" usage budgets --format csv --config "$T/budget.yaml"
LINE=$(grep ",capped-key,capped," "$T/out")
[ -n "$LINE" ] || fail "usage budgets has no row for the capped key: $(cat "$T/out")"
grep -q ",free-key," "$T/out" && fail "usage budgets listed a key without a budget: $(cat "$T/out")"
awk -F, -v cost="$COST" 'NR == 1 { next } $2 == "capped-key" {
    ok = cost > 0 && $4 + 0 == cost + 0 && $5 + 0 == 1000 && ($6 + 0) - (1000 - cost) < 1e-6 && (1000 - cost) - ($6 + 0) < 1e-6 &&
         $7 + 0 == cost + 0 && $8 + 0 == 5000
    exit ok ? 0 : 1 }' "$T/out" || fail "usage budgets figures do not match the access log cost $COST: $LINE"
expect_rc 0 "$BIN" usage --by key --format csv --config "$T/budget.yaml"
awk -F, -v cost="$COST" 'NR == 2 { exit ($6 + 0 == cost + 0 && $6 ~ /^0\.0000/) ? 0 : 1 }' "$T/out" ||
  fail "usage cost is not the access log's $COST exactly: $(cat "$T/out")"
expect_rc 0 "$BIN" usage budgets --format json --config "$T/budget.yaml"
grep -q '"remaining_usd"' "$T/out" || fail "usage budgets json: $(cat "$T/out")"
expect_rc 2 "$BIN" usage budgets --by key --config "$T/budget.yaml"

# 5. redact: what a policy would send upstream, from stdin; counts on stderr, never values.
printf 'Mail jane@example.com, key AKIAIOSFODNN7EXAMPLE\n' > "$T/in.txt"
cd "$SRC"
"$BIN" redact --policy hipaa --config config/warden.yaml < "$T/in.txt" > "$T/out" 2> "$T/err"
rc=$?
cd "$T"
[ "$rc" -eq 0 ] || fail "redact exited $rc: $(cat "$T/err")"
# hipaa redacts credentials too (pii, phi and secrets).
grep -q 'Mail \[EMAIL_1\], key \[AWS_ACCESS_KEY_1\]' "$T/out" || fail "redact output: $(cat "$T/out")"
grep -q 'EMAIL: 1' "$T/err" || fail "redact counts: $(cat "$T/err")"
grep -q 'AWS_ACCESS_KEY: 1' "$T/err" || fail "redact counts: $(cat "$T/err")"
grep -q 'jane@example.com\|AKIAIOSFODNN7EXAMPLE' "$T/err" && fail "redact printed a value on stderr"

# 6. SIGHUP: a new alias serves after a reload; a broken file is reported and the running
#    config keeps serving; SIGTERM still exits 0 afterwards.
cp "$T/ok.yaml" "$T/reload.yaml"
sed -i "s#access_log: $T/access.log#access_log: $T/reload.log#" "$T/reload.yaml"
"$BIN" serve --config "$T/reload.yaml" 2>"$T/reload.err" &
PID=$!
PORT=$(listening_port "$T/reload.log")
chat() {  # chat MODEL -> HTTP status
  curl -s -o "$T/body" -w '%{http_code}' "http://127.0.0.1:$PORT/v1/chat/completions" \
    -H "Authorization: Bearer $KEY" -H 'Content-Type: application/json' \
    -d "{\"model\":\"$1\",\"messages\":[{\"role\":\"user\",\"content\":\"x\"}]}"
}
wait_log() {  # wait_log EVENT COUNT: until the log has COUNT lines with EVENT
  for _ in $(seq 1 50); do
    [ "$(grep -c "\"event\":\"$1\"" "$T/reload.log")" -ge "$2" ] && return 0
    sleep 0.1
  done
  return 1
}
if [ -z "$PORT" ]; then
  fail "reload: serve did not start"
else
  [ "$(chat later)" = 404 ] || fail "reload: unknown alias was not 404 before the reload: $(cat "$T/body")"
  printf '  - alias: later\n    deployments: [ { provider: local-echo, model: echo-2 } ]\n' >>"$T/reload.yaml"
  kill -HUP $PID
  wait_log reloaded 1 || fail "reload: no reloaded log line: $(cat "$T/reload.log")"
  [ "$(chat later)" = 200 ] || fail "reload: the new alias does not serve: $(cat "$T/body")"
  printf 'models: [ nonsense\n' >>"$T/reload.yaml"
  kill -HUP $PID
  wait_log reload_failed 1 || fail "reload: a broken file was not reported"
  grep -q "reload.yaml:" "$T/reload.err" || fail "reload: no file:line for the broken file: $(cat "$T/reload.err")"
  kill -0 $PID 2>/dev/null || fail "reload: a broken file stopped the process"
  [ "$(chat later)" = 200 ] || fail "reload: the running config was dropped by a broken reload"
  kill -TERM $PID
  wait $PID
  rc=$?
  [ "$rc" -eq 0 ] || fail "reload: SIGTERM after reloads exited $rc"
fi
PID=""

# check-config names, for a zero-retention policy, every deployment it may reach that will not be
# told store:false (an OpenAI-compatible server other than api.openai.com gets nothing by default).
mkdir -p "$T/zr-policies/redaction"
printf 'name: default\nzero_retention: true\n' >"$T/zr-policies/default.yaml"
cat >"$T/zr.yaml" <<YAML
data_dir: $T/zr-data
policies_dir: $T/zr-policies
providers:
  - { name: vllm, kind: openai, base_url: "http://127.0.0.1:9/v1", zero_retention: true }
  - { name: told, kind: openai, base_url: "http://127.0.0.1:9/v1", zero_retention: true, store_field: true }
  - { name: claude, kind: anthropic, base_url: "http://127.0.0.1:9/v1", zero_retention: true }
  - { name: kept, kind: openai, base_url: "http://127.0.0.1:9/v1" }
models:
  - alias: m
    deployments: [ { provider: vllm, model: llama }, { provider: told, model: x }, { provider: claude, model: c }, { provider: kept, model: k } ]
YAML
expect_rc 0 "$BIN" check-config --config "$T/zr.yaml"
grep -q "policy 'default' is zero-retention, but these deployments it may reach are not told store:false: vllm/llama (store_field is off" "$T/err" \
  || fail "check-config did not name the deployment without store:false: $(cat "$T/err")"
grep -q "claude/c (anthropic" "$T/err" || fail "check-config did not name the anthropic deployment: $(cat "$T/err")"
grep "zero-retention" "$T/err" | grep -q "told/x\|kept/k" && fail "check-config named a deployment that is told store:false or unreachable: $(cat "$T/err")"
# … and every deployment some policy can reach that has no price (its own or its provider's):
# the unreachable one (kept/k) is not named; a price on the deployment or the provider clears it.
grep -q "these deployments have no price.*: vllm/llama, told/x, claude/c (set" "$T/err" \
  || fail "check-config did not name the deployments without a price: $(cat "$T/err")"
sed -e 's|{ provider: vllm, model: llama }|{ provider: vllm, model: llama, price: { input_per_million: 0.2, output_per_million: 0.4 } }|' \
    -e 's|  - { name: claude, kind: anthropic,|  - { name: claude, price: { input_per_million: 3 }, kind: anthropic,|' "$T/zr.yaml" >"$T/zr-priced.yaml"
expect_rc 0 "$BIN" check-config --config "$T/zr-priced.yaml"
grep -q "these deployments have no price.*: told/x (set" "$T/err" \
  || fail "check-config did not narrow the price warning to told/x: $(cat "$T/err")"

# warden-audit forget: an unknown id or name is refused (exit 1) and writes nothing; a key's name
# resolves through the key store; success is reported only once none of its records opens.
AUDIT_BIN="$(dirname "$BIN")/../audit/warden-audit"
erasures() { "$AUDIT_BIN" list --type erasure --config "$T/ok.yaml" 2>/dev/null | wc -l; }
BEFORE=$(erasures)
expect_rc 1 "$AUDIT_BIN" forget --key no-such-key --config "$T/ok.yaml"
grep -q "no key with id or name no-such-key" "$T/err" || fail "forget of an unknown key: $(cat "$T/err")"
expect_rc 1 "$AUDIT_BIN" forget --key other --config "$T/ok.yaml"   # a key with no sealed record
grep -q "nothing was erased" "$T/err" || fail "forget of a key without records: $(cat "$T/err")"
[ "$(erasures)" = "$BEFORE" ] || fail "a refused forget wrote an erasure record"
expect_rc 0 "$AUDIT_BIN" forget --key ci-key --config "$T/ok.yaml"
grep -q "none of its [1-9][0-9]* record(s) can be opened" "$T/out" || fail "forget by name: $(cat "$T/out" "$T/err")"
expect_rc 1 "$AUDIT_BIN" forget --key ci-key --config "$T/ok.yaml"
grep -q "already forgotten" "$T/err" || fail "second forget: $(cat "$T/err")"
expect_rc 0 "$AUDIT_BIN" verify --config "$T/ok.yaml"

# A damaged audit write-ahead log: serve refuses to start (exit 3, says why) instead of dropping
# the records after the damage and reusing their sequence numbers; warden-audit verify fails.
sed "s#data_dir: $T/data#data_dir: $T/damaged#" "$T/ok.yaml" >"$T/damaged.yaml"
for i in 1 2 3 4 5 6; do expect_rc 0 "$BIN" keys create --name "walkey$i" --config "$T/damaged.yaml"; done
WAL=$(ls -S "$T"/damaged/audit/*.log | head -1)
SIZE=$(wc -c <"$WAL")
[ "$SIZE" -gt 200 ] || fail "damaged store: the write-ahead log holds no records ($SIZE bytes)"
printf 'CORRUPT!' | dd of="$WAL" bs=1 seek=$((SIZE / 2)) conv=notrunc 2>/dev/null
cp "$WAL" "$T/wal.before"
expect_rc 3 "$BIN" serve --config "$T/damaged.yaml"
grep -q "damaged" "$T/err" || fail "serve did not say the audit store is damaged: $(cat "$T/err")"
cmp -s "$WAL" "$T/wal.before" || fail "serve wrote to a damaged audit store"
expect_rc 1 "$AUDIT_BIN" verify --config "$T/damaged.yaml"
grep -q "write-ahead log is damaged" "$T/out" "$T/err" || fail "verify did not report the damage: $(cat "$T/out" "$T/err")"

[ "$fails" -eq 0 ] && echo "cli: all checks passed"
exit "$fails"
