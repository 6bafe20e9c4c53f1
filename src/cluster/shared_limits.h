// SharedLimits: rate limits and budgets enforced across a fleet of replicas, in Redis.
//
// Each check-and-take is one Lua script, run atomically by the server, so N replicas admit what
// one would: a key's 60 requests a minute are 60 for the fleet, a $100 budget is $100.
// - Rate limits: the same token buckets as RateLimiter, in a hash per key, refilled by the
//   server's clock (TIME), so replicas' clocks do not matter.
// - Budgets: spend per subject and UTC day/month in integer pico-dollars (INCRBY: exact). A
//   request that passes reserves its estimated cost on its subjects (a hash per subject and
//   period, one field per replica), and the check counts spend + every reservation, so requests
//   in flight across the fleet cannot together overshoot by more than one request's error of
//   estimate each. Settle releases the reservation and adds the real cost. The comparison with
//   the limit is made in Lua's doubles: exact below $9,007 of spend, within 10⁻¹⁶ above.
// - A replica that restarts drops the reservations it left (ClearOwnReservations): its requests
//   in flight ended with it.
//
// When Redis cannot answer (the failure is logged by the client, counted, and the heartbeat
// retries):
// - rate limits fall back to this replica's own buckets with its share of each limit (the
//   limit divided by the fleet size last seen, rounded up), so a limit is never lifted;
// - budgets: a strict policy's requests are refused (503 budget_unavailable); others are
//   checked against the fleet's spend last seen plus what this replica has spent since, and
//   that spend is added to Redis by the heartbeat once it answers again (nothing is lost).
// Thread-safe; the awaitable methods run on the event loops, the rest may block.
#pragma once

#include <atomic>
#include <functional>
#include <map>
#include <string>
#include <vector>

#include "cluster/redis.h"
#include "common/mutex.h"
#include "limits/limits.h"
#include "limits/rate_limiter.h"

namespace warden {

class SharedLimits : public Limits {
 public:
  SharedLimits(Redis* redis, std::string key_prefix, std::string replica, std::function<int64_t()> now_s);

  asio::awaitable<Result<BudgetCheck>> CheckBudgets(const std::vector<BudgetSubject>& subjects,
                                                    Picos estimate) override;
  asio::awaitable<std::vector<std::optional<Spend>>> Settle(const std::vector<BudgetSubject>& subjects,
                                                            Picos reserved, Picos cost) override;
  asio::awaitable<RateState> Admit(const std::string& key_id, const RateLimits& limits,
                                   int64_t estimated_tokens) override;
  asio::awaitable<void> Correct(const std::string& key_id, const RateLimits& limits, int64_t token_delta) override;
  Spend SpendOf(const std::string& subject) override;
  RateState PeekRate(const std::string& key_id, const RateLimits& limits) override;

  // Every couple of seconds (blocking; off the loops): announces this replica, counts the fleet
  // (replicas seen in the last 10 s), and adds to Redis the spend and releases counted while it
  // could not answer. Returns false when Redis did not answer.
  bool Heartbeat();
  // At start, before serving: drops the reservations this replica's name holds (blocking).
  Status ClearOwnReservations();
  int fleet_size() const { return fleet_size_.load(std::memory_order_relaxed); }
  // Decisions taken without Redis since start (rate limits and budgets), for the metrics page.
  int64_t fallbacks() const { return fallbacks_.load(std::memory_order_relaxed); }

 private:
  struct Keys {
    std::string spent_day, spent_month, held_day, held_month;
  };
  Keys KeysOf(const std::string& subject, int64_t now) const;
  // Appends EVAL's key count and every subject's four keys to `args`; returns the keys.
  std::vector<Keys> AddKeys(const std::vector<BudgetSubject>& subjects, int64_t now,
                            std::vector<std::string>& args) const;
  RateLimits Share(const RateLimits& limits) const;
  void Remember(const Keys& keys, Picos day, Picos month) EXCLUDES(mu_);
  // The fleet's spend last seen plus this replica's since (for budgets while Redis is down).
  Spend Known(const Keys& keys, int64_t now) const EXCLUDES(mu_);
  void Fallback(const char* what);

  Redis* redis_;
  const std::string prefix_;
  const std::string replica_;
  std::function<int64_t()> now_s_;
  RateLimiter local_;  // this replica's share while Redis cannot answer
  std::atomic<int> fleet_size_{1};
  std::atomic<int64_t> fallbacks_{0};
  std::atomic<int64_t> last_fallback_logged_s_{0};
  mutable Mutex mu_;
  std::map<std::string, Picos> last_seen_ GUARDED_BY(mu_);  // spend key → the fleet's figure last seen
  std::map<std::string, Picos> owed_ GUARDED_BY(mu_);       // spend key → spent here, not yet in Redis
  std::map<std::string, Picos> unreleased_ GUARDED_BY(mu_); // reservation key → this replica's to release
};

}  // namespace warden
