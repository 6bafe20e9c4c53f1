#include "gateway/redact.h"

namespace warden {

Result<Prompt> Redact(const GatewaySnapshot& snapshot, const Policy& policy, Json body) {
  Prompt prompt;
  if (policy.content_logging == ContentLogging::kFull && !policy.zero_retention) prompt.logged = body;
  if (!policy.redaction_rule_sets.empty()) {
    auto redactor = snapshot.redactors.find(policy.name);
    if (redactor == snapshot.redactors.end())
      return Error::ServiceUnavailable("The policy '" + policy.name +
                                           "' requires redaction, which is not available on this "
                                           "gateway; nothing was sent.",
                                       "redaction_unavailable");
    auto session = std::make_unique<RedactionSession>(redactor->second, policy.redaction_mode);
    if (Status s = session->RedactRequest(body); !s) return s.error();
    prompt.redaction = std::move(session);
  }
  prompt.body = std::move(body);
  return prompt;
}

}  // namespace warden
