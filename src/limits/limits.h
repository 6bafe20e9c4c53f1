// Limits: what the request path counts against — rate limits and budgets — behind one interface
// with two implementations: LocalLimits (this process: RateLimiter and SpendLedger, the
// single-node default) and SharedLimits (cluster/shared_limits.h: the whole fleet, in Redis).
//
// Contract (both):
// - CheckBudgets() refuses (BudgetCheck::over) when a subject's spend has reached one of its
//   limits; otherwise it may reserve `estimate` on every subject (SharedLimits does, so that
//   requests in flight on other replicas count), and says how much in BudgetCheck::reserved.
//   An error is returned only when the spend cannot be known and the budget is strict
//   (503 budget_unavailable).
// - Settle() runs exactly once for every request that passed CheckBudgets: it releases the
//   reservation and adds the request's cost (0 for a request that was not served) to every
//   subject; it returns each subject's spend after it, where known (budget alerts).
// - Admit()/Correct(): the token buckets of RateLimiter's contract.
// - SpendOf()/PeekRate(): the admin API's and the dashboard's view; they may block (call them
//   off the event loops).
#pragma once

#include <asio/awaitable.hpp>
#include <asio/thread_pool.hpp>

#include <optional>
#include <string>
#include <vector>

#include "common/money.h"
#include "common/result.h"
#include "limits/rate_limiter.h"
#include "limits/spend_ledger.h"

namespace warden {

// A spend that budgets bound: a key's, or a tag value's shared by every key that sends it.
struct BudgetSubject {
  std::string id;   // the spend ledger's subject: a key id, or TagBudgetSubject()
  std::string who;  // for the refusal: "This key", "The team 'payments'"
  BudgetLimits limits;
  bool strict = false;  // when the spend cannot be known: refuse (true) or count locally
};

struct BudgetCheck {
  int over = -1;        // the index of the subject whose budget is used up; -1 = none
  bool month = false;   // the period that is used up
  Spend spend;          // that subject's spend
  Picos reserved = 0;   // reserved on every subject, for Settle to release
};

class Limits : public SpendSource {
 public:
  virtual ~Limits() = default;
  virtual asio::awaitable<Result<BudgetCheck>> CheckBudgets(const std::vector<BudgetSubject>& subjects,
                                                            Picos estimate) = 0;
  virtual asio::awaitable<std::vector<std::optional<Spend>>> Settle(const std::vector<BudgetSubject>& subjects,
                                                                    Picos reserved, Picos cost) = 0;
  virtual asio::awaitable<RateState> Admit(const std::string& key_id, const RateLimits& limits,
                                           int64_t estimated_tokens) = 0;
  virtual asio::awaitable<void> Correct(const std::string& key_id, const RateLimits& limits,
                                        int64_t token_delta) = 0;
  virtual RateState PeekRate(const std::string& key_id, const RateLimits& limits) = 0;
};

// This process's limits. A subject's first look in a period reads the store, on `pool`.
// Reserves nothing: the figures are in this process's memory, exact at the moment of the check.
class LocalLimits : public Limits {
 public:
  LocalLimits(RateLimiter* rate, SpendLedger* spend, asio::thread_pool* pool)
      : rate_(rate), spend_(spend), pool_(pool) {}
  asio::awaitable<Result<BudgetCheck>> CheckBudgets(const std::vector<BudgetSubject>& subjects,
                                                    Picos estimate) override;
  asio::awaitable<std::vector<std::optional<Spend>>> Settle(const std::vector<BudgetSubject>& subjects,
                                                            Picos reserved, Picos cost) override;
  asio::awaitable<RateState> Admit(const std::string& key_id, const RateLimits& limits,
                                   int64_t estimated_tokens) override;
  asio::awaitable<void> Correct(const std::string& key_id, const RateLimits& limits, int64_t token_delta) override;
  Spend SpendOf(const std::string& subject) override { return spend_->Get(subject); }
  RateState PeekRate(const std::string& key_id, const RateLimits& limits) override {
    return rate_->Peek(key_id, limits);
  }

  // Whether `spend` has used up one of `limits` (and which period): the one comparison both
  // implementations make.
  static bool UsedUp(const BudgetLimits& limits, const Spend& spend, bool* month);

 private:
  RateLimiter* rate_;
  SpendLedger* spend_;
  asio::thread_pool* pool_;
};

}  // namespace warden
