#include "gateway/failover.h"

#include <algorithm>
#include <cmath>
#include <ctime>
#include <numeric>

namespace warden {

RetryDecision DecideRetry(const RoutingConfig& c, const Error& error, int tries_here, int attempts,
                          int64_t elapsed_ms, std::optional<int64_t> retry_after_ms, double jitter) {
  RetryDecision d;
  if (error.stage == Stage::kClientStarted || !error.retryable) return d;  // kGiveUp
  if (attempts >= c.max_attempts || elapsed_ms >= c.max_time_ms) return d;
  d.kind = RetryDecision::kNextDeployment;
  if (tries_here > c.retries_per_deployment) return d;
  int64_t delay;
  if (retry_after_ms) {
    // The provider said when: honour it if it is short, else another deployment serves sooner.
    if (*retry_after_ms > c.retry_after_max_ms) return d;
    delay = *retry_after_ms;
  } else {
    // Exponential backoff with "equal jitter": half fixed, half random, so retries of many
    // requests spread out but none comes back at once.
    double cap = std::min<double>(c.backoff_max_ms, c.backoff_initial_ms * std::pow(2.0, tries_here - 1));
    delay = static_cast<int64_t>(cap / 2 + jitter * cap / 2);
  }
  if (elapsed_ms + delay >= c.max_time_ms) return d;
  d.kind = RetryDecision::kRetrySame;
  d.delay_ms = static_cast<int>(delay);
  return d;
}

std::optional<int64_t> ParseRetryAfterMs(const std::string& value, int64_t now_unix_seconds) {
  if (value.empty() || value.size() > 40) return std::nullopt;
  char* end = nullptr;
  double seconds = std::strtod(value.c_str(), &end);
  if (end != value.c_str() && *end == '\0') {
    if (!(seconds >= 0) || seconds > 86400) return std::nullopt;
    return static_cast<int64_t>(seconds * 1000);
  }
  std::tm tm{};
  if (!strptime(value.c_str(), "%a, %d %b %Y %H:%M:%S GMT", &tm)) return std::nullopt;
  int64_t at = timegm(&tm);
  return std::max<int64_t>(0, (at - now_unix_seconds) * 1000);
}

bool DeploymentHealth::Admit(const std::string& name, int64_t now_ms, const RoutingConfig& config) {
  if (config.breaker_failures <= 0) return true;
  MutexLock lock(mu_);
  Entry& e = entries_[name];
  switch (e.state) {
    case State::kClosed: return true;
    case State::kOpen:
      if (now_ms < e.open_until_ms) return false;
      e.state = State::kHalfOpen;
      e.probing = true;
      return true;
    case State::kHalfOpen:
      if (e.probing) return false;
      e.probing = true;
      return true;
  }
  return true;
}

void DeploymentHealth::Report(const std::string& name, bool failed, int64_t first_byte_ns, int64_t now_ms,
                              const RoutingConfig& config) {
  MutexLock lock(mu_);
  Entry& e = entries_[name];
  if (!failed && first_byte_ns > 0) {
    double ms = static_cast<double>(first_byte_ns) / 1e6;
    // After a quiet spell (a slow deployment demoted, then probed) the old average is stale.
    const bool stale = now_ms - e.last_sample_ms > config.ttfb_probe_interval_ms;
    e.latency_ms = e.latency_ms < 0 || stale ? ms : 0.8 * e.latency_ms + 0.2 * ms;
    e.last_sample_ms = now_ms;
  }
  if (config.breaker_failures <= 0) return;
  if (!failed) {
    e.state = State::kClosed;
    e.failures = 0;
    e.probing = false;
    return;
  }
  ++e.failures;
  if (e.state == State::kHalfOpen || e.failures >= config.breaker_failures) {
    e.state = State::kOpen;
    e.open_until_ms = now_ms + config.breaker_cooldown_ms;
    e.probing = false;
  }
}

int64_t DeploymentHealth::CooldownLeftMs(const std::string& name, int64_t now_ms) const {
  MutexLock lock(mu_);
  auto it = entries_.find(name);
  if (it == entries_.end() || it->second.state != State::kOpen) return 0;
  return std::max<int64_t>(0, it->second.open_until_ms - now_ms);
}

DeploymentHealth::State DeploymentHealth::state(const std::string& name) const {
  MutexLock lock(mu_);
  auto it = entries_.find(name);
  return it == entries_.end() ? State::kClosed : it->second.state;
}

std::optional<double> DeploymentHealth::LatencyMs(const std::string& name) const {
  MutexLock lock(mu_);
  auto it = entries_.find(name);
  if (it == entries_.end() || it->second.latency_ms < 0) return std::nullopt;
  return it->second.latency_ms;
}

bool DeploymentHealth::TooSlow(const std::string& name, int max_ttfb_ms, int64_t now_ms,
                               const RoutingConfig& config) const {
  if (max_ttfb_ms <= 0) return false;
  MutexLock lock(mu_);
  auto it = entries_.find(name);
  if (it == entries_.end() || it->second.latency_ms < 0) return false;
  return it->second.latency_ms > max_ttfb_ms && now_ms - it->second.last_sample_ms <= config.ttfb_probe_interval_ms;
}

std::vector<size_t> OrderDeployments(RoutingStrategy strategy, const std::vector<std::string>& names,
                                     const std::vector<int>& weights, const std::vector<double>& prices,
                                     const DeploymentHealth& health, RoutingRng& rng) {
  std::vector<size_t> order(names.size());
  std::iota(order.begin(), order.end(), 0);
  switch (strategy) {
    case RoutingStrategy::kPriority: break;
    case RoutingStrategy::kWeighted: {
      std::vector<size_t> out;
      std::vector<size_t> left = order;
      while (!left.empty()) {
        double total = 0;
        for (size_t i : left) total += std::max(0, weights[i]);
        size_t pick = 0;
        if (total > 0) {
          double r = std::uniform_real_distribution<double>(0, total)(rng);
          for (size_t k = 0; k < left.size(); ++k) {
            r -= std::max(0, weights[left[k]]);
            pick = k;
            if (r < 0) break;
          }
        }
        out.push_back(left[pick]);
        left.erase(left.begin() + static_cast<std::ptrdiff_t>(pick));
      }
      order = std::move(out);
      break;
    }
    case RoutingStrategy::kLowestLatency: {
      std::vector<double> key(names.size());
      for (size_t i = 0; i < names.size(); ++i) key[i] = health.LatencyMs(names[i]).value_or(-1);
      std::stable_sort(order.begin(), order.end(), [&](size_t a, size_t b) { return key[a] < key[b]; });
      break;
    }
    case RoutingStrategy::kLowestCost:
      std::stable_sort(order.begin(), order.end(), [&](size_t a, size_t b) { return prices[a] < prices[b]; });
      break;
  }
  return order;
}

}  // namespace warden
