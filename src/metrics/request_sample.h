// RequestSample: one finished request as the metrics see it (GatewayMetrics and Timeline).
// Label-like values come only from configuration and fixed sets in the code (see metrics.h).
#pragma once

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

namespace warden::metrics {

struct RequestSample {
  std::string endpoint;     // EndpointName()
  std::string model;        // a configured alias, or ""
  std::string provider;     // the provider of the last attempt, or ""
  int status = 0;
  double total_s = 0, upstream_s = 0, first_byte_s = 0, overhead_s = 0;
  bool upstream = false;    // something was sent upstream
  int64_t prompt_tokens = 0, completion_tokens = 0, cached_tokens = 0;
  int64_t cost = 0;         // pico-dollars (common/money.h)
  std::string refusal;      // a policy/limit refusal code from the fixed set, or ""
  struct Try {
    std::string deployment;
    std::string reason;     // "" on success; "http_503", "upstream_unreachable", "circuit_open", …
  };
  std::vector<Try> tries;   // every attempt, in order
  std::vector<std::pair<std::string, int64_t>> redactions;  // entity type → count

  // Calls fn(failed try, next try is on the same deployment) for every failed try that another
  // try followed: a retry when on the same deployment, else a failover.
  template <typename Fn>
  void ForEachMove(Fn&& fn) const {
    for (size_t i = 0; i + 1 < tries.size(); ++i)
      if (!tries[i].reason.empty()) fn(tries[i], tries[i + 1].deployment == tries[i].deployment);
  }
};

}  // namespace warden::metrics
