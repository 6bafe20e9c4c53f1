#include "limits/limits.h"

#include "common/offload.h"

namespace warden {

bool LocalLimits::UsedUp(const BudgetLimits& limits, const Spend& spend, bool* month) {
  const bool day = limits.per_day > 0 && spend.day >= limits.per_day;
  *month = limits.per_month > 0 && spend.month >= limits.per_month;
  return day || *month;
}

asio::awaitable<Result<BudgetCheck>> LocalLimits::CheckBudgets(const std::vector<BudgetSubject>& subjects, Picos) {
  BudgetCheck check;
  for (size_t i = 0; i < subjects.size(); ++i) {
    const BudgetSubject& b = subjects[i];
    if (!b.limits.binds()) continue;
    // In memory once this period's figures are loaded; the first look reads storage, on the pool.
    std::optional<Spend> known = spend_->Peek(b.id);
    if (!known) known = co_await Offload(pool_, [&] { return spend_->Get(b.id); });
    if (UsedUp(b.limits, *known, &check.month)) {
      check.over = static_cast<int>(i);
      check.spend = *known;
      co_return check;
    }
  }
  co_return check;
}

asio::awaitable<std::vector<std::optional<Spend>>> LocalLimits::Settle(const std::vector<BudgetSubject>& subjects,
                                                                       Picos, Picos cost) {
  std::vector<std::optional<Spend>> after;
  for (const BudgetSubject& b : subjects) after.push_back(cost > 0 ? spend_->Add(b.id, cost) : spend_->Peek(b.id));
  co_return after;
}

asio::awaitable<RateState> LocalLimits::Admit(const std::string& key_id, const RateLimits& limits,
                                              int64_t estimated_tokens) {
  co_return rate_->Admit(key_id, limits, estimated_tokens);
}

asio::awaitable<void> LocalLimits::Correct(const std::string& key_id, const RateLimits& limits, int64_t token_delta) {
  rate_->Correct(key_id, limits, token_delta);
  co_return;
}

}  // namespace warden
