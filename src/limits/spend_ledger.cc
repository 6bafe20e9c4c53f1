#include "limits/spend_ledger.h"

#include <cmath>
#include <ctime>

namespace warden {
namespace {

std::tm Utc(int64_t t) {
  std::time_t tt = static_cast<std::time_t>(t);
  std::tm tm{};
  gmtime_r(&tt, &tm);
  return tm;
}

std::string DayOf(int64_t t) {
  std::tm tm = Utc(t);
  char buf[48];
  std::snprintf(buf, sizeof buf, "%04d-%02d-%02d", tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday);
  return buf;
}

std::string MonthOf(int64_t t) { return DayOf(t).substr(0, 7); }

int64_t SecondsToNextMonth(int64_t t) {
  std::tm tm = Utc(t);
  tm.tm_mday = 1;
  tm.tm_hour = tm.tm_min = tm.tm_sec = 0;
  tm.tm_mon += 1;
  return static_cast<int64_t>(timegm(&tm)) - t;
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

SpendLedger::Entry& SpendLedger::Load(const std::string& key_id, const std::string& day,
                                      const std::string& month) {
  Entry& e = entries_[key_id];
  if (e.day != day) {
    e.day = day;
    e.day_micros = ReadMicros(store_, "spend/" + key_id + "/d/" + day);
  }
  if (e.month != month) {
    e.month = month;
    e.month_micros = ReadMicros(store_, "spend/" + key_id + "/m/" + month);
  }
  return e;
}

Spend SpendLedger::Get(const std::string& key_id) {
  const int64_t now = now_s_();
  std::lock_guard lock(mu_);
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
  std::lock_guard lock(mu_);
  Entry& e = Load(key_id, DayOf(now), MonthOf(now));
  e.day_micros += micros;
  e.month_micros += micros;
  // Best effort: a failed write keeps the in-memory figure (budgets still hold until restart).
  (void)store_->PutRelaxed("spend/" + key_id + "/d/" + e.day, std::to_string(e.day_micros));
  (void)store_->PutRelaxed("spend/" + key_id + "/m/" + e.month, std::to_string(e.month_micros));
}

}  // namespace warden
