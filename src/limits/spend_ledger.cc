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

bool EndsWith(const std::string& s, const std::string& tail) {
  return s.size() >= tail.size() && s.compare(s.size() - tail.size(), tail.size(), tail) == 0;
}

}  // namespace

std::string SpendLedger::MicrosCodec::Encode(const Micros& m) { return std::to_string(m.value); }

SpendLedger::Micros SpendLedger::MicrosCodec::Decode(std::string_view text) {
  try {
    return Micros{std::stoll(std::string(text))};
  } catch (...) {
    return Micros{};
  }
}

SpendLedger::SpendLedger(Store* store, std::function<int64_t()> now_s) : now_s_(std::move(now_s)), cells_(store) {}

SpendLedger::~SpendLedger() { Flush(); }

void SpendLedger::Flush() {
  const int64_t now = now_s_();
  const std::string day = "/d/" + DayOf(now), month = "/m/" + MonthOf(now);
  cells_.Flush([&](const std::string& key) { return EndsWith(key, day) || EndsWith(key, month); });
}

Spend SpendLedger::Make(int64_t now, int64_t day_micros, int64_t month_micros) const {
  Spend s;
  s.day_usd = static_cast<double>(day_micros) / 1e6;
  s.month_usd = static_cast<double>(month_micros) / 1e6;
  s.seconds_to_next_day = 86400 - now % 86400;
  s.seconds_to_next_month = SecondsToNextMonth(now);
  return s;
}

std::optional<Spend> SpendLedger::Peek(const std::string& key_id) {
  const int64_t now = now_s_();
  const auto day = cells_.Peek(DayKey(key_id, DayOf(now)));
  const auto month = cells_.Peek(MonthKey(key_id, MonthOf(now)));
  if (!day || !month) return std::nullopt;
  return Make(now, day->value, month->value);
}

Spend SpendLedger::Get(const std::string& key_id) {
  const int64_t now = now_s_();
  const Micros day = cells_.Load(DayKey(key_id, DayOf(now)));
  const Micros month = cells_.Load(MonthKey(key_id, MonthOf(now)));
  return Make(now, day.value, month.value);
}

void SpendLedger::Add(const std::string& key_id, double usd) {
  if (!(usd > 0)) return;
  const Micros micros{static_cast<int64_t>(std::llround(usd * 1e6))};
  const int64_t now = now_s_();
  cells_.Add(DayKey(key_id, DayOf(now)), micros);
  cells_.Add(MonthKey(key_id, MonthOf(now)), micros);
}

}  // namespace warden
