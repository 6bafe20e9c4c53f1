// SpendLedger: money spent per client key, per UTC day and per UTC month, persisted in the Store
// so budgets survive restarts.
//
// Contract: Add() and Peek() touch memory only (DeltaCells); Get() reads the Store the first
// time a key is seen in a period (blocking: off the event loop). The figures are pico-dollars
// (common/money.h); cells written before that, in micro-dollars, are read as such. The owner calls Flush() on a timer (and it runs on destruction): a crash may lose
// the spend since the last flush, which only matters across a crash (budgets are enforced from
// the in-memory figures). Periods roll over by the injected clock (unix seconds): a new day's or
// month's cell starts at its stored figure, and past periods' cells leave memory once written.
// Thread-safe.
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>

#include "common/money.h"
#include "limits/delta_cells.h"
#include "store/store.h"

namespace warden {

struct Spend {
  Picos day = 0;
  Picos month = 0;
  int64_t seconds_to_next_day = 0;
  int64_t seconds_to_next_month = 0;
};

// A spend of `day` and `month` at unix time `now` (with the seconds to the next UTC day and month).
Spend SpendAt(int64_t now, Picos day, Picos month);

// What is left of a budget of `limit` after `spent` (never below 0).
inline Picos Remaining(Picos limit, Picos spent) { return spent >= limit ? 0 : limit - spent; }

// Where a subject's spend today and this month is read from (the admin views): this process's
// ledger, or the fleet's (limits/limits.h). May block.
class SpendSource {
 public:
  virtual ~SpendSource() = default;
  virtual Spend SpendOf(const std::string& subject) = 0;
};

class SpendLedger : public SpendSource {
 public:
  SpendLedger(Store* store, std::function<int64_t()> now_s);
  ~SpendLedger();  // flushes
  void Flush();
  // The key's spend when this period's figures are in memory; nullopt means call Get().
  std::optional<Spend> Peek(const std::string& key_id);
  Spend Get(const std::string& key_id);
  Spend SpendOf(const std::string& subject) override { return Get(subject); }
  // Adds to today's and this month's spend; returns both totals after it when they are known
  // in memory (always, for a key whose budget was checked this period), for budget alerts.
  std::optional<Spend> Add(const std::string& key_id, Picos cost);

 private:
  struct Amount {
    Picos value = 0;
    void Add(const Amount& o) { value = AddPicos(value, o.value); }
  };
  // "p<pico-dollars>"; a bare integer is a cell of micro-dollars from before.
  struct AmountCodec {
    static std::string Encode(const Amount& m);
    static Amount Decode(std::string_view text);
  };

  std::function<int64_t()> now_s_;
  DeltaCells<Amount, AmountCodec> cells_;
};

}  // namespace warden
