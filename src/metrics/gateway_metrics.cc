#include "metrics/gateway_metrics.h"

#include <chrono>

#include "common/money.h"

namespace warden::metrics {

GatewayMetrics::GatewayMetrics(std::function<int64_t()> now_s)
    : now_s_(now_s ? std::move(now_s) : [] {
        return static_cast<int64_t>(std::chrono::duration_cast<std::chrono::seconds>(
                                        std::chrono::system_clock::now().time_since_epoch())
                                        .count());
      }),
      requests_(registry_.Add("warden_requests_total", "Requests by endpoint, model alias, provider and status class.",
                              Type::kCounter, {"endpoint", "model", "provider", "status_class"})),
      duration_(registry_.Add("warden_request_duration_seconds", "Total request time as the client saw it.",
                              Type::kHistogram, {"endpoint"}, LatencyBuckets())),
      upstream_(registry_.Add("warden_upstream_duration_seconds", "Time spent in upstream attempts.",
                              Type::kHistogram, {"provider"}, LatencyBuckets())),
      first_byte_(registry_.Add("warden_upstream_first_byte_seconds",
                                "Time from sending upstream to the provider's response head.", Type::kHistogram,
                                {"provider"}, LatencyBuckets())),
      overhead_(registry_.Add("warden_gateway_overhead_seconds",
                              "Request time not spent upstream nor waiting between retries (parsing, policy, redaction, audit, relaying).",
                              Type::kHistogram, {"endpoint"}, LatencyBuckets())),
      tokens_(registry_.Add("warden_tokens_total", "Tokens by model alias, provider and type (prompt, completion, cached).",
                            Type::kCounter, {"model", "provider", "type"})),
      cost_(registry_.AddFixed("warden_cost_usd_total", "Cost in USD by model alias and provider (exact).",
                               {"model", "provider"}, kPicoDecimals)),
      retries_(registry_.Add("warden_upstream_retries_total", "Retries on the same deployment, by the failure before them.",
                             Type::kCounter, {"deployment", "reason"})),
      failovers_(registry_.Add("warden_failovers_total", "Moves to the next deployment, by the one left and why.",
                               Type::kCounter, {"deployment", "reason"})),
      breaker_(registry_.Add("warden_circuit_breaker_state", "Circuit breaker per deployment: 0 closed, 1 half-open, 2 open.",
                             Type::kGauge, {"deployment"})),
      redactions_(registry_.Add("warden_redactions_total", "Values redacted from prompts, by entity type.",
                                Type::kCounter, {"entity"})),
      refusals_(registry_.Add("warden_refusals_total", "Requests refused by policy, rate limits or budgets, by code.",
                              Type::kCounter, {"reason"})),
      audit_append_(registry_.Add("warden_audit_append_seconds", "Audit record appends (durable ones include the fsync).",
                                  Type::kHistogram, {}, LatencyBuckets())),
      audit_failures_(registry_.Add("warden_audit_failures_total", "Audit records that could not be written.",
                                    Type::kCounter, {})),
      admin_auth_(registry_.Add("warden_admin_auth_failures_total",
                                "Admin token attempts refused: a wrong token (failed) or too many lately (throttled).",
                                Type::kCounter, {"outcome"})),
      budget_alerts_(registry_.Add("warden_budget_alerts_total",
                                   "Budget thresholds crossed: a key's spend passed a policy's alert percentage.",
                                   Type::kCounter, {"policy", "period", "percent"})),
      alert_webhook_(registry_.Add("warden_alert_webhook_total",
                                   "Alerts posted to the configured webhook, by result (delivered, failed, dropped).",
                                   Type::kCounter, {"result"})) {
  // Label-less series exist from the start, so a scraper sees 0 rather than nothing.
  audit_failures_.counter({});
  audit_append_.histogram({});
  admin_auth_.counter({"failed"});
  admin_auth_.counter({"throttled"});
}

std::string GatewayMetrics::Reason(int status, const std::string& error_code) {
  if (error_code == "circuit_open") return error_code;
  if (error_code.rfind("upstream_", 0) == 0 && (status == 0 || status == 200)) return error_code;
  if (status > 0) return "http_" + std::to_string(status);
  return error_code.rfind("upstream_", 0) == 0 ? error_code : "other";
}

bool GatewayMetrics::IsRefusalCode(const std::string& code) {
  for (const char* c : {"rate_limit_exceeded", "budget_exceeded", "model_not_allowed", "no_eligible_deployment",
                        "override_not_allowed", "content_blocked", "policy_not_found", "redaction_unavailable",
                        "audit_unavailable"})
    if (code == c) return true;
  return false;
}

void GatewayMetrics::Record(const RequestSample& s) {
  const std::string status_class = s.status > 0 ? std::to_string(s.status / 100) + "xx" : "none";
  requests_.counter({s.endpoint, s.model, s.provider, status_class}).Add();
  duration_.histogram({s.endpoint}).Observe(s.total_s);
  if (s.upstream) {
    upstream_.histogram({s.provider}).Observe(s.upstream_s);
    if (s.first_byte_s > 0) first_byte_.histogram({s.provider}).Observe(s.first_byte_s);
    overhead_.histogram({s.endpoint}).Observe(s.overhead_s);
  }
  if (s.prompt_tokens) tokens_.counter({s.model, s.provider, "prompt"}).Add(static_cast<double>(s.prompt_tokens));
  if (s.completion_tokens)
    tokens_.counter({s.model, s.provider, "completion"}).Add(static_cast<double>(s.completion_tokens));
  if (s.cached_tokens) tokens_.counter({s.model, s.provider, "cached"}).Add(static_cast<double>(s.cached_tokens));
  if (s.cost > 0) cost_.counter({s.model, s.provider}).AddUnits(s.cost);
  s.ForEachMove([&](const RequestSample::Try& t, bool same) {
    (same ? retries_ : failovers_).counter({t.deployment, t.reason}).Add();
  });
  for (const auto& [entity, n] : s.redactions) redactions_.counter({entity}).Add(static_cast<double>(n));
  if (!s.refusal.empty() && IsRefusalCode(s.refusal)) refusals_.counter({s.refusal}).Add();
  timeline_.Record(now_s_(), s);
}

void GatewayMetrics::AuditAppend(double seconds, bool ok) {
  audit_append_.histogram({}).Observe(seconds);
  if (!ok) audit_failures_.counter({}).Add();
}

}  // namespace warden::metrics
