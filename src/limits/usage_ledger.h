// UsageLedger: tokens, requests and cost aggregated per UTC day, client key, policy, model
// alias, deployment and provider, persisted in the Store so the figures survive restarts.
//
// Contract: Record() is atomic with respect to concurrent Record()/Query() (one mutex; the
// in-memory cells are the truth and are loaded from the Store on first touch, so counting
// continues after a restart). Dirty cells are written in one unsynced batch at most once per
// second of the injected clock, on Flush() and on destruction: a crash may lose the last second
// of usage (the audit log keeps every request's figures durably). Query() flushes first, then
// sums the stored cells of [since, until] grouped by one dimension. Label values are config
// names (aliases, deployments, providers, policies) and key ids — never client free text.
// Thread-safe.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "common/json.h"
#include "common/result.h"
#include "store/store.h"
#include "common/mutex.h"

namespace warden {

struct UsageCell {
  std::string key_id, policy, model, deployment, provider;
};

struct UsageTotals {
  int64_t requests = 0;
  int64_t prompt_tokens = 0;
  int64_t completion_tokens = 0;
  int64_t cached_prompt_tokens = 0;
  int64_t cost_micro_usd = 0;
  int64_t estimated_requests = 0;  // requests whose tokens are Warden's estimate (no usage reported)
  void Add(const UsageTotals& o);
};

enum class UsageGroup { kKey, kPolicy, kModel, kDeployment, kProvider, kDay };
// "key", "policy", "model", "deployment", "provider", "day"; nullopt for anything else.
std::optional<UsageGroup> ParseUsageGroup(std::string_view name);

struct UsageRow {
  std::string group;  // the value of the grouped dimension
  UsageTotals totals;
};

// {"object":"list","group_by":…,"data":[{"<by>":…,"requests","prompt_tokens","completion_tokens",
// "cached_prompt_tokens","cost_usd","estimated_requests"}]} — the admin API's and `warden usage
// --format json`'s shape.
Json UsageJson(UsageGroup by, const std::vector<UsageRow>& rows);
const char* UsageGroupName(UsageGroup by);

class UsageLedger {
 public:
  UsageLedger(Store* store, std::function<int64_t()> now_s);
  ~UsageLedger();  // flushes
  void Record(const UsageCell& cell, const UsageTotals& delta);
  void Flush();
  // Days are "YYYY-MM-DD" (UTC), inclusive; empty = unbounded. Rows sorted by cost, then name.
  Result<std::vector<UsageRow>> Query(UsageGroup by, const std::string& since, const std::string& until);
  // Every stored cell of [since, until] (flushed first), in day order: fn(day, cell, totals).
  Status ForEachCell(const std::string& since, const std::string& until,
                     const std::function<void(const std::string& day, const UsageCell&, const UsageTotals&)>& fn);

 private:
  struct Entry {
    UsageTotals totals;
    bool dirty = false;
  };
  Store* store_;
  std::function<int64_t()> now_s_;
  // Adds `delta` to a cell in memory; true when a flush is due.
  bool AddLocked(Entry& entry, const UsageTotals& delta, int64_t now) REQUIRES(mu_);
  Mutex flush_mu_ ACQUIRED_BEFORE(mu_);  // serialises writers so stored values never go back
  Mutex mu_;
  std::map<std::string, Entry> entries_ GUARDED_BY(mu_);  // store key → totals
  int64_t last_flush_s_ GUARDED_BY(mu_) = 0;
};

}  // namespace warden
