// Finalize: the one place a request ends, run exactly once per request (Gateway::Handle), whether
// it completed, was refused, failed or crashed.
//
// Contract, in order:
//   1. A failure is named by how far the request got (Response::stage, the failure hooks):
//      before anything went upstream (a refusal: outcome `rejected`, or `failed` for the
//      gateway's own faults), sent with no answer head or with an error answer (`failed`), or
//      after the first byte reached the client (`partial`: the stream ends with an error event).
//   2. Account: usage and spend priced from the serving deployment's prices and counted in the
//      in-memory ledgers; the rate limit's token charge corrected to what was served.
//   3. The audit outcome (or, for a request refused before anything was sent, a `rejected`
//      record) is made durable — before the bytes that complete the response are written. Under
//      `audit: required`, a record that cannot be written replaces a successful completion with
//      503 audit_unavailable: a response the client saw complete is never missing from the log.
//   4. Deliver: the completion (the JSON answer; a stream's closing events) or the error (a JSON
//      error answer in the client's dialect, or an error event once the stream has started).
//   5. Metrics and one JSON access-log line, neither with content.
#pragma once

#include <asio/awaitable.hpp>

#include "audit/audit_log.h"
#include "gateway/client_exchange.h"
#include "gateway/relay.h"
#include "gateway/alert_webhook.h"
#include "gateway/request.h"
#include "limits/limits.h"
#include "limits/usage_ledger.h"
#include "metrics/gateway_metrics.h"

namespace warden {

// Where a finished request is recorded; null members are switched off.
struct Recorders {
  audit::AuditLog* audit = nullptr;
  Limits* limits = nullptr;  // rate limits and budgets: this process's, or the fleet's
  UsageLedger* usage = nullptr;
  metrics::GatewayMetrics* metrics = nullptr;
  AlertWebhook* alerts = nullptr;  // budget alerts to `alerts.webhook`, when configured
};

asio::awaitable<void> Finalize(const Recorders& to, RequestContext& ctx, ClientExchange& client,
                               Result<Completion> ending);

}  // namespace warden
