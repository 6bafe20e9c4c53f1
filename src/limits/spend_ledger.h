// SpendLedger: money spent per client key, per UTC day and per UTC month, persisted in the Store
// so budgets survive restarts.
//
// Contract: Add() and Peek() touch memory only (DeltaCells); Get() reads the Store the first
// time a key is seen in a period (blocking: off the event loop). The figures are micro-USD
// integers. The owner calls Flush() on a timer (and it runs on destruction): a crash may lose
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

#include "limits/delta_cells.h"
#include "store/store.h"

namespace warden {

struct Spend {
  double day_usd = 0;
  double month_usd = 0;
  int64_t seconds_to_next_day = 0;
  int64_t seconds_to_next_month = 0;
};

class SpendLedger {
 public:
  SpendLedger(Store* store, std::function<int64_t()> now_s);
  ~SpendLedger();  // flushes
  void Flush();
  // The key's spend when this period's figures are in memory; nullopt means call Get().
  std::optional<Spend> Peek(const std::string& key_id);
  Spend Get(const std::string& key_id);
  // Adds to today's and this month's spend; returns both totals after it when they are known
  // in memory (always, for a key whose budget was checked this period), for budget alerts.
  std::optional<Spend> Add(const std::string& key_id, double usd);

 private:
  struct Micros {
    int64_t value = 0;
    void Add(const Micros& o) { value += o.value; }
  };
  struct MicrosCodec {
    static std::string Encode(const Micros& m);
    static Micros Decode(std::string_view text);
  };
  Spend Make(int64_t now, int64_t day_micros, int64_t month_micros) const;

  std::function<int64_t()> now_s_;
  DeltaCells<Micros, MicrosCodec> cells_;
};

}  // namespace warden
