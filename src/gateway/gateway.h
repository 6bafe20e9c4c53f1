// Gateway: the pipeline behind every client request, independent of the HTTP library.
//
// Contract: Handle() runs one request to the end and always answers. Inference requests go
// through the phases in this order, each in its own file (see request.h for what each
// produces):
//   Authenticate → Resolve policy   authenticate.h
//   Parse                           parse.h
//   Check policy                    check_policy.h (overrides once; model, provider, region →
//                                   the route; then budgets and rate limits)
//   Redact                          redact.h
//   Audit intent                    audit_phase.h
//   Forward (attempts) + Restore    forward.h, relay.h
//   Finalize                        finalize.h (accounting, audit outcome, the completing
//                                   bytes, metrics, access log) — exactly once, in Handle()
// Every failure becomes an OpenAI-shaped error (Anthropic-shaped on /v1/messages) with the
// status its kind implies; an exception is a 500 and still finalized. Handle() never throws.
// Handle() is a coroutine on the connection's event loop; what blocks runs elsewhere while the
// request waits without a thread: audit records on the audit log's appender thread, store reads
// (a key the cache has not seen, a key's first budget look in a period) and large bodies' parse
// and redaction on the worker pool (GatewayDeps::blocking). The ledgers count in memory; the
// App's flusher writes them. The KeyStore, Store and upstream clients are borrowed and must
// outlive the Gateway. Thread-safe: the requests of every loop call Handle() at once.
#pragma once

#include <memory>

#include <asio/thread_pool.hpp>

#include "audit/audit_log.h"
#include "common/shared_slot.h"
#include "gateway/client_exchange.h"
#include "gateway/alert_webhook.h"
#include "gateway/finalize.h"
#include "gateway/forward.h"
#include "gateway/request.h"
#include "keys/key_store.h"
#include "limits/limits.h"
#include "limits/usage_ledger.h"
#include "metrics/gateway_metrics.h"
#include "providers/upstream.h"
#include "store/store.h"

namespace warden {

// What the gateway borrows; everything must outlive it.
struct GatewayDeps {
  std::shared_ptr<const GatewaySnapshot> snapshot;  // the initial one; see Gateway::Reload
  const KeyStore* keys = nullptr;
  const Store* store = nullptr;
  UpstreamClient* http = nullptr;
  UpstreamClient* echo = nullptr;
  Limits* limits = nullptr;      // rate limits and budgets (null = none): local or the fleet's
  UsageLedger* usage = nullptr;  // tokens and cost per day/key/policy/model/deployment/provider
  metrics::GatewayMetrics* metrics = nullptr;  // null = no metrics
  // The audit log (null = audit disabled in the config). Requests under a policy with
  // `audit: required` are refused (503) when it is null or a record cannot be written.
  audit::AuditLog* audit = nullptr;
  AlertWebhook* alerts = nullptr;  // null = no alert webhook
  // The worker pool for blocking work (null: run it inline, as tests without loops do).
  asio::thread_pool* blocking = nullptr;
};

class Gateway : public AsyncRequestHandler {
 public:
  explicit Gateway(GatewayDeps deps);

  asio::awaitable<void> Handle(ClientExchange& client) override;
  // Requests that start from now on use `snapshot` — policies, redactors, models, providers,
  // routing and retries; those in flight finish on theirs. Listener, transport and store
  // settings stay as constructed.
  void Reload(std::shared_ptr<const GatewaySnapshot> snapshot);
  std::shared_ptr<const GatewaySnapshot> snapshot() const;
  // Circuit breaker states and latency averages, for the metrics page.
  const DeploymentHealth& health() { return forwarder_.health(); }

 private:
  // Routes by path; the probes and model listings answer directly (Completion kNone).
  asio::awaitable<Result<Completion>> Dispatch(RequestContext& ctx, ClientExchange& client);
  // The inference pipeline's admission, in phase order: Authenticate → … → Redact → Audit
  // intent. Success leaves ctx.prompt set for Forward (called by Handle, then Finalize).
  asio::awaitable<Result<Completion>> Inference(RequestContext& ctx, ClientExchange& client);
  asio::awaitable<Status> Authenticated(RequestContext& ctx, ClientExchange& client);
  // Parse → Check policy (overrides, route) for a body read; CPU only.
  Result<Json> ParseAndCheck(RequestContext& ctx, const std::vector<std::string>& headers, std::string_view body);
  asio::awaitable<Status> WriteIntent(RequestContext& ctx);
  Status ListModels(RequestContext& ctx, ClientExchange& client, std::string_view id);
  asio::awaitable<Status> Ready();

  GatewayDeps deps_;
  Recorders recorders_;
  Forwarder forwarder_;
  SharedSlot<GatewaySnapshot> snapshot_;
  TagValueCap tag_values_;  // attribution tags' distinct values per day (ledger memory)
};

}  // namespace warden
