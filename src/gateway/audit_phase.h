// The audit phase: what the gateway writes to the audit log (audit/) for one request.
//
// Contract: records are content-free unless the policy logs content (`redacted` or `full`) and is
// not zero-retention. Nothing here reads secrets: the key id, never the key. Every function is
// safe to call with a null log (audit disabled): it then does nothing and succeeds.
//   Intent   before anything goes upstream; opens the request (an `interrupted` outcome closes
//            it after a crash).
//   Close    the outcome (or, for a request refused by policy or limits before anything was
//            sent, a `rejected` record), durable before the final bytes of the response are
//            written: AuditClose syncs before it returns; AuditCloseNoWait + AwaitDurable do the
//            same in two steps for a coroutine. Idempotent.
#pragma once

#include <asio/awaitable.hpp>

#include "audit/audit_log.h"
#include "gateway/request_context.h"

namespace warden {

const char* EndpointName(Endpoint e);
Status AuditIntent(audit::AuditLog* log, RequestContext& ctx);

// The outcome appended but not yet durable (seq 0: nothing was written — no log, already
// closed, or not an inference request).
struct PendingAudit {
  uint64_t seq = 0;
  uint64_t epoch = 0;
};
// Close without waiting for the fsync (may block on the store: call it off the event loop);
// then AwaitDurable, or Close for both in one blocking call.
Result<PendingAudit> AuditCloseNoWait(audit::AuditLog* log, RequestContext& ctx);
Status AuditClose(audit::AuditLog* log, RequestContext& ctx);
// Completes when the record is on disk (or never will be), holding no thread meanwhile: the
// audit log's syncer resumes the coroutine on its own executor.
asio::awaitable<Status> AwaitDurable(audit::AuditLog& log, PendingAudit pending);

}  // namespace warden
