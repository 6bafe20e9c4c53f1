// The audit phase: what the gateway writes to the audit log (audit/) for one request.
//
// Contract: records are content-free unless the policy logs content (`redacted` or `full`) and is
// not zero-retention. Nothing here reads secrets: the key id, never the key. Every function is
// safe to call with a null log (audit disabled): it then does nothing and succeeds.
//   Intent   before anything goes upstream; opens the request (an `interrupted` outcome closes
//            it after a crash).
//   Close    the outcome (or, for a request refused by policy or limits before anything was
//            sent, a `rejected` record), durable before the final bytes of the response are
//            written. Idempotent.
#pragma once

#include <asio/awaitable.hpp>

#include "audit/audit_log.h"
#include "gateway/request.h"
#include "metrics/gateway_metrics.h"

namespace warden {

// Both append through the log's appender thread (AuditLog::AppendAsync) and hold no thread
// while they wait: the intent until it is written out of the process, the close until it is
// fsynced.
asio::awaitable<Status> AuditIntent(audit::AuditLog* log, RequestContext& ctx);
// Whether AuditClose would write a record: a log, an inference request of an authenticated
// key, not yet closed.
bool AuditCloses(const audit::AuditLog* log, const RequestContext& ctx);
asio::awaitable<Status> AuditClose(audit::AuditLog* log, RequestContext& ctx);

// 503 audit_unavailable for a policy that requires an audit record which cannot be written.
Error AuditUnavailable(const Policy& policy);
// Awaits one of the request's audit appends (AuditIntent or AuditClose) and times it into
// `metrics` (null: none). A failed append is the request's error only under the policy's
// `audit: required` (503 audit_unavailable); otherwise it is logged and the request goes on.
asio::awaitable<Status> UnderAuditMode(metrics::GatewayMetrics* metrics, const RequestContext& ctx,
                                       asio::awaitable<Status> append);

}  // namespace warden
