// Failover: the one place that decides what happens after an attempt fails, how an alias's
// deployments are ordered for a request, and which deployments are resting (circuit breaker).
//
// Contract: DecideRetry() is a pure function of (the error — its stage and whether it may be
// retried —, attempts so far, elapsed time, Retry-After) and the routing config; phases never
// decide retries themselves. The point of no return is the first byte sent to the client
// (Stage::kClientStarted). The routing config is the request's snapshot's, passed per call, so a
// reload changes retries and circuit breaking for the requests after it.
// DeploymentHealth is shared by all request threads (thread-safe); it holds, per deployment
// ("provider/model"), the circuit breaker (closed → open after K consecutive failures → after
// the cool-down one probe request at a time → closed on success, open again on failure) and a
// moving average of time to first byte for the `lowest_latency` strategy.
#pragma once

#include <cstdint>
#include <map>
#include <mutex>
#include <optional>
#include <random>
#include <string>
#include <vector>

#include "common/result.h"
#include "config/config.h"
#include "common/mutex.h"

namespace warden {

struct RetryDecision {
  enum Kind { kRetrySame, kNextDeployment, kGiveUp } kind = kGiveUp;
  int delay_ms = 0;  // wait this long before the next attempt (kRetrySame)
};

// `tries_here`: attempts made on the current deployment so far (≥ 1); `attempts`: in total.
// `retry_after_ms`: the provider's Retry-After, if it sent one. `jitter` in [0, 1).
RetryDecision DecideRetry(const RoutingConfig& config, const Error& error, int tries_here, int attempts,
                          int64_t elapsed_ms, std::optional<int64_t> retry_after_ms, double jitter);

// Retry-After as seconds ("2", "1.5") or an HTTP date; nullopt if it is neither.
std::optional<int64_t> ParseRetryAfterMs(const std::string& value, int64_t now_unix_seconds);

class DeploymentHealth {
 public:
  // May `name` be tried now? False while its circuit is open, and while another request is
  // the probe of a half-open circuit. A true answer must be followed by Report(). With
  // `config.breaker_failures` 0 the breaker is off.
  bool Admit(const std::string& name, int64_t now_ms, const RoutingConfig& config);
  // The outcome of an admitted attempt: `failed` = a retryable failure of the deployment
  // itself (unreachable, timeout, 5xx, 429, a broken stream); a client error is a success.
  void Report(const std::string& name, bool failed, int64_t first_byte_ns, int64_t now_ms,
              const RoutingConfig& config);
  // Milliseconds until an open circuit may be probed (0 if it is not open).
  int64_t CooldownLeftMs(const std::string& name, int64_t now_ms) const;

  enum class State { kClosed, kOpen, kHalfOpen };
  State state(const std::string& name) const;
  // Moving average of time to first byte in ms; nullopt before the first success.
  std::optional<double> LatencyMs(const std::string& name) const;
  // Is `name` too slow to keep its place: its average time to first byte above `max_ttfb_ms`,
  // measured within the last `config.ttfb_probe_interval_ms`? Once no sample is that recent it
  // gets its place back (the next request probes it) and that sample replaces the average, so a
  // recovered deployment is promoted on its first fast answer. `max_ttfb_ms` 0: never.
  bool TooSlow(const std::string& name, int max_ttfb_ms, int64_t now_ms, const RoutingConfig& config) const;

 private:
  struct Entry {
    State state = State::kClosed;
    int failures = 0;
    int64_t open_until_ms = 0;
    bool probing = false;
    double latency_ms = -1;
    int64_t last_sample_ms = 0;
  };
  mutable Mutex mu_;
  std::map<std::string, Entry> entries_ GUARDED_BY(mu_);
};

// The random source of routing draws (weighted order, backoff jitter): SplitMix64, eight bytes
// of state, cheap to seed per request. (std::mt19937_64 holds 2.5 KB, which lived in every
// request's coroutine frame.) Not for anything secret.
class RoutingRng {
 public:
  using result_type = uint64_t;
  explicit RoutingRng(uint64_t seed) : state_(seed) {}
  static constexpr result_type min() { return 0; }
  static constexpr result_type max() { return UINT64_MAX; }
  result_type operator()() {
    uint64_t z = (state_ += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
  }

 private:
  uint64_t state_;
};

// The order failover walks for one request: `priority` keeps the configured order, `weighted`
// draws without replacement by weight, `lowest_latency` sorts by the moving average (deployments
// not measured yet first, so they get measured), `lowest_cost` by input + output price.
// `names[i]` is the health key of `items[i]`; returns a permutation of indices.
std::vector<size_t> OrderDeployments(RoutingStrategy strategy, const std::vector<std::string>& names,
                                     const std::vector<int>& weights, const std::vector<double>& prices,
                                     const DeploymentHealth& health, RoutingRng& rng);

}  // namespace warden
