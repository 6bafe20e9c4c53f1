#include "limits/rate_limiter.h"

#include <algorithm>
#include <cmath>

namespace warden {

RateLimiter::RateLimiter(std::function<int64_t()> now_ms) : now_ms_(std::move(now_ms)) {}

void RateLimiter::Refill(Bucket& b, int64_t limit, int64_t now) {
  if (!b.initialised) {
    b.level = static_cast<double>(limit);
    b.updated_ms = now;
    b.initialised = true;
    return;
  }
  if (now > b.updated_ms) {
    b.level = std::min(static_cast<double>(limit),
                       b.level + static_cast<double>(limit) * static_cast<double>(now - b.updated_ms) / 60000.0);
    b.updated_ms = now;
  }
}

int64_t RateLimiter::MsUntil(double from, int64_t limit, double level) {
  if (from >= level) return 0;
  return static_cast<int64_t>(std::ceil((level - from) * 60000.0 / static_cast<double>(limit)));
}

double RateLimiter::NeedTokens(const RateLimits& limits, int64_t estimated_tokens) {
  // A request larger than the whole per-minute allowance waits for a full bucket, not forever.
  return static_cast<double>(std::min<int64_t>(std::max<int64_t>(estimated_tokens, 0), limits.tokens_per_minute));
}

RateState RateLimiter::Describe(const RateLimits& limits, std::optional<double> rq, std::optional<double> tk,
                                const std::string& exceeded, double need_tokens) {
  RateState st;
  if (!exceeded.empty()) {
    st.allowed = false;
    st.exceeded = exceeded;
    st.retry_after_ms = exceeded == "requests" ? MsUntil(rq.value_or(0), limits.requests_per_minute, 1)
                                               : MsUntil(tk.value_or(0), limits.tokens_per_minute, need_tokens);
  }
  if (rq && limits.requests_per_minute > 0) {
    st.limit_requests = limits.requests_per_minute;
    st.remaining_requests = std::max<int64_t>(0, static_cast<int64_t>(std::floor(*rq)));
    st.reset_requests_ms = MsUntil(*rq, limits.requests_per_minute, static_cast<double>(limits.requests_per_minute));
  }
  if (tk && limits.tokens_per_minute > 0) {
    st.limit_tokens = limits.tokens_per_minute;
    st.remaining_tokens = std::max<int64_t>(0, static_cast<int64_t>(std::floor(*tk)));
    st.reset_tokens_ms = MsUntil(*tk, limits.tokens_per_minute, static_cast<double>(limits.tokens_per_minute));
  }
  return st;
}

RateState RateLimiter::Admit(const std::string& key_id, const RateLimits& limits,
                             int64_t estimated_tokens) {
  return Take(key_id, limits, estimated_tokens, true);
}

RateState RateLimiter::Peek(const std::string& key_id, const RateLimits& limits) {
  return Take(key_id, limits, 0, false);
}

RateState RateLimiter::Take(const std::string& key_id, const RateLimits& limits,
                            int64_t estimated_tokens, bool consume) {
  if (limits.requests_per_minute <= 0 && limits.tokens_per_minute <= 0) return RateState{};
  const int64_t now = now_ms_();
  MutexLock lock(mu_);
  Bucket* rq = nullptr;
  Bucket* tk = nullptr;
  const double need_tokens = NeedTokens(limits, estimated_tokens);
  std::string exceeded;
  if (limits.requests_per_minute > 0) {
    rq = &requests_[key_id];
    Refill(*rq, limits.requests_per_minute, now);
    if (rq->level < 1) exceeded = "requests";
  }
  if (limits.tokens_per_minute > 0) {
    tk = &tokens_[key_id];
    Refill(*tk, limits.tokens_per_minute, now);
    if (exceeded.empty() && tk->level < need_tokens) exceeded = "tokens";
  }
  if (exceeded.empty() && consume) {
    if (rq) rq->level -= 1;
    if (tk) tk->level -= need_tokens;
  }
  return Describe(limits, rq ? std::optional<double>(rq->level) : std::nullopt,
                  tk ? std::optional<double>(tk->level) : std::nullopt, exceeded, need_tokens);
}

void RateLimiter::Correct(const std::string& key_id, const RateLimits& limits, int64_t token_delta) {
  if (limits.tokens_per_minute <= 0 || token_delta == 0) return;
  const int64_t now = now_ms_();
  MutexLock lock(mu_);
  Bucket& tk = tokens_[key_id];
  Refill(tk, limits.tokens_per_minute, now);
  tk.level = std::min(static_cast<double>(limits.tokens_per_minute), tk.level - static_cast<double>(token_delta));
}

std::string FormatResetDuration(int64_t ms) {
  if (ms < 1000) return std::to_string(std::max<int64_t>(ms, 0)) + "ms";
  int64_t s = (ms + 999) / 1000;
  if (s < 60) return std::to_string(s) + "s";
  return std::to_string(s / 60) + "m" + std::to_string(s % 60) + "s";
}

}  // namespace warden
