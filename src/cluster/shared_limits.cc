#include "cluster/shared_limits.h"

#include <asio/co_spawn.hpp>
#include <asio/use_awaitable.hpp>

#include <cstdlib>

#include "common/log.h"
#include "common/util.h"

namespace warden {
namespace {

constexpr int64_t kDayKeySeconds = 3 * 86400;    // a day's cells outlive it a little
constexpr int64_t kMonthKeySeconds = 63 * 86400;
constexpr int64_t kFleetWindowMs = 10000;        // a replica counts while its heartbeat is this recent

// KEYS: 4 per subject (spent day, spent month, held day, held month).
// ARGV: n, estimate, replica, day ttl, month ttl, then per subject its day and month limits.
// Refuses with {i, "day"|"month", spent day, spent month} when subject i's spend plus what the
// fleet's requests in flight hold has reached a limit; else reserves the estimate on every
// limited subject and returns {0, "", spent day 1, spent month 1, …}.
constexpr const char* kCheckBudgets = R"lua(
local n = tonumber(ARGV[1])
local estimate = tonumber(ARGV[2])
local function held(key)
  local sum = 0
  for _, v in ipairs(redis.call('HVALS', key)) do sum = sum + tonumber(v) end
  return sum
end
local spent = {}
for i = 1, n do
  local k = (i - 1) * 4
  local day_limit = tonumber(ARGV[5 + (i - 1) * 2 + 1])
  local month_limit = tonumber(ARGV[5 + (i - 1) * 2 + 2])
  local day = redis.call('GET', KEYS[k + 1]) or '0'
  local month = redis.call('GET', KEYS[k + 2]) or '0'
  spent[#spent + 1] = day
  spent[#spent + 1] = month
  if day_limit > 0 and tonumber(day) + held(KEYS[k + 3]) >= day_limit then return {i, 'day', day, month} end
  if month_limit > 0 and tonumber(month) + held(KEYS[k + 4]) >= month_limit then return {i, 'month', day, month} end
end
if estimate > 0 then
  for i = 1, n do
    local k = (i - 1) * 4
    if tonumber(ARGV[5 + (i - 1) * 2 + 1]) > 0 or tonumber(ARGV[5 + (i - 1) * 2 + 2]) > 0 then
      redis.call('HINCRBY', KEYS[k + 3], ARGV[3], ARGV[2])
      redis.call('EXPIRE', KEYS[k + 3], ARGV[4])
      redis.call('HINCRBY', KEYS[k + 4], ARGV[3], ARGV[2])
      redis.call('EXPIRE', KEYS[k + 4], ARGV[5])
    end
  end
end
return {0, '', unpack(spent)}
)lua";

// KEYS: as above. ARGV: n, reserved, cost, replica, day ttl, month ttl, then per subject 1 when
// it was reserved on. Releases, adds the cost (exactly: INCRBY of the decimal text), and returns
// every subject's spend after it.
constexpr const char* kSettle = R"lua(
local n = tonumber(ARGV[1])
local out = {}
for i = 1, n do
  local k = (i - 1) * 4
  if ARGV[6 + i] == '1' and tonumber(ARGV[2]) > 0 then
    for _, key in ipairs({KEYS[k + 3], KEYS[k + 4]}) do
      if redis.call('HINCRBY', key, ARGV[4], '-' .. ARGV[2]) <= 0 then redis.call('HDEL', key, ARGV[4]) end
    end
  end
  if tonumber(ARGV[3]) > 0 then
    redis.call('INCRBY', KEYS[k + 1], ARGV[3])
    redis.call('EXPIRE', KEYS[k + 1], ARGV[5])
    redis.call('INCRBY', KEYS[k + 2], ARGV[3])
    redis.call('EXPIRE', KEYS[k + 2], ARGV[6])
  end
  out[#out + 1] = redis.call('GET', KEYS[k + 1]) or '0'
  out[#out + 1] = redis.call('GET', KEYS[k + 2]) or '0'
end
return out
)lua";

// KEYS[1]: the key's buckets {rq, tk, t}. ARGV: requests/min, tokens/min, tokens needed,
// 1 = take (0 = look), token delta to take back (Correct; then nothing else is taken).
// Returns {exceeded or "", requests level, tokens level}.
constexpr const char* kRate = R"lua(
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local rpm, tpm, need = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3])
local s = redis.call('HMGET', KEYS[1], 'rq', 'tk', 't')
local last = tonumber(s[3])
local function refill(level, limit)
  if limit <= 0 then return 0 end
  level = tonumber(level)
  if level == nil or last == nil then return limit end
  if now > last then level = math.min(limit, level + limit * (now - last) / 60000) end
  return level
end
local rq, tk = refill(s[1], rpm), refill(s[2], tpm)
local exceeded = ''
local delta = tonumber(ARGV[5])
if delta ~= 0 then
  tk = math.min(tpm, tk - delta)
else
  if rpm > 0 and rq < 1 then exceeded = 'requests' elseif tpm > 0 and tk < need then exceeded = 'tokens' end
  if exceeded ~= '' or ARGV[4] ~= '1' then return {exceeded, tostring(rq), tostring(tk)} end
  if rpm > 0 then rq = rq - 1 end
  if tpm > 0 then tk = tk - need end
end
if last == nil or now > last then last = now end
redis.call('HSET', KEYS[1], 'rq', tostring(rq), 'tk', tostring(tk), 't', last)
redis.call('PEXPIRE', KEYS[1], 120000)
return {exceeded, tostring(rq), tostring(tk)}
)lua";

// KEYS[1]: the fleet's sorted set. ARGV: replica, now ms, window ms. Returns the fleet size.
constexpr const char* kHeartbeat = R"lua(
redis.call('ZADD', KEYS[1], ARGV[2], ARGV[1])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', tonumber(ARGV[2]) - tonumber(ARGV[3]))
redis.call('PEXPIRE', KEYS[1], tonumber(ARGV[3]) * 6)
return redis.call('ZCARD', KEYS[1])
)lua";

