// Rate limits and budgets with an injected clock: no sleeps.
#include <gtest/gtest.h>

#include "limits/rate_limiter.h"
#include "limits/spend_ledger.h"
#include "support/harness.h"

namespace warden {
namespace {

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
    ledger.Add("k", 1.25);
    ledger.Add("k", 0.75);
    Spend s = ledger.Get("k");
    EXPECT_DOUBLE_EQ(s.day_usd, 2.0);
    EXPECT_DOUBLE_EQ(s.month_usd, 2.0);
    EXPECT_EQ(s.seconds_to_next_day, 3600);
    EXPECT_EQ(s.seconds_to_next_month, 3600);
    EXPECT_DOUBLE_EQ(ledger.Get("other").day_usd, 0.0);
  }
  {
    // A restart keeps the figures.
    auto store = Store::Open(dir.path() + "/data");
    ASSERT_TRUE(store.ok());
    SpendLedger ledger(store->get(), [&] { return now; });
    EXPECT_DOUBLE_EQ(ledger.Get("k").day_usd, 2.0);
    now += 3600;  // a new day and a new month
    Spend s = ledger.Get("k");
    EXPECT_DOUBLE_EQ(s.day_usd, 0.0);
    EXPECT_DOUBLE_EQ(s.month_usd, 0.0);
    ledger.Add("k", 0.5);
    EXPECT_DOUBLE_EQ(ledger.Get("k").month_usd, 0.5);
  }
}

}  // namespace
}  // namespace warden
