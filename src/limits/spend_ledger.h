// SpendLedger: money spent per client key, per UTC day and per UTC month, persisted in the Store
// so budgets survive restarts.
//
// Contract: Add() is atomic with respect to concurrent Add()/Get() (one mutex; the in-memory
// figures are the truth). They are written to RocksDB as micro-USD integers in one unsynced
// batch at most once per second of the injected clock, and on destruction: a crash may lose
// the last second of spend (budgets are enforced from the in-memory figures, so this only
// matters across a crash). Periods roll over by the injected clock (unix seconds). Thread-safe.
#pragma once

#include <cstdint>
#include <functional>
#include <mutex>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

#include "store/store.h"
#include "common/mutex.h"

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
  Spend Get(const std::string& key_id);
  void Add(const std::string& key_id, double usd);

 private:
  struct Entry {
    std::string day, month;  // "2026-11-24", "2026-11"
    int64_t day_micros = 0, month_micros = 0;
    bool dirty = false;
  };
  Entry& Load(const std::string& key_id, const std::string& day, const std::string& month) REQUIRES(mu_);
  static void AppendRecords(const std::string& key_id, const Entry& e,
                            std::vector<std::pair<std::string, std::string>>& batch);

  Store* store_;
  std::function<int64_t()> now_s_;
  Mutex flush_mu_ ACQUIRED_BEFORE(mu_);  // serialises writers so values never go back
  Mutex mu_;
  std::unordered_map<std::string, Entry> entries_ GUARDED_BY(mu_);
  int64_t last_flush_s_ GUARDED_BY(mu_) = 0;
};

}  // namespace warden
