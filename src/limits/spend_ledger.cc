#include "limits/spend_ledger.h"

#include <ctime>
#include <limits>

#include "common/util.h"

namespace warden {
namespace {

std::tm Utc(int64_t t) {
  std::time_t tt = static_cast<std::time_t>(t);
  std::tm tm{};
  gmtime_r(&tt, &tm);
  return tm;
}

// The store keys of a key's day and month cells at unix time t ("…/d/2026-11-24", "…/m/2026-11"):
// the date is formatted once for both.
struct CellKeys {
  std::string day, month;
};
CellKeys KeysAt(const std::string& key_id, int64_t t) {
  const std::string day = UtcDate(t);
  return {"spend/" + key_id + "/d/" + day, "spend/" + key_id + "/m/" + day.substr(0, 7)};
}

int64_t SecondsToNextMonth(int64_t t) {
  std::tm tm = Utc(t);
  tm.tm_mday = 1;
  tm.tm_hour = tm.tm_min = tm.tm_sec = 0;
  tm.tm_mon += 1;
  return static_cast<int64_t>(timegm(&tm)) - t;
}

}  // namespace

std::string SpendLedger::AmountCodec::Encode(const Amount& m) { return "p" + std::to_string(m.value); }

SpendLedger::Amount SpendLedger::AmountCodec::Decode(std::string_view text) {
  const bool picos = text.starts_with('p');
  if (picos) text.remove_prefix(1);
  const std::optional<int64_t> v = ParseFixedDecimal(text, 0, std::numeric_limits<int64_t>::max());
  if (!v) return Amount{};
  return Amount{picos ? *v : MulPicos(*v, kPicosPerUsd / 1'000'000)};
}

SpendLedger::SpendLedger(Store* store, std::function<int64_t()> now_s) : now_s_(std::move(now_s)), cells_(store) {}

SpendLedger::~SpendLedger() { Flush(); }

void SpendLedger::Flush() {
  // Memory keeps the current day's and month's cells (of every key).
  const std::string date = UtcDate(now_s_());
  const std::string day = "/d/" + date, month = "/m/" + date.substr(0, 7);
  cells_.Flush([&](const std::string& key) { return key.ends_with(day) || key.ends_with(month); });
}

Spend SpendAt(int64_t now, Picos day, Picos month) {
  Spend s;
  s.day = day;
  s.month = month;
  s.seconds_to_next_day = 86400 - now % 86400;
  s.seconds_to_next_month = SecondsToNextMonth(now);
  return s;
}

std::optional<Spend> SpendLedger::Peek(const std::string& key_id) {
  const int64_t now = now_s_();
  const CellKeys keys = KeysAt(key_id, now);
  const auto day = cells_.Peek(keys.day);
  const auto month = cells_.Peek(keys.month);
  if (!day || !month) return std::nullopt;
  return SpendAt(now, day->value, month->value);
}

Spend SpendLedger::Get(const std::string& key_id) {
  const int64_t now = now_s_();
  const CellKeys keys = KeysAt(key_id, now);
  const Amount day = cells_.Load(keys.day);
  const Amount month = cells_.Load(keys.month);
  return SpendAt(now, day.value, month.value);
}

std::optional<Spend> SpendLedger::Add(const std::string& key_id, Picos cost) {
  if (cost <= 0) return std::nullopt;
  const Amount amount{cost};
  const int64_t now = now_s_();
  const CellKeys keys = KeysAt(key_id, now);
  const auto day = cells_.Add(keys.day, amount);
  const auto month = cells_.Add(keys.month, amount);
  if (!day || !month) return std::nullopt;
  return SpendAt(now, day->value, month->value);
}

}  // namespace warden
