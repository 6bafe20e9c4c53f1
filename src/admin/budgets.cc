#include "admin/budgets.h"

#include <set>
#include <utility>

#include "common/tags.h"
#include "common/util.h"

namespace warden {

Result<std::vector<BudgetStatus>> BudgetsInForce(const std::vector<KeyRecord>& keys, const PolicySet& policies,
                                                 UsageLedger* usage, SpendSource& spend, int64_t now_s) {
  std::vector<BudgetStatus> out;
  for (const auto& k : keys) {
    const Policy* p = policies.Find(k.policy);
    if (!k.active() || !p || (p->budget_per_day <= 0 && p->budget_per_month <= 0)) continue;
    out.push_back({"key", k.id, k.name, p, {p->budget_per_day, p->budget_per_month}, spend.SpendOf(k.id)});
  }
  if (!usage) return out;
  // Tag values spent this month under a policy that budgets their tag.
  std::set<std::pair<std::string, std::string>> seen;  // (policy, "name=value")
  const std::string today = UtcDate(now_s);
  Status s = usage->ForEachCell(today.substr(0, 8) + "01", today,
                                [&](const std::string&, const UsageCell& c, const UsageTotals&) {
                                  const Policy* p = policies.Find(c.policy);
                                  if (!p || p->tag_budgets.empty() || c.tags.empty()) return;
                                  for (const auto& [name, value] : ParseTagsText(c.tags))
                                    if (p->tag_budgets.count(name)) seen.insert({c.policy, name + "=" + value});
                                });
  if (!s) return s.error();
  for (const auto& [policy, tag] : seen) {
    const Policy* p = policies.Find(policy);
    const size_t eq = tag.find('=');
    const std::string name = tag.substr(0, eq), value = tag.substr(eq + 1);
    out.push_back({"tag", tag, "", p, p->tag_budgets.at(name), spend.SpendOf(TagBudgetSubject(name, value))});
  }
  return out;
}

Json BudgetRows(const std::vector<BudgetStatus>& budgets) {
  Json rows = Json::array();
  for (const BudgetStatus& b : budgets) {
    const struct {
      const char* period;
      Picos limit, spent;
    } periods[] = {{"day", b.limits.per_day, b.spend.day}, {"month", b.limits.per_month, b.spend.month}};
    for (const auto& p : periods) {
      if (p.limit <= 0) continue;
      rows.push_back(Json{{"kind", b.kind},
                          {"id", b.id},
                          {"name", b.name},
                          {"policy", b.policy->name},
                          {"period", p.period},
                          {"limit_usd", UsdNumber(p.limit)},
                          {"spent_usd", UsdNumber(p.spent)},
                          {"remaining_usd", UsdNumber(Remaining(p.limit, p.spent))},
                          {"alert_at", b.policy->budget_alerts}});
    }
  }
  return rows;
}

}  // namespace warden
