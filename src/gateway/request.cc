#include "gateway/request.h"

namespace warden {

const char* EndpointName(Endpoint e) {
  switch (e) {
    case Endpoint::kChatCompletions: return "chat.completions";
    case Endpoint::kMessages: return "messages";
    case Endpoint::kEmbeddings: return "embeddings";
    case Endpoint::kListModels: return "models.list";
    case Endpoint::kGetModel: return "models.get";
    case Endpoint::kHealth: return "healthz";
    case Endpoint::kReady: return "readyz";
    case Endpoint::kUnknown: break;
  }
  return "unknown";
}

bool IsInference(Endpoint e) {
  return e == Endpoint::kChatCompletions || e == Endpoint::kMessages || e == Endpoint::kEmbeddings;
}

Operation OperationOf(Endpoint e) { return e == Endpoint::kEmbeddings ? Operation::kEmbeddings : Operation::kChat; }

const char* OutcomeName(Outcome outcome) {
  switch (outcome) {
    case Outcome::kCompleted: return "completed";
    case Outcome::kFailed: return "failed";
    case Outcome::kRejected: return "rejected";
    case Outcome::kClientGone: return "client_gone";
    case Outcome::kPartial: return "partial";
  }
  return "unknown";
}

int AttemptLog::Sent() const {
  int n = 0;
  for (const auto& a : attempts) n += a.skipped ? 0 : 1;
  return n;
}

int64_t AttemptLog::UpstreamNanos(int64_t now) const {
  int64_t sum = 0;
  for (const auto& a : attempts) sum += a.Latency(now);
  return sum;
}

const ModelAlias* RequestContext::alias() const {
  if (plan) return plan->alias;
  return request && snapshot ? snapshot->config->FindModel(request->model) : nullptr;
}

Result<std::shared_ptr<const GatewaySnapshot>> MakeGatewaySnapshot(std::shared_ptr<const Config> config,
                                                                   std::shared_ptr<const PolicySet> policies,
                                                                   std::shared_ptr<const RuleSets> rule_sets) {
  auto snapshot = std::make_shared<GatewaySnapshot>();
  for (const auto& name : policies->Names()) {
    const Policy* p = policies->Find(name);
    if (p->redaction_rule_sets.empty()) continue;
    auto redactor = Redactor::ForPolicy(*p, *rule_sets);
    if (!redactor) return redactor.error();
    snapshot->redactors[name] = *redactor;
  }
  snapshot->config = std::move(config);
  snapshot->policies = std::move(policies);
  snapshot->rule_sets = std::move(rule_sets);
  return std::shared_ptr<const GatewaySnapshot>(std::move(snapshot));
}

}  // namespace warden