std::optional<double> Level(const RedisValue& v, int64_t limit) {
  if (limit <= 0) return std::nullopt;
  return std::strtod(v.str.c_str(), nullptr);
}

Picos PicosOf(const RedisValue& v) { return v.AsInt().value_or(0); }

}  // namespace

SharedLimits::SharedLimits(Redis* redis, std::string key_prefix, std::string replica, std::function<int64_t()> now_s)
    : redis_(redis),
      prefix_(std::move(key_prefix)),
      replica_(std::move(replica)),
      now_s_(std::move(now_s)),
      local_([] { return MonotonicNanos() / 1000000; }) {}

SharedLimits::Keys SharedLimits::KeysOf(const std::string& subject, int64_t now) const {
  const std::string day = UtcDate(now), month = day.substr(0, 7);
  return {prefix_ + "spend:" + subject + ":d:" + day, prefix_ + "spend:" + subject + ":m:" + month,
          prefix_ + "held:" + subject + ":d:" + day, prefix_ + "held:" + subject + ":m:" + month};
}

std::vector<SharedLimits::Keys> SharedLimits::AddKeys(const std::vector<BudgetSubject>& subjects, int64_t now,
                                                      std::vector<std::string>& args) const {
  std::vector<Keys> keys;
  args.push_back(std::to_string(subjects.size() * 4));  // EVAL's key count, then the keys
  for (const BudgetSubject& b : subjects) {
    keys.push_back(KeysOf(b.id, now));
    for (const std::string* k : {&keys.back().spent_day, &keys.back().spent_month, &keys.back().held_day,
                                 &keys.back().held_month})
      args.push_back(*k);
  }
  return keys;
}

RateLimits SharedLimits::Share(const RateLimits& limits) const {
  const int64_t n = std::max(1, fleet_size());
  auto share = [n](int64_t limit) { return limit <= 0 ? limit : std::max<int64_t>(1, (limit + n - 1) / n); };
  return {share(limits.requests_per_minute), share(limits.tokens_per_minute)};
}

