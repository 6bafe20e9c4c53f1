// Redact: the canonical body becomes the Prompt, the only form of the request that the forwarder
// can send. Runs after Check policy, so a refused or throttled request is never scanned.
#pragma once

#include "common/json.h"
#include "common/result.h"
#include "gateway/request.h"

namespace warden {

// Applies the policy's rule sets (none: the body is passed on as it is). Keeps the body as the
// client sent it only under content_logging: full (and not zero retention), for the audit
// record. 503 redaction_unavailable when the policy names rule sets the snapshot has no
// redactor for: never served unredacted. CPU only; large bodies are run on the worker pool by
// the caller.
Result<Prompt> Redact(const GatewaySnapshot& snapshot, const Policy& policy, Json body);

}  // namespace warden
