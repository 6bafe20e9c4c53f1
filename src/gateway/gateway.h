// Gateway: the pipeline behind every client request, independent of the HTTP library.
//
// Contract: Handle() runs one request to the end — Authenticate → Resolve policy → Parse →
// Check policy (overrides, model, protections, rate limits, budgets) → Route (only deployments
// the policy allows) → Audit intent → Forward (failover) → Audit outcome (synced before the
// response completes) → Finalize (usage, spend, access log) — and always answers: every failure becomes an OpenAI-shaped error with the right
// status, and Finalize (one JSON access-log line) always runs, even after an exception. It never
// throws. The Config is immutable and shared; the KeyStore, Store and upstream clients are
// borrowed and must outlive the Gateway. Handle() is a coroutine on the connection's event loop;
// what blocks runs elsewhere while the request waits without a thread: audit records on the
// audit log's appender thread (AuditLog::AppendAsync), store reads (a key the cache has not
// seen, a key's first budget look in a period) and large redactions on the worker pool
// (GatewayDeps::blocking). The ledgers count in memory; the App's flusher writes them.
// Thread-safe: the requests of every loop call Handle() at once.
#pragma once

#include <map>
#include <memory>

#include <asio/thread_pool.hpp>

#include "audit/audit_log.h"
#include "common/shared_slot.h"
#include "config/config.h"
#include "gateway/client_exchange.h"
#include "gateway/forward.h"
#include "gateway/request_context.h"
#include "keys/key_store.h"
#include "limits/rate_limiter.h"
#include "limits/spend_ledger.h"
#include "limits/usage_ledger.h"
#include "metrics/gateway_metrics.h"
#include "policy/policy.h"
#include "redaction/redactor.h"
#include "providers/upstream.h"
#include "store/store.h"

namespace warden {

// What SIGHUP replaces, as one immutable unit: the config (providers, models, limits read per
// request), the policies and the redactors compiled from their rule sets. A request takes the
// current snapshot when it starts and keeps it to its end (RequestContext::snapshot), so it
// never mixes an old policy with a new route.
struct GatewaySnapshot {
  std::shared_ptr<const Config> config;
  std::shared_ptr<const PolicySet> policies;
  // policy name → its compiled redactor (policies that list rule sets). A policy that lists
  // rule sets but has no redactor here is refused (503): never served unredacted.
  std::map<std::string, std::shared_ptr<const Redactor>> redactors;
  std::shared_ptr<const RuleSets> rule_sets;  // keeps the rules the redactors point into alive
};
// Compiles one redactor per policy that lists rule sets; fails if any cannot be built.
Result<std::shared_ptr<const GatewaySnapshot>> MakeGatewaySnapshot(std::shared_ptr<const Config> config,
                                                                   std::shared_ptr<const PolicySet> policies,
                                                                   std::shared_ptr<const RuleSets> rule_sets);

// What the gateway borrows; everything must outlive it.
struct GatewayDeps {
  std::shared_ptr<const GatewaySnapshot> snapshot;  // the initial one; see Gateway::Reload
  const KeyStore* keys = nullptr;
  const Store* store = nullptr;
  UpstreamClient* http = nullptr;
  UpstreamClient* echo = nullptr;
  RateLimiter* rate_limiter = nullptr;
  SpendLedger* spend = nullptr;
  UsageLedger* usage = nullptr;  // tokens and cost per day/key/policy/model/deployment/provider
  metrics::GatewayMetrics* metrics = nullptr;  // null = no metrics
  // The audit log (null = audit disabled in the config). Requests under a policy with
  // `audit: required` are refused (503) when it is null or a record cannot be written.
  audit::AuditLog* audit = nullptr;
  // The worker pool for blocking work (null: run it inline, as tests without loops do).
  asio::thread_pool* blocking = nullptr;
};

class Gateway : public AsyncRequestHandler {
 public:
  explicit Gateway(GatewayDeps deps);

  asio::awaitable<void> Handle(ClientExchange& client) override;
  // Requests that start from now on use `snapshot`; those in flight finish on theirs. Only the
  // snapshot's parts change: routing, upstream and server settings stay as constructed.
  void Reload(std::shared_ptr<const GatewaySnapshot> snapshot);
  std::shared_ptr<const GatewaySnapshot> snapshot() const;
  // Circuit breaker states and latency averages, for the metrics page.
  const DeploymentHealth& health() { return forwarder_.health(); }

 private:
  asio::awaitable<Status> Dispatch(RequestContext& ctx, ClientExchange& client);
  asio::awaitable<Status> Authenticate(RequestContext& ctx, ClientExchange& client);
  asio::awaitable<Status> HandleInference(RequestContext& ctx, ClientExchange& client);
  // Parse → check overrides → keep content for the log → redact; CPU only.
  Status ParseAndRedact(RequestContext& ctx, std::string_view body);
  Status HandleModels(RequestContext& ctx, ClientExchange& client, std::string_view id);
  void Finalize(const RequestContext& ctx, ClientExchange& client);

  asio::awaitable<Status> CheckLimits(RequestContext& ctx, ClientExchange& client);
  // Usage, spend and the token correction of the rate limit, in memory. Once per request.
  void Account(RequestContext& ctx);
  // Accounts when `account`, then writes the outcome (AuditClose: awaited durable without a
  // thread); under `audit: required` a failure becomes 503
  // audit_unavailable. Idempotent.
  asio::awaitable<Status> CloseAudit(RequestContext& ctx, bool account = false);
  void RecordMetrics(const RequestContext& ctx);

  GatewayDeps deps_;
  Forwarder forwarder_;
  SharedSlot<GatewaySnapshot> snapshot_;
};

}  // namespace warden