void SharedLimits::Fallback(const char* what) {
  fallbacks_.fetch_add(1, std::memory_order_relaxed);
  // The Redis client logs the lost connection once; this says what was decided without it (at
  // most a line a second).
  const int64_t now = now_s_();
  if (last_fallback_logged_s_.exchange(now) != now)
    log::Warn("shared_state_fallback", {{"decision", what}, {"fleet_size", fleet_size()}});
}

void SharedLimits::Remember(const Keys& keys, Picos day, Picos month) {
  MutexLock lock(mu_);
  last_seen_[keys.spent_day] = day;
  last_seen_[keys.spent_month] = month;
}

Spend SharedLimits::Known(const Keys& keys, int64_t now) const {
  MutexLock lock(mu_);
  auto get = [](const std::map<std::string, Picos>& m, const std::string& k) {
    auto it = m.find(k);
    return it == m.end() ? Picos{0} : it->second;
  };
  return SpendAt(now, AddPicos(get(last_seen_, keys.spent_day), get(owed_, keys.spent_day)),
                 AddPicos(get(last_seen_, keys.spent_month), get(owed_, keys.spent_month)));
}

asio::awaitable<Result<BudgetCheck>> SharedLimits::CheckBudgets(const std::vector<BudgetSubject>& subjects,
                                                                Picos estimate) {
  const int64_t now = now_s_();
  std::vector<std::string> args = {"EVAL", kCheckBudgets};
  const std::vector<Keys> keys = AddKeys(subjects, now, args);
  for (std::string a : {std::to_string(subjects.size()), std::to_string(std::max<Picos>(estimate, 0)), replica_,
                        std::to_string(kDayKeySeconds), std::to_string(kMonthKeySeconds)})
    args.push_back(std::move(a));
  for (const BudgetSubject& b : subjects) {
    args.push_back(std::to_string(b.limits.per_day));
    args.push_back(std::to_string(b.limits.per_month));
  }
  const Result<RedisValue> reply = co_await redis_->Command(std::move(args));
  BudgetCheck check;
  const bool answered = reply && reply->type == RedisValue::Type::kArray && reply->elements.size() >= 2;
  if (!answered) {
    // Without Redis: strict budgets refuse; the others are held to what this replica knows.
    for (size_t i = 0; i < subjects.size(); ++i) {
      const BudgetSubject& b = subjects[i];
      if (!b.limits.binds()) continue;
      if (b.strict) {
        Fallback("budget_refused");
        co_return Error::ServiceUnavailable(
            "The budget of this request cannot be checked right now (the gateway's shared state is unreachable); "
            "retry shortly.",
            "budget_unavailable");
      }
      const Spend known = Known(keys[i], now);
      if (LocalLimits::UsedUp(b.limits, known, &check.month)) {
        check.over = static_cast<int>(i);
        check.spend = known;
        co_return check;
      }
    }
    Fallback("budget_local");
    co_return check;
  }
  const std::vector<RedisValue>& e = reply->elements;
  const int64_t over = e[0].AsInt().value_or(0);
  if (over > 0 && static_cast<size_t>(over) <= subjects.size() && e.size() >= 4) {
    check.over = static_cast<int>(over - 1);
    check.month = e[1].str == "month";
    check.spend = SpendAt(now, PicosOf(e[2]), PicosOf(e[3]));
    Remember(keys[static_cast<size_t>(check.over)], check.spend.day, check.spend.month);
    co_return check;
  }
  for (size_t i = 0; i < subjects.size() && 3 + 2 * i < e.size(); ++i)
    Remember(keys[i], PicosOf(e[2 + 2 * i]), PicosOf(e[3 + 2 * i]));
  check.reserved = std::max<Picos>(estimate, 0);
  co_return check;
}

