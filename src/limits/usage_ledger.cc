#include "limits/usage_ledger.h"

#include <algorithm>

#include "common/json.h"
#include "common/util.h"
#include "common/tags.h"

namespace warden {
namespace {

constexpr char kPrefix[] = "usage/";
constexpr char kSep = '\x1f';  // cannot occur in config names or key ids

// usage/<day>\x1f<key>\x1f<policy>\x1f<model>\x1f<deployment>\x1f<provider>[\x1f<tags>]
// (cells without tags, and those written before tags existed, have no seventh part)
std::string CellKey(const std::string& day, const UsageCell& c) {
  std::string k = kPrefix + day;
  for (const std::string* part : {&c.key_id, &c.policy, &c.model, &c.deployment, &c.provider}) {
    k.push_back(kSep);
    k += *part;
  }
  if (!c.tags.empty()) k += kSep + c.tags;
  return k;
}

std::vector<std::string> SplitKey(std::string_view key) {
  std::vector<std::string> parts;
  key.remove_prefix(sizeof(kPrefix) - 1);
  size_t start = 0;
  for (size_t i = 0; i <= key.size(); ++i) {
    if (i == key.size() || key[i] == kSep) {
      parts.emplace_back(key.substr(start, i - start));
      start = i + 1;
    }
  }
  return parts;  // day, key, policy, model, deployment, provider
}

}  // namespace

void UsageTotals::Add(const UsageTotals& o) {
  requests += o.requests;
  prompt_tokens += o.prompt_tokens;
  completion_tokens += o.completion_tokens;
  cached_prompt_tokens += o.cached_prompt_tokens;
  cost = AddPicos(cost, o.cost);
  estimated_requests += o.estimated_requests;
}

std::optional<UsageGroup> ParseUsageGroup(std::string_view name) {
  static const std::pair<const char*, UsageDimension> kNames[] = {
      {"key", UsageDimension::kKey},           {"policy", UsageDimension::kPolicy},
      {"model", UsageDimension::kModel},       {"deployment", UsageDimension::kDeployment},
      {"provider", UsageDimension::kProvider}, {"day", UsageDimension::kDay}};
  for (const auto& [n, d] : kNames)
    if (name == n) return UsageGroup{d, ""};
  if (name.starts_with("tag:") && ValidTagName(name.substr(4)))
    return UsageGroup{UsageDimension::kTag, std::string(name.substr(4))};
  return std::nullopt;
}

std::string UsageGroup::Name() const {
  switch (dimension) {
    case UsageDimension::kKey: return "key";
    case UsageDimension::kPolicy: return "policy";
    case UsageDimension::kModel: return "model";
    case UsageDimension::kDeployment: return "deployment";
    case UsageDimension::kProvider: return "provider";
    case UsageDimension::kDay: return "day";
    case UsageDimension::kTag: return "tag:" + tag;
  }
  return "?";
}

Json UsageJson(const UsageGroup& by, const std::vector<UsageRow>& rows) {
  Json data = Json::array();
  for (const auto& r : rows) {
    data.push_back(Json{{by.Name(), r.group},
                        {"requests", r.totals.requests},
                        {"prompt_tokens", r.totals.prompt_tokens},
                        {"completion_tokens", r.totals.completion_tokens},
                        {"cached_prompt_tokens", r.totals.cached_prompt_tokens},
                        {"cost_usd", UsdNumber(r.totals.cost)},
                        {"cost_picos", r.totals.cost},
                        {"estimated_requests", r.totals.estimated_requests}});
  }
  return Json{{"object", "list"}, {"group_by", by.Name()}, {"data", std::move(data)}};
}

std::string UsageLedger::TotalsCodec::Encode(const UsageTotals& t) {
  return Dump(Json{{"requests", t.requests}, {"prompt", t.prompt_tokens}, {"completion", t.completion_tokens},
                   {"cached", t.cached_prompt_tokens}, {"cost_picos", t.cost},
                   {"estimated", t.estimated_requests}});
}

UsageTotals UsageLedger::TotalsCodec::Decode(std::string_view text) {
  UsageTotals t;
  auto j = ParseJson(text);
  if (!j || !j->is_object()) return t;
  auto get = [&](const char* k) -> int64_t {
    auto v = j->find(k);
    return v != j->end() && v->is_number_integer() ? v->get<int64_t>() : 0;
  };
  t.requests = get("requests");
  t.prompt_tokens = get("prompt");
  t.completion_tokens = get("completion");
  t.cached_prompt_tokens = get("cached");
  // Cells written before money was kept in pico-dollars hold micro-dollars.
  t.cost = j->contains("cost_picos") ? get("cost_picos") : MulPicos(get("cost_micro_usd"), kPicosPerUsd / 1'000'000);
  t.estimated_requests = get("estimated");
  return t;
}

UsageLedger::UsageLedger(Store* store, std::function<int64_t()> now_s)
    : store_(store), now_s_(std::move(now_s)), cells_(store) {}

UsageLedger::UsageLedger(UsageBackend* shared, std::function<int64_t()> now_s)
    : store_(nullptr), shared_(shared), now_s_(std::move(now_s)), cells_(nullptr) {}

UsageLedger::~UsageLedger() { Flush(); }

void UsageLedger::Record(const UsageCell& cell, const UsageTotals& delta) {
  std::string key = CellKey(UtcDate(now_s_()), cell);
  if (shared_) {
    MutexLock lock(shared_mu_);
    pending_[std::move(key)].Add(delta);
    return;
  }
  (void)cells_.Add(key, delta);
}

void UsageLedger::Flush() {
  if (shared_) {
    std::map<std::string, UsageTotals> taken;
    {
      MutexLock lock(shared_mu_);
      taken.swap(pending_);
    }
    if (taken.empty()) return;
    if (shared_->AddMany({taken.begin(), taken.end()})) return;
    MutexLock lock(shared_mu_);  // not added: kept for the next flush
    for (auto& [key, delta] : taken) pending_[key].Add(delta);
    return;
  }
  const std::string today = UtcDate(now_s_());
  // Cells of past days are final once written: memory keeps today's.
  cells_.Flush([&](const std::string& key) { return key.compare(sizeof(kPrefix) - 1, today.size(), today) == 0; });
}

Status UsageLedger::ForEachCell(
    const std::string& since, const std::string& until,
    const std::function<void(const std::string& day, const UsageCell&, const UsageTotals&)>& fn) {
  Flush();
  auto each = [&](std::string_view key, const UsageTotals& totals) {
    std::vector<std::string> parts = SplitKey(key);
    if (parts.size() != 6 && parts.size() != 7) return;
    const std::string& day = parts[0];
    if ((!since.empty() && day < since) || (!until.empty() && day > until)) return;
    fn(day, UsageCell{parts[1], parts[2], parts[3], parts[4], parts[5], parts.size() == 7 ? parts[6] : ""}, totals);
  };
  if (shared_) return shared_->ForEach(since, until, each);
  return store_->Scan(kPrefix, [&](std::string_view key, std::string_view value) {
    each(key, TotalsCodec::Decode(value));
    return true;
  });
}

Result<std::vector<UsageRow>> UsageLedger::Query(const UsageGroup& by, const std::string& since, const std::string& until) {
  std::map<std::string, UsageTotals> groups;
  Status s = ForEachCell(since, until, [&](const std::string& day, const UsageCell& c, const UsageTotals& t) {
    switch (by.dimension) {
      case UsageDimension::kDay: groups[day].Add(t); break;
      case UsageDimension::kKey: groups[c.key_id].Add(t); break;
      case UsageDimension::kPolicy: groups[c.policy].Add(t); break;
      case UsageDimension::kModel: groups[c.model].Add(t); break;
      case UsageDimension::kDeployment: groups[c.deployment].Add(t); break;
      case UsageDimension::kProvider: groups[c.provider].Add(t); break;
      case UsageDimension::kTag: groups[TagValue(ParseTagsText(c.tags), by.tag)].Add(t); break;
    }
  });
  if (!s) return s.error();
  std::vector<UsageRow> rows;
  for (auto& [name, totals] : groups) rows.push_back({name, totals});
  if (by.dimension == UsageDimension::kDay) return rows;  // in day order
  std::stable_sort(rows.begin(), rows.end(), [](const UsageRow& a, const UsageRow& b) {
    return a.totals.cost > b.totals.cost;
  });
  return rows;
}

}  // namespace warden
