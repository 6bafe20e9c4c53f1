// Budgets in force: what the dashboard, `GET /admin/budgets` and `warden usage budgets` show.
//
// Contract: one entry per budgeted subject — each active key whose policy sets `budgets`, and each
// tag value whose policy budgets its tag (`budgets.per_tag`) and that has spent this month
// (found in the usage ledger) — with its limits and its spend today and this month (UTC) from
// the spend ledger. Reads storage (the ledgers' first look at a subject in a period): off the
// event loop.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "common/json.h"
#include "common/result.h"
#include "keys/key_store.h"
#include "limits/spend_ledger.h"
#include "limits/usage_ledger.h"
#include "policy/policy.h"

namespace warden {

struct BudgetStatus {
  std::string kind;  // "key" or "tag"
  std::string id;    // the key id, or "team=payments"
  std::string name;  // the key's name; "" for a tag
  const Policy* policy = nullptr;
  Policy::Budget limits;
  Spend spend;
};

Result<std::vector<BudgetStatus>> BudgetsInForce(const std::vector<KeyRecord>& keys, const PolicySet& policies,
                                                 UsageLedger* usage, SpendSource& spend, int64_t now_s);

// One JSON row per budget and period with a limit: {kind, id, name, policy, period, limit_usd,
// spent_usd, remaining_usd, alert_at}.
Json BudgetRows(const std::vector<BudgetStatus>& budgets);

}  // namespace warden
