// The audit phase: what the gateway writes to the audit log (audit/) for one request.
//
// Contract: records are content-free unless the policy logs content (`redacted` or `full`) and is
// not zero-retention. Nothing here reads secrets: the key id, never the key. Every function is
// safe to call with a null log (audit disabled): it then does nothing and succeeds.
//   Intent   before anything goes upstream; opens the request (an `interrupted` outcome closes
//            it after a crash).
//   Close    the outcome (or, for a request refused by policy or limits before anything was
//            sent, a `rejected` record). Synced before it returns: callers write the final
//            bytes of the response after it. Idempotent.
#pragma once

#include "audit/audit_log.h"
#include "gateway/request_context.h"

namespace warden {

const char* EndpointName(Endpoint e);
Status AuditIntent(audit::AuditLog* log, RequestContext& ctx);
Status AuditClose(audit::AuditLog* log, RequestContext& ctx);

}  // namespace warden
