// GatewayMetrics: the gateway's metric families, registered once at start-up (see metrics.h for
// the label rules). Record() turns one finished request into metric updates; label values come
// only from configuration (alias, provider, deployment, entity type) and fixed sets in the code
// (endpoint, status class, failure reason, refusal code). Thread-safe.
#pragma once

#include <string>

#include "metrics/metrics.h"

namespace warden::metrics {

struct RequestSample {
  std::string endpoint;     // EndpointName()
  std::string model;        // a configured alias, or ""
  std::string provider;     // the provider of the last attempt, or ""
  int status = 0;
  double total_s = 0, upstream_s = 0, first_byte_s = 0, overhead_s = 0;
  bool upstream = false;    // something was sent upstream
  int64_t prompt_tokens = 0, completion_tokens = 0, cached_tokens = 0;
  double cost_usd = 0;
  std::string refusal;      // a policy/limit refusal code from the fixed set, or ""
  struct Try {
    std::string deployment;
    std::string reason;     // "" on success; "http_503", "upstream_unreachable", "circuit_open", …
  };
  std::vector<Try> tries;   // every attempt, in order
  std::vector<std::pair<std::string, int64_t>> redactions;  // entity type → count
};

class GatewayMetrics {
 public:
  GatewayMetrics();
  void Record(const RequestSample& s);
  void AuditAppend(double seconds, bool ok);
  // Circuit breaker state per deployment: 0 closed, 1 half-open, 2 open.
  void SetBreakerState(const std::string& deployment, int state) { breaker_.Set({deployment}, state); }
  Registry& registry() { return registry_; }

  // A failed attempt's reason for labels: the upstream HTTP status ("http_503") or Warden's own
  // error code for failures without a usable status (connect, timeouts, broken streams).
  static std::string Reason(int status, const std::string& error_code);
  // The refusal codes counted in warden_refusals_total; others (a provider's own codes) are not.
  static bool IsRefusalCode(const std::string& code);

 private:
  Registry registry_;
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
};

}  // namespace warden::metrics