asio::awaitable<std::vector<std::optional<Spend>>> SharedLimits::Settle(const std::vector<BudgetSubject>& subjects,
                                                                        Picos reserved, Picos cost) {
  const int64_t now = now_s_();
  std::vector<std::string> args = {"EVAL", kSettle};
  const std::vector<Keys> keys = AddKeys(subjects, now, args);
  for (std::string a : {std::to_string(subjects.size()), std::to_string(std::max<Picos>(reserved, 0)),
                        std::to_string(std::max<Picos>(cost, 0)), replica_, std::to_string(kDayKeySeconds),
                        std::to_string(kMonthKeySeconds)})
    args.push_back(std::move(a));
  for (const BudgetSubject& b : subjects) args.push_back(b.limits.binds() ? "1" : "0");
  const Result<RedisValue> reply = co_await redis_->Command(std::move(args));
  std::vector<std::optional<Spend>> after(subjects.size());
  if (reply && reply->type == RedisValue::Type::kArray && reply->elements.size() == 2 * subjects.size()) {
    for (size_t i = 0; i < subjects.size(); ++i) {
      const Picos day = PicosOf(reply->elements[2 * i]), month = PicosOf(reply->elements[2 * i + 1]);
      Remember(keys[i], day, month);
      after[i] = SpendAt(now, day, month);
    }
    co_return after;
  }
  // Redis did not take it: owed, and added by the heartbeat once it answers (nothing is lost).
  {
    MutexLock lock(mu_);
    for (size_t i = 0; i < subjects.size(); ++i) {
      if (cost > 0) {
        owed_[keys[i].spent_day] = AddPicos(owed_[keys[i].spent_day], cost);
        owed_[keys[i].spent_month] = AddPicos(owed_[keys[i].spent_month], cost);
      }
      if (reserved > 0 && subjects[i].limits.binds()) {
        unreleased_[keys[i].held_day] = AddPicos(unreleased_[keys[i].held_day], reserved);
        unreleased_[keys[i].held_month] = AddPicos(unreleased_[keys[i].held_month], reserved);
      }
    }
  }
  for (size_t i = 0; i < subjects.size(); ++i) after[i] = Known(keys[i], now);
  co_return after;
}

asio::awaitable<RateState> SharedLimits::Admit(const std::string& key_id, const RateLimits& limits,
                                               int64_t estimated_tokens) {
  if (limits.requests_per_minute <= 0 && limits.tokens_per_minute <= 0) co_return RateState{};
  const double need = RateLimiter::NeedTokens(limits, estimated_tokens);
  std::vector<std::string> args = {"EVAL", kRate, "1", prefix_ + "rate:" + key_id,
                                   std::to_string(limits.requests_per_minute), std::to_string(limits.tokens_per_minute),
                                   std::to_string(static_cast<int64_t>(need)), "1", "0"};
  const Result<RedisValue> reply = co_await redis_->Command(std::move(args));
  if (!reply || reply->type != RedisValue::Type::kArray || reply->elements.size() != 3) {
    Fallback("rate_limit_share");
    co_return local_.Admit(key_id, Share(limits), estimated_tokens);
  }
  const auto& e = reply->elements;
  co_return RateLimiter::Describe(limits, Level(e[1], limits.requests_per_minute), Level(e[2], limits.tokens_per_minute),
                                  e[0].str, need);
}

asio::awaitable<void> SharedLimits::Correct(const std::string& key_id, const RateLimits& limits, int64_t token_delta) {
  if (limits.tokens_per_minute <= 0 || token_delta == 0) co_return;
  std::vector<std::string> args = {"EVAL", kRate, "1", prefix_ + "rate:" + key_id,
                                   std::to_string(limits.requests_per_minute), std::to_string(limits.tokens_per_minute),
                                   "0", "0", std::to_string(token_delta)};
  const Result<RedisValue> reply = co_await redis_->Command(std::move(args));
  if (!reply || reply->type == RedisValue::Type::kError) local_.Correct(key_id, Share(limits), token_delta);
}

Spend SharedLimits::SpendOf(const std::string& subject) {
  const int64_t now = now_s_();
  const Keys keys = KeysOf(subject, now);
  const Result<RedisValue> reply = redis_->Blocking({"MGET", keys.spent_day, keys.spent_month});
  if (!reply || reply->type != RedisValue::Type::kArray || reply->elements.size() != 2) return Known(keys, now);
  return SpendAt(now, PicosOf(reply->elements[0]), PicosOf(reply->elements[1]));
}

