#include "limits/spend_ledger.h"

#include <cmath>
#include <ctime>

#include "common/util.h"

namespace warden {
namespace {

std::tm Utc(int64_t t) {
  std::time_t tt = static_cast<std::time_t>(t);
  std::tm tm{};
  gmtime_r(&tt, &tm);
  return tm;
}

std::string DayOf(int64_t t) { return UtcDate(t); }

std::string MonthOf(int64_t t) { return DayOf(t).substr(0, 7); }

int64_t SecondsToNextMonth(int64_t t) {
  std::tm tm = Utc(t);
  tm.tm_mday = 1;
  tm.tm_hour = tm.tm_min = tm.tm_sec = 0;
  tm.tm_mon += 1;
  return static_cast<int64_t>(timegm(&tm)) - t;
}

std::string DayKey(const std::string& key_id, const std::string& day) { return "spend/" + key_id + "/d/" + day; }
std::string MonthKey(const std::string& key_id, const std::string& month) {
  return "spend/" + key_id + "/m/" + month;
}

int64_t ReadMicros(Store* store, const std::string& key) {
  auto v = store->Get(key);
  if (!v.ok() || !v->has_value()) return 0;
  try {
    return std::stoll(**v);
  } catch (...) {
    return 0;
  }
}

}  // namespace

SpendLedger::SpendLedger(Store* store, std::function<int64_t()> now_s)
    : store_(store), now_s_(std::move(now_s)) {}

SpendLedger::~SpendLedger() { Flush(); }

void SpendLedger::AppendRecords(const std::string& key_id, const Entry& e,
                                std::vector<std::pair<std::string, std::string>>& batch) {
  batch.emplace_back(DayKey(key_id, e.day), std::to_string(e.day_micros));
  batch.emplace_back(MonthKey(key_id, e.month), std::to_string(e.month_micros));
}

void SpendLedger::Flush() {
  MutexLock flush_lock(flush_mu_);
  std::vector<std::pair<std::string, std::string>> batch;
  {
    MutexLock lock(mu_);
    last_flush_s_ = now_s_();
    for (auto& [key_id, e] : entries_) {
      if (!e.dirty) continue;
      AppendRecords(key_id, e, batch);
      e.dirty = false;
    }
  }
  // Best effort: a failed write keeps the in-memory figures (budgets still hold until restart).
  if (!batch.empty()) (void)store_->PutMany(batch, /*sync=*/false);
}

SpendLedger::Entry& SpendLedger::Load(const std::string& key_id, const std::string& day,
                                      const std::string& month) {
  Entry& e = entries_[key_id];
  if (e.day != day) {
    if (e.dirty) {  // the old day's figure must not be lost when the period rolls over
      std::vector<std::pair<std::string, std::string>> batch;
      AppendRecords(key_id, e, batch);
      (void)store_->PutMany(batch, /*sync=*/false);
    }
    e.day = day;
    e.day_micros = ReadMicros(store_, DayKey(key_id, day));
  }
  if (e.month != month) {
    e.month = month;
    e.month_micros = ReadMicros(store_, MonthKey(key_id, month));
  }
  return e;
}

Spend SpendLedger::Get(const std::string& key_id) {
  const int64_t now = now_s_();
  MutexLock lock(mu_);
  Entry& e = Load(key_id, DayOf(now), MonthOf(now));
  Spend s;
  s.day_usd = static_cast<double>(e.day_micros) / 1e6;
  s.month_usd = static_cast<double>(e.month_micros) / 1e6;
  s.seconds_to_next_day = 86400 - now % 86400;
  s.seconds_to_next_month = SecondsToNextMonth(now);
  return s;
}

void SpendLedger::Add(const std::string& key_id, double usd) {
  if (!(usd > 0)) return;
  const auto micros = static_cast<int64_t>(std::llround(usd * 1e6));
  const int64_t now = now_s_();
  bool flush = false;
  {
    MutexLock lock(mu_);
    Entry& e = Load(key_id, DayOf(now), MonthOf(now));
    e.day_micros += micros;
    e.month_micros += micros;
    e.dirty = true;
    flush = now != last_flush_s_;
  }
  if (flush) Flush();
}

}  // namespace warden
