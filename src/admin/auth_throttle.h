// AuthThrottle: bounds guessing of the admin token (the admin API's bearer check and the
// dashboard's sign-in form).
//
// Contract: Failed() counts a wrong token presented by a client address. Once an address has
// `per_client` failures within a window, or all addresses together `overall`, RetryAfter() says
// how many seconds remain in that window (else 0); callers then answer 429 with Retry-After
// WITHOUT comparing the token, so a throttled guess learns nothing, not even a right one. A
// request that presents no token is not a failure. Windows are fixed (start at the first
// failure); at most `max_clients` addresses are tracked (expired windows are dropped first,
// then the oldest), so memory is bounded whatever the number of addresses. Thread-safe.
#pragma once

#include <cstdint>
#include <functional>
#include <mutex>
#include <string>
#include <unordered_map>

#include "common/mutex.h"

namespace warden {

struct AuthLimits {
  int per_client = 10;  // failures per address per window
  int overall = 100;    // failures of all addresses together per window
  int64_t window_ms = 60000;
  size_t max_clients = 10000;
};

class AuthThrottle {
 public:
  using Limits = AuthLimits;
  explicit AuthThrottle(Limits limits = Limits(), std::function<int64_t()> now_ms = nullptr);

  // Seconds until `client` may try again (0 = now).
  int64_t RetryAfter(const std::string& client);
  void Failed(const std::string& client);

 private:
  struct Window {
    int64_t start_ms = 0;
    int failures = 0;
  };
  int64_t Now() const;
  int64_t Left(const Window& w, int limit, int64_t now) const;

  const Limits limits_;
  std::function<int64_t()> now_ms_;
  Mutex mu_;
  std::unordered_map<std::string, Window> clients_ GUARDED_BY(mu_);
  Window overall_ GUARDED_BY(mu_);
};

}  // namespace warden
