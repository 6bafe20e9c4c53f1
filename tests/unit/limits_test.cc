// Rate limits and budgets with an injected clock: no sleeps.
#include <gtest/gtest.h>

#include "common/util.h"
#include "limits/rate_limiter.h"
#include "limits/spend_ledger.h"
#include "limits/usage_ledger.h"

#include <atomic>
#include <thread>
#include <vector>
#include "support/harness.h"

namespace warden {
namespace {

// An exact dollar amount in pico-dollars, as the config reads it.
Picos Usd(std::string_view dollars) { return *ParseFixedDecimal(dollars, kPicoDecimals, INT64_MAX); }

TEST(RateLimiterTest, RequestsPerMinuteRefillContinuously) {
  int64_t now = 0;
  RateLimiter rl([&] { return now; });
  RateLimits limits{3, 0};
  for (int i = 0; i < 3; ++i) ASSERT_TRUE(rl.Admit("k", limits, 0).allowed) << i;
  RateState refused = rl.Admit("k", limits, 0);
  EXPECT_FALSE(refused.allowed);
  EXPECT_EQ(refused.exceeded, "requests");
  EXPECT_EQ(refused.retry_after_ms, 20000);  // one request per 20 s at 3/min
  EXPECT_EQ(refused.remaining_requests, 0);
  now += 19999;
  EXPECT_FALSE(rl.Admit("k", limits, 0).allowed);
  now += 1;
  EXPECT_TRUE(rl.Admit("k", limits, 0).allowed);
  // Another key has its own bucket.
  EXPECT_TRUE(rl.Admit("other", limits, 0).allowed);
}

TEST(RateLimiterTest, TokensAreEstimatedThenCorrected) {
  int64_t now = 0;
  RateLimiter rl([&] { return now; });
  RateLimits limits{0, 1000};
  RateState a = rl.Admit("k", limits, 400);
  ASSERT_TRUE(a.allowed);
  EXPECT_EQ(a.remaining_tokens, 600);
  // The answer used 900 tokens in all: 500 more than estimated.
  rl.Correct("k", limits, 500);
  RateState b = rl.Admit("k", limits, 200);
  EXPECT_FALSE(b.allowed);
  EXPECT_EQ(b.exceeded, "tokens");
  EXPECT_EQ(b.retry_after_ms, 6000);  // 100 missing at 1000/min
  now += 6000;
  EXPECT_TRUE(rl.Admit("k", limits, 200).allowed);
}

TEST(RateLimiterTest, UnlimitedAndOversizedRequests) {
  RateLimiter rl([] { return int64_t{0}; });
  EXPECT_TRUE(rl.Admit("k", {0, 0}, 1'000'000).allowed);
  // A request bigger than the per-minute allowance passes on a full bucket, then waits.
  EXPECT_TRUE(rl.Admit("k", {0, 100}, 5000).allowed);
  EXPECT_FALSE(rl.Admit("k", {0, 100}, 1).allowed);
}

TEST(ResetFormatTest, LikeOpenAI) {
  EXPECT_EQ(FormatResetDuration(250), "250ms");
  EXPECT_EQ(FormatResetDuration(1000), "1s");
  EXPECT_EQ(FormatResetDuration(59500), "1m0s");
  EXPECT_EQ(FormatResetDuration(59000), "59s");
  EXPECT_EQ(FormatResetDuration(360000), "6m0s");
}

TEST(SpendLedgerTest, DaysAndMonthsRollOverAndPersist) {
  testing::TempDir dir;
  int64_t now = 1'798'761'600;  // 2027-01-01T00:00:00Z
  now -= 3600;                  // 2026-12-31T23:00:00Z
  {
    auto store = Store::Open(dir.path() + "/data");
    ASSERT_TRUE(store.ok());
    SpendLedger ledger(store->get(), [&] { return now; });
    ledger.Add("k", Usd("1.25"));
    ledger.Add("k", Usd("0.75"));
    Spend s = ledger.Get("k");
    EXPECT_EQ(s.day, Usd("2.0"));
    EXPECT_EQ(s.month, Usd("2.0"));
    EXPECT_EQ(s.seconds_to_next_day, 3600);
    EXPECT_EQ(s.seconds_to_next_month, 3600);
    EXPECT_EQ(ledger.Get("other").day, Usd("0.0"));
  }
  {
    // A restart keeps the figures.
    auto store = Store::Open(dir.path() + "/data");
    ASSERT_TRUE(store.ok());
    SpendLedger ledger(store->get(), [&] { return now; });
    EXPECT_EQ(ledger.Get("k").day, Usd("2.0"));
    now += 3600;  // a new day and a new month
    Spend s = ledger.Get("k");
    EXPECT_EQ(s.day, Usd("0.0"));
    EXPECT_EQ(s.month, Usd("0.0"));
    ledger.Add("k", Usd("0.5"));
    EXPECT_EQ(ledger.Get("k").month, Usd("0.5"));
  }
}

TEST(SpendLedgerTest, CountsInMemoryAndReadsTheStoreOncePerPeriod) {
  testing::TempDir dir;
  int64_t now = 1'800'000'000;
  auto store = Store::Open(dir.path() + "/data");
  ASSERT_TRUE(store.ok());
  {
    SpendLedger before(store->get(), [&] { return now; });
    before.Add("k", Usd("3.0"));
  }  // flushed: $3 stored for today
  SpendLedger ledger(store->get(), [&] { return now; });
  // Nothing known in memory until the stored figure is read (Get, off the event loop).
  EXPECT_FALSE(ledger.Peek("k").has_value());
  ledger.Add("k", Usd("0.5"));  // counted without reading the store
  EXPECT_FALSE(ledger.Peek("k").has_value());
  EXPECT_EQ(ledger.Get("k").day, Usd("3.5"));
  ASSERT_TRUE(ledger.Peek("k").has_value());
  ledger.Add("k", Usd("0.25"));
  EXPECT_EQ(ledger.Peek("k")->day, Usd("3.75"));
  EXPECT_EQ(ledger.Peek("k")->month, Usd("3.75"));
  // Flushing changes nothing in the figures; the store now holds them.
  ledger.Flush();
  EXPECT_EQ(ledger.Peek("k")->day, Usd("3.75"));
  SpendLedger other(store->get(), [&] { return now; });
  EXPECT_EQ(other.Get("k").day, Usd("3.75"));
  // A new day is not known in memory until read again; the month carries on.
  now += 86400;
  EXPECT_FALSE(ledger.Peek("k").has_value());
  const Spend next = ledger.Get("k");
  EXPECT_EQ(next.day, Usd("0.0"));
}

TEST(SpendLedgerTest, ConcurrentAddsFlushesAndLoadsNeverLoseOrDoubleCount) {
  // Adds on many threads while a flusher writes and fresh ledgers would read: every pico-dollar
  // ends up stored exactly once.
  testing::TempDir dir;
  auto store = Store::Open(dir.path() + "/data");
  ASSERT_TRUE(store.ok());
  const int64_t now = 1'800'000'000;
  std::atomic<bool> stop{false};
  {
    SpendLedger ledger(store->get(), [&] { return now; });
    std::thread flusher([&] {
      while (!stop) ledger.Flush();
    });
    std::vector<std::thread> adders;
    for (int t = 0; t < 4; ++t)
      adders.emplace_back([&] {
        for (int i = 0; i < 5000; ++i) {
          ledger.Add("k", Usd("0.000001"));
          if (i % 1000 == 0) (void)ledger.Get("k");
        }
      });
    for (auto& th : adders) th.join();
    stop = true;
    flusher.join();
    EXPECT_EQ(ledger.Get("k").day, Usd("0.02"));
  }
  SpendLedger reread(store->get(), [&] { return now; });
  EXPECT_EQ(reread.Get("k").day, Usd("0.02"));
}

TEST(SpendLedgerTest, CellsWrittenInMicroDollarsReadAsTheSameAmount) {
  // Before money was kept in pico-dollars the cells held micro-dollars: an upgrade keeps them.
  testing::TempDir dir;
  const int64_t now = 1'800'000'000;
  auto store = Store::Open(dir.path() + "/data");
  ASSERT_TRUE(store.ok());
  const std::string day = UtcDate(now);
  ASSERT_TRUE((*store)->Put("spend/k/d/" + day, "2500000").ok());          // $2.50 in micro-dollars
  ASSERT_TRUE((*store)->Put("spend/k/m/" + day.substr(0, 7), "p7").ok());  // 7 pico-dollars
  SpendLedger ledger(store->get(), [&] { return now; });
  EXPECT_EQ(ledger.Get("k").day, Usd("2.5"));
  EXPECT_EQ(ledger.Get("k").month, 7);
  ledger.Add("k", 3);
  ledger.Flush();
  SpendLedger reread(store->get(), [&] { return now; });
  EXPECT_EQ(reread.Get("k").day, Usd("2.5") + 3);
  EXPECT_EQ(reread.Get("k").month, 10);
}

UsageTotals Tokens(int64_t prompt, int64_t completion, int64_t micros, bool estimated = false) {
  constexpr Picos kPerMicro = kPicosPerUsd / 1'000'000;
  UsageTotals t;
  t.requests = 1;
  t.prompt_tokens = prompt;
  t.completion_tokens = completion;
  t.cost = micros * kPerMicro;
  t.estimated_requests = estimated ? 1 : 0;
  return t;
}

TEST(UsageLedgerTest, GroupsByEachDimensionFiltersByDayAndSurvivesARestart) {
  testing::TempDir dir;
  int64_t now = 1'798'761'600 - 60;  // 2026-12-31T23:59:00Z
  const UsageCell a{"key-a", "default", "chat", "openai/gpt", "openai"};
  const UsageCell b{"key-b", "eu-only", "chat", "mistral/small", "mistral"};
  const UsageCell c{"key-a", "default", "embed", "openai/emb", "openai"};
  {
    auto store = Store::Open(dir.path() + "/data");
    ASSERT_TRUE(store.ok());
    UsageLedger ledger(store->get(), [&] { return now; });
    ledger.Record(a, Tokens(10, 5, 300));
    ledger.Record(b, Tokens(20, 1, 100));
    now += 120;  // 2027-01-01
    ledger.Record(a, Tokens(1, 1, 50, true));
    ledger.Record(c, Tokens(7, 0, 7));
    auto by_model = ledger.Query(UsageGroup{UsageDimension::kModel}, "", "");
    ASSERT_TRUE(by_model.ok());
    ASSERT_EQ(by_model->size(), 2u);
    EXPECT_EQ((*by_model)[0].group, "chat");  // by cost, highest first
    EXPECT_EQ((*by_model)[0].totals.requests, 3);
    EXPECT_EQ((*by_model)[0].totals.prompt_tokens, 31);
    EXPECT_EQ((*by_model)[0].totals.cost, 450 * kPicosPerUsd / 1'000'000);
    EXPECT_EQ((*by_model)[0].totals.estimated_requests, 1);
  }
  // A restart keeps everything; counting continues on top of the stored cells.
  auto store = Store::Open(dir.path() + "/data");
  ASSERT_TRUE(store.ok());
  UsageLedger ledger(store->get(), [&] { return now; });
  ledger.Record(a, Tokens(100, 0, 1000));
  auto by_day = ledger.Query(UsageGroup{UsageDimension::kDay}, "", "");
  ASSERT_TRUE(by_day.ok());
  ASSERT_EQ(by_day->size(), 2u);
  EXPECT_EQ((*by_day)[0].group, "2026-12-31");
  EXPECT_EQ((*by_day)[0].totals.requests, 2);
  EXPECT_EQ((*by_day)[1].group, "2027-01-01");
  EXPECT_EQ((*by_day)[1].totals.requests, 3);
  EXPECT_EQ((*by_day)[1].totals.prompt_tokens, 108);
  auto provider_new_year = ledger.Query(UsageGroup{UsageDimension::kProvider}, "2027-01-01", "2027-01-01");
  ASSERT_TRUE(provider_new_year.ok());
  ASSERT_EQ(provider_new_year->size(), 1u);
  EXPECT_EQ((*provider_new_year)[0].group, "openai");
  EXPECT_EQ((*provider_new_year)[0].totals.cost, 1057 * kPicosPerUsd / 1'000'000);
  auto keys_old_year = ledger.Query(UsageGroup{UsageDimension::kKey}, "", "2026-12-31");
  ASSERT_TRUE(keys_old_year.ok());
  ASSERT_EQ(keys_old_year->size(), 2u);
  EXPECT_EQ((*keys_old_year)[0].group, "key-a");
  for (UsageGroup g : {UsageGroup{UsageDimension::kPolicy}, UsageGroup{UsageDimension::kDeployment}}) {
    auto rows = ledger.Query(g, "", "");
    ASSERT_TRUE(rows.ok());
    int64_t requests = 0;
    for (const auto& r : *rows) requests += r.totals.requests;
    EXPECT_EQ(requests, 5) << g.Name();
  }
  EXPECT_EQ(UsageJson(UsageGroup{UsageDimension::kDay}, *by_day)["data"][1]["cost_usd"], 0.001057);
}

TEST(UsageLedgerTest, CellsWrittenInMicroDollarsReadAsTheSameAmount) {
  testing::TempDir dir;
  const int64_t now = 1'800'000'000;
  auto store = Store::Open(dir.path() + "/data");
  ASSERT_TRUE(store.ok());
  const std::string sep = "\x1f";
  ASSERT_TRUE((*store)->Put("usage/" + UtcDate(now) + sep + "k" + sep + "p" + sep + "chat" + sep + "o/m" + sep + "o",
                            R"({"requests":2,"prompt":10,"completion":4,"cached":0,"cost_micro_usd":17,"estimated":0})")
                  .ok());
  UsageLedger ledger(store->get(), [&] { return now; });
  ledger.Record({"k", "p", "chat", "o/m", "o"}, Tokens(1, 1, 0));
  auto rows = ledger.Query(UsageGroup{UsageDimension::kModel}, "", "");
  ASSERT_TRUE(rows.ok());
  ASSERT_EQ(rows->size(), 1u);
  EXPECT_EQ((*rows)[0].totals.requests, 3);
  EXPECT_EQ((*rows)[0].totals.cost, Usd("0.000017"));
}

TEST(UsageLedgerTest, ConcurrentRecordsSumExactly) {
  testing::TempDir dir;
  auto store = Store::Open(dir.path() + "/data");
  ASSERT_TRUE(store.ok());
  std::atomic<int64_t> now{1'800'000'000};
  UsageLedger ledger(store->get(), [&] { return now.load(); });
  std::vector<std::thread> threads;
  for (int t = 0; t < 8; ++t) {
    threads.emplace_back([&, t] {
      UsageCell cell{"key-" + std::to_string(t % 2), "default", "chat", "p/m", "p"};
      for (int i = 0; i < 2000; ++i) {
        ledger.Record(cell, Tokens(3, 2, 7));
        if (i % 500 == 0) now += 1;  // flushes happen while others record
      }
    });
  }
  for (auto& th : threads) th.join();
  auto rows = ledger.Query(UsageGroup{UsageDimension::kModel}, "", "");
  ASSERT_TRUE(rows.ok());
  ASSERT_EQ(rows->size(), 1u);
  EXPECT_EQ((*rows)[0].totals.requests, 16000);
  EXPECT_EQ((*rows)[0].totals.prompt_tokens, 48000);
  EXPECT_EQ((*rows)[0].totals.completion_tokens, 32000);
  EXPECT_EQ((*rows)[0].totals.cost, 112000 * kPicosPerUsd / 1'000'000);
}

}  // namespace
}  // namespace warden