RateState SharedLimits::PeekRate(const std::string& key_id, const RateLimits& limits) {
  if (limits.requests_per_minute <= 0 && limits.tokens_per_minute <= 0) return RateState{};
  const Result<RedisValue> reply =
      redis_->Blocking({"EVAL", kRate, "1", prefix_ + "rate:" + key_id, std::to_string(limits.requests_per_minute),
                        std::to_string(limits.tokens_per_minute), "0", "0", "0"});
  if (!reply || reply->type != RedisValue::Type::kArray || reply->elements.size() != 3)
    return local_.Peek(key_id, Share(limits));
  const auto& e = reply->elements;
  return RateLimiter::Describe(limits, Level(e[1], limits.requests_per_minute), Level(e[2], limits.tokens_per_minute),
                               "", 0);
}

bool SharedLimits::Heartbeat() {
  const Result<RedisValue> fleet = redis_->Blocking(
      {"EVAL", kHeartbeat, "1", prefix_ + "replicas", replica_, std::to_string(UnixSeconds() * 1000),
       std::to_string(kFleetWindowMs)});
  if (!fleet || !fleet->AsInt()) return false;
  fleet_size_.store(static_cast<int>(std::max<int64_t>(1, *fleet->AsInt())), std::memory_order_relaxed);
  // What was counted here while Redis could not answer: taken out, sent, put back on failure.
  std::map<std::string, Picos> owed, unreleased;
  {
    MutexLock lock(mu_);
    owed.swap(owed_);
    unreleased.swap(unreleased_);
    // The figures last seen of past periods are of no more use.
    const std::string day = ":d:" + UtcDate(now_s_()), month = ":m:" + UtcDate(now_s_()).substr(0, 7);
    std::erase_if(last_seen_, [&](const auto& kv) { return !kv.first.ends_with(day) && !kv.first.ends_with(month); });
  }
  bool ok = true;
  for (auto it = owed.begin(); it != owed.end(); it = owed.erase(it)) {
    const bool is_day = it->first.find(":d:") != std::string::npos;
    const Result<RedisValue> r = redis_->Blocking(
        {"EVAL", "local v = redis.call('INCRBY', KEYS[1], ARGV[1]) redis.call('EXPIRE', KEYS[1], ARGV[2]) return v",
         "1", it->first, std::to_string(it->second), std::to_string(is_day ? kDayKeySeconds : kMonthKeySeconds)});
    if (!r || !r->AsInt()) {
      ok = false;
      break;
    }
    MutexLock lock(mu_);
    last_seen_[it->first] = *r->AsInt();  // the fleet's figure, now with what was owed
  }
  for (auto it = unreleased.begin(); ok && it != unreleased.end(); it = unreleased.erase(it)) {
    const Result<RedisValue> r = redis_->Blocking(
        {"EVAL", "if redis.call('HINCRBY', KEYS[1], ARGV[1], '-' .. ARGV[2]) <= 0 then redis.call('HDEL', KEYS[1], ARGV[1]) end return 1",
         "1", it->first, replica_, std::to_string(it->second)});
    if (!r || r->type == RedisValue::Type::kError) ok = false;
    if (!ok) break;
  }
  if (!owed.empty() || !unreleased.empty()) {
    MutexLock lock(mu_);
    for (const auto& [k, v] : owed) owed_[k] = AddPicos(owed_[k], v);
    for (const auto& [k, v] : unreleased) unreleased_[k] = AddPicos(unreleased_[k], v);
  }
  return ok;
}

Status SharedLimits::ClearOwnReservations() {
  return redis_->Scan({"SCAN", "0", "MATCH", prefix_ + "held:*", "COUNT", "1000"}, 1,
                      [&](const std::vector<RedisValue>& keys) {
                        for (const RedisValue& key : keys)
                          if (auto r = redis_->Call({"HDEL", key.str, replica_}, "a reservation's removal"); !r)
                            return Status(r.error());
                        return Status::Ok();
                      });
}

}  // namespace warden
