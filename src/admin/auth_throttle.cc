#include "admin/auth_throttle.h"

#include <algorithm>

#include "common/util.h"

namespace warden {

AuthThrottle::AuthThrottle(Limits limits, std::function<int64_t()> now_ms)
    : limits_(limits), now_ms_(std::move(now_ms)) {}

int64_t AuthThrottle::Now() const { return now_ms_ ? now_ms_() : MonotonicNanos() / 1000000; }

int64_t AuthThrottle::Left(const Window& w, int limit, int64_t now) const {
  const int64_t end = w.start_ms + limits_.window_ms;
  if (w.failures < limit || now >= end) return 0;
  return std::max<int64_t>(1, (end - now + 999) / 1000);
}

int64_t AuthThrottle::RetryAfter(const std::string& client) {
  MutexLock lk(mu_);
  const int64_t now = Now();
  int64_t wait = Left(overall_, limits_.overall, now);
  if (auto it = clients_.find(client); it != clients_.end())
    wait = std::max(wait, Left(it->second, limits_.per_client, now));
  return wait;
}

void AuthThrottle::Failed(const std::string& client) {
  MutexLock lk(mu_);
  const int64_t now = Now();
  auto count = [&](Window& w) {
    if (w.failures == 0 || now >= w.start_ms + limits_.window_ms) w = Window{now, 0};
    ++w.failures;
  };
  count(overall_);
  if (!clients_.count(client) && clients_.size() >= limits_.max_clients) {
    std::erase_if(clients_, [&](const auto& kv) { return now >= kv.second.start_ms + limits_.window_ms; });
    if (clients_.size() >= limits_.max_clients) {
      auto oldest = std::min_element(clients_.begin(), clients_.end(), [](const auto& a, const auto& b) {
        return a.second.start_ms < b.second.start_ms;
      });
      clients_.erase(oldest);
    }
  }
  count(clients_[client]);
}

}  // namespace warden
