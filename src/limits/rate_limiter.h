// RateLimiter: per-key requests-per-minute and tokens-per-minute limits (token buckets).
//
// Contract: Admit() takes one request and the request's estimated prompt tokens from the key's
// buckets, or refuses with how long to wait; Correct() adds the difference between actual and
// estimated tokens once usage is known (a bucket may go negative, which delays the next
// requests). Buckets refill continuously (limit per 60 s) and start full. Limits of 0 are
// unlimited. The clock is injected (milliseconds), so tests need no sleeps. Thread-safe.
#pragma once

#include <cstdint>
#include <functional>
#include <mutex>
#include <optional>
#include <string>
#include <unordered_map>

#include "common/mutex.h"

namespace warden {

struct RateLimits {
  int64_t requests_per_minute = 0;
  int64_t tokens_per_minute = 0;
};

struct RateState {
  bool allowed = true;
  std::string exceeded;        // "requests" or "tokens" when refused
  int64_t retry_after_ms = 0;  // when refused
  // What OpenAI reports in x-ratelimit-* headers (only meaningful for non-zero limits).
  int64_t limit_requests = 0, remaining_requests = 0, reset_requests_ms = 0;
  int64_t limit_tokens = 0, remaining_tokens = 0, reset_tokens_ms = 0;
};

class RateLimiter {
 public:
  explicit RateLimiter(std::function<int64_t()> now_ms);
  RateState Admit(const std::string& key_id, const RateLimits& limits, int64_t estimated_tokens);
  void Correct(const std::string& key_id, const RateLimits& limits, int64_t token_delta);
  // The current state without taking anything (for the admin API).
  RateState Peek(const std::string& key_id, const RateLimits& limits);

  // The state a decision leaves: the buckets' levels after it (nullopt for a limit of 0) and
  // which one refused ("" = admitted); `need_tokens` is what the request asked of the tokens.
  // Shared with the fleet's limiter (cluster/shared_limits.h), whose buckets live in Redis.
  static RateState Describe(const RateLimits& limits, std::optional<double> requests_level,
                            std::optional<double> tokens_level, const std::string& exceeded, double need_tokens);
  // What a request may ask of a tokens bucket: its estimate, at most the whole allowance.
  static double NeedTokens(const RateLimits& limits, int64_t estimated_tokens);

 private:
  struct Bucket {
    double level = 0;
    int64_t updated_ms = 0;
    bool initialised = false;
  };
  static void Refill(Bucket& b, int64_t limit, int64_t now);
  static int64_t MsUntil(double from, int64_t limit, double level);
  RateState Take(const std::string& key_id, const RateLimits& limits, int64_t estimated_tokens,
                 bool consume);

  std::function<int64_t()> now_ms_;
  Mutex mu_;
  std::unordered_map<std::string, Bucket> requests_ GUARDED_BY(mu_);
  std::unordered_map<std::string, Bucket> tokens_ GUARDED_BY(mu_);
};

// "1s", "6m0s", "250ms": the duration format of OpenAI's x-ratelimit-reset-* headers.
std::string FormatResetDuration(int64_t ms);

}  // namespace warden
