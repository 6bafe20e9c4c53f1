// UsageLedger: tokens, requests and cost aggregated per UTC day, client key, policy, model
// alias, deployment and provider, persisted in the Store so the figures survive restarts.
//
// Contract: Record() touches memory only (DeltaCells: no storage I/O on the request path). The
// owner calls Flush() on a timer (and it runs on destruction): a crash may lose the usage since
// the last flush (the audit log keeps every request's figures durably). Query() and
// ForEachCell() flush first, then read the stored cells of [since, until]. Past days' cells
// leave memory once written. Label values are config names (aliases, deployments, providers,
// policies) and key ids — never client free text. Thread-safe.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "common/json.h"
#include "common/money.h"
#include "common/mutex.h"
#include "common/result.h"
#include "limits/delta_cells.h"
#include "store/store.h"

namespace warden {

struct UsageCell {
  std::string key_id, policy, model, deployment, provider;
  std::string tags = {};  // TagsText (common/tags.h): "" when the request carried none
};

struct UsageTotals {
  int64_t requests = 0;
  int64_t prompt_tokens = 0;
  int64_t completion_tokens = 0;
  int64_t cached_prompt_tokens = 0;
  Picos cost = 0;
  int64_t estimated_requests = 0;  // requests whose tokens are Warden's estimate (no usage reported)
  void Add(const UsageTotals& o);
};

enum class UsageDimension { kKey, kPolicy, kModel, kDeployment, kProvider, kDay, kTag };
struct UsageGroup {
  UsageDimension dimension = UsageDimension::kModel;
  std::string tag = {};  // kTag: the tag whose values group the rows (requests without it: "")
  // "key", "policy", "model", "deployment", "provider", "day" or "tag:<name>".
  std::string Name() const;
};
// The inverse of Name(); nullopt for anything else.
std::optional<UsageGroup> ParseUsageGroup(std::string_view name);

struct UsageRow {
  std::string group;  // the value of the grouped dimension
  UsageTotals totals;
};

// {"object":"list","group_by":…,"data":[{"<by>":…,"requests","prompt_tokens","completion_tokens",
// "cached_prompt_tokens","cost_usd","cost_picos","estimated_requests"}]} — the admin API's and `warden usage
// --format json`'s shape.
Json UsageJson(const UsageGroup& by, const std::vector<UsageRow>& rows);

// Where a fleet's ledger keeps its cells (cluster/redis_usage.h): several writers add to the
// same cells, so a flush adds deltas there instead of writing totals. Blocking.
class UsageBackend {
 public:
  virtual ~UsageBackend() = default;
  // Adds each delta to its cell (the ledger's cell key, "usage/<day>\x1f…").
  virtual Status AddMany(const std::vector<std::pair<std::string, UsageTotals>>& deltas) = 0;
  // Every cell of the days [since, until] ("" = unbounded), in day order: fn(cell key, totals).
  virtual Status ForEach(const std::string& since, const std::string& until,
                         const std::function<void(std::string_view key, const UsageTotals&)>& fn) = 0;
};

class UsageLedger {
 public:
  UsageLedger(Store* store, std::function<int64_t()> now_s);
  // A fleet's ledger: the same contract, with the cells in `shared` (the whole fleet's figures).
  // A flush that `shared` refuses keeps its deltas for the next one.
  UsageLedger(UsageBackend* shared, std::function<int64_t()> now_s);
  ~UsageLedger();  // flushes
  void Record(const UsageCell& cell, const UsageTotals& delta);
  void Flush();
  // Days are "YYYY-MM-DD" (UTC), inclusive; empty = unbounded. Rows sorted by cost, then name.
  Result<std::vector<UsageRow>> Query(const UsageGroup& by, const std::string& since, const std::string& until);
  // Every stored cell of [since, until] (flushed first), in day order: fn(day, cell, totals).
  Status ForEachCell(const std::string& since, const std::string& until,
                     const std::function<void(const std::string& day, const UsageCell&, const UsageTotals&)>& fn);

 private:
  struct TotalsCodec {
    static std::string Encode(const UsageTotals& t);
    static UsageTotals Decode(std::string_view text);
  };
  Store* store_;
  UsageBackend* shared_ = nullptr;
  std::function<int64_t()> now_s_;
  DeltaCells<UsageTotals, TotalsCodec> cells_;
  Mutex shared_mu_;  // the fleet's ledger: deltas not yet added to `shared`
  std::map<std::string, UsageTotals> pending_ GUARDED_BY(shared_mu_);
};

}  // namespace warden
