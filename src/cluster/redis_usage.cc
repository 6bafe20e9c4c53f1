#include "cluster/redis_usage.h"

#include <algorithm>
#include <map>

namespace warden {
namespace {

constexpr std::string_view kCellPrefix = "usage/";  // the ledger's cell keys: usage/<day>\x1f<rest>
constexpr char kSep = '\x1f';
constexpr int64_t kKeepSeconds = 400 * 86400;

// The figures of a cell, one hash field each.
struct Figure {
  char name;
  int64_t UsageTotals::*field;
};
constexpr Figure kFigures[] = {{'r', &UsageTotals::requests},           {'p', &UsageTotals::prompt_tokens},
                               {'c', &UsageTotals::completion_tokens},  {'k', &UsageTotals::cached_prompt_tokens},
                               {'$', &UsageTotals::cost},               {'e', &UsageTotals::estimated_requests}};

// KEYS[1]: the set of days. ARGV: hash prefix, seconds kept, then (day, field, amount) triples.
constexpr const char* kAdd = R"lua(
for i = 3, #ARGV, 3 do
  local hash = ARGV[1] .. ARGV[i]
  redis.call('HINCRBY', hash, ARGV[i + 1], ARGV[i + 2])
  redis.call('EXPIRE', hash, ARGV[2])
  redis.call('SADD', KEYS[1], ARGV[i])
end
return 1
)lua";

class Usage : public UsageBackend {
 public:
  Usage(Redis* redis, const std::string& prefix) : redis_(redis), hash_prefix_(prefix + "usage:"), days_(prefix + "usage:days") {}

  Status AddMany(const std::vector<std::pair<std::string, UsageTotals>>& deltas) override {
    std::vector<std::string> args = {"EVAL", kAdd, "1", days_, hash_prefix_, std::to_string(kKeepSeconds)};
    for (const auto& [key, totals] : deltas) {
      // usage/<day>\x1f<rest>
      if (!key.starts_with(kCellPrefix)) continue;
      const size_t sep = key.find(kSep, kCellPrefix.size());
      if (sep == std::string::npos) continue;
      const std::string day = key.substr(kCellPrefix.size(), sep - kCellPrefix.size());
      const std::string rest = key.substr(sep + 1);
      for (const Figure& f : kFigures) {
        const int64_t amount = totals.*f.field;
        if (amount == 0) continue;
        args.push_back(day);
        args.push_back(rest + kSep + f.name);
        args.push_back(std::to_string(amount));
      }
    }
    if (args.size() == 6) return Status::Ok();
    auto r = redis_->Call(std::move(args), "the usage ledger's update");
    return r ? Status::Ok() : Status(r.error());
  }

  Status ForEach(const std::string& since, const std::string& until,
                 const std::function<void(std::string_view, const UsageTotals&)>& fn) override {
    auto members = redis_->Call({"SMEMBERS", days_}, "the usage ledger's days");
    if (!members) return members.error();
    std::vector<std::string> days;
    for (const RedisValue& d : members->elements)
      if ((since.empty() || d.str >= since) && (until.empty() || d.str <= until)) days.push_back(d.str);
    std::sort(days.begin(), days.end());
    for (const std::string& day : days) {
      auto all = redis_->Call({"HGETALL", hash_prefix_ + day}, "the usage ledger's day");
      if (!all) return all.error();
      std::map<std::string, UsageTotals> cells;
      const auto& e = all->elements;
      for (size_t i = 0; i + 1 < e.size(); i += 2) {
        const std::string& field = e[i].str;
        if (field.size() < 2 || field[field.size() - 2] != kSep) continue;
        const char name = field.back();
        UsageTotals& t = cells[field.substr(0, field.size() - 2)];
        for (const Figure& f : kFigures)
          if (f.name == name) t.*f.field = e[i + 1].AsInt().value_or(0);
      }
      for (const auto& [rest, totals] : cells) fn(std::string(kCellPrefix) + day + kSep + rest, totals);
    }
    return Status::Ok();
  }

 private:
  Redis* redis_;
  const std::string hash_prefix_, days_;
};

}  // namespace

std::unique_ptr<UsageBackend> RedisUsage(Redis* redis, const std::string& key_prefix) {
  return std::make_unique<Usage>(redis, key_prefix);
}

}  // namespace warden
