// GatewayMetrics: the gateway's metric families, registered once at start-up (see metrics.h for
// the label rules). Record() turns one finished request into metric updates; label values come
// only from configuration (alias, provider, deployment, entity type) and fixed sets in the code
// (endpoint, status class, failure reason, refusal code). Thread-safe.
#pragma once

#include <cstdint>
#include <functional>
#include <string>

#include "metrics/metrics.h"
#include "metrics/request_sample.h"
#include "metrics/timeline.h"

namespace warden::metrics {

class GatewayMetrics {
 public:
  // `now_s`: the wall clock the timeline files samples under (injectable for tests).
  explicit GatewayMetrics(std::function<int64_t()> now_s = nullptr);
  void Record(const RequestSample& s);
  void AuditAppend(double seconds, bool ok);
  // A wrong admin token (API or dashboard sign-in), and an attempt refused by the throttle.
  void AdminAuthFailure() { admin_auth_.counter({"failed"}).Add(); }
  void AdminAuthThrottled() { admin_auth_.counter({"throttled"}).Add(); }
  // A key's spend crossed `percent` of its policy's budget for `period` (day, month).
  void BudgetAlert(const std::string& policy, const std::string& period, int percent) {
    budget_alerts_.counter({policy, period, std::to_string(percent)}).Add();
  }
  // "delivered", "failed" (every attempt), "dropped" (the queue was full).
  void AlertWebhook(const char* result) {
    alert_webhook_.counter({result}).Add();
  }
  // Circuit breaker state per deployment: 0 closed, 1 half-open, 2 open.
  void SetBreakerState(const std::string& deployment, int state) { breaker_.Set({deployment}, state); }
  Registry& registry() { return registry_; }
  const Timeline& timeline() const { return timeline_; }
  int64_t now_s() const { return now_s_(); }

  // A failed attempt's reason for labels: the upstream HTTP status ("http_503") or Warden's own
  // error code for failures without a usable status (connect, timeouts, broken streams).
  static std::string Reason(int status, const std::string& error_code);
  // The refusal codes counted in warden_refusals_total; others (a provider's own codes) are not.
  static bool IsRefusalCode(const std::string& code);

 private:
  std::function<int64_t()> now_s_;
  Registry registry_;
  Timeline timeline_;
  Family& requests_;
  Family& duration_;
  Family& upstream_;
  Family& first_byte_;
  Family& overhead_;
  Family& tokens_;
  Family& cost_;
  Family& retries_;
  Family& failovers_;
  Family& breaker_;
  Family& redactions_;
  Family& refusals_;
  Family& audit_append_;
  Family& audit_failures_;
  Family& admin_auth_;
  Family& budget_alerts_;
  Family& alert_webhook_;
};

}  // namespace warden::metrics
