// The retry decision, the circuit breaker and the routing strategies, driven without sockets
// (time is a parameter, so no test sleeps).
#include "gateway/failover.h"

#include <gtest/gtest.h>

#include <map>

namespace warden::testing {
namespace {

RoutingConfig Config() {
  RoutingConfig c;
  c.retries_per_deployment = 2;
  c.max_attempts = 5;
  c.max_time_ms = 10000;
  c.backoff_initial_ms = 100;
  c.backoff_max_ms = 300;
  c.retry_after_max_ms = 2000;
  c.breaker_failures = 3;
  c.breaker_cooldown_ms = 1000;
  return c;
}

Error Retryable() { return Error::BadGateway("down", "upstream_error", true); }

TEST(DecideRetryTest, RetriesTheSameDeploymentWithGrowingJitteredBackoffThenMovesOn) {
  RoutingConfig c = Config();
  RetryDecision d1 = DecideRetry(c, Retryable(), 1, 1, 0, std::nullopt, 0.0);
  EXPECT_EQ(d1.kind, RetryDecision::kRetrySame);
  EXPECT_EQ(d1.delay_ms, 50);  // half of 100 fixed, jitter 0
  RetryDecision d2 = DecideRetry(c, Retryable(), 2, 2, 0, std::nullopt, 0.999);
  EXPECT_EQ(d2.kind, RetryDecision::kRetrySame);
  EXPECT_GE(d2.delay_ms, 199);  // up to 200
  EXPECT_LE(d2.delay_ms, 200);
  RetryDecision capped = DecideRetry(c, Retryable(), 2, 2, 0, std::nullopt, 0.5);
  EXPECT_LE(capped.delay_ms, c.backoff_max_ms);
  EXPECT_EQ(DecideRetry(c, Retryable(), 3, 3, 0, std::nullopt, 0.5).kind, RetryDecision::kNextDeployment);
}

TEST(DecideRetryTest, NeverAfterTheFirstByteNorForClientErrors) {
  RoutingConfig c = Config();
  Error started = Retryable();
  started.stage = Stage::kClientStarted;
  EXPECT_EQ(DecideRetry(c, started, 1, 1, 0, std::nullopt, 0).kind, RetryDecision::kGiveUp);
  Error bad = Error::BadRequest("no");
  EXPECT_EQ(DecideRetry(c, bad, 1, 1, 0, std::nullopt, 0).kind, RetryDecision::kGiveUp);
}

TEST(DecideRetryTest, BoundedByAttemptsAndTime) {
  RoutingConfig c = Config();
  EXPECT_EQ(DecideRetry(c, Retryable(), 1, 5, 0, std::nullopt, 0).kind, RetryDecision::kGiveUp);
  EXPECT_EQ(DecideRetry(c, Retryable(), 1, 1, 10000, std::nullopt, 0).kind, RetryDecision::kGiveUp);
  // A backoff that would end past the deadline: the next deployment instead of waiting.
  EXPECT_EQ(DecideRetry(c, Retryable(), 1, 1, 9990, std::nullopt, 0).kind, RetryDecision::kNextDeployment);
}

TEST(DecideRetryTest, HonoursRetryAfterUpToTheCap) {
  RoutingConfig c = Config();
  RetryDecision d = DecideRetry(c, Retryable(), 1, 1, 0, 1500, 0.3);
  EXPECT_EQ(d.kind, RetryDecision::kRetrySame);
  EXPECT_EQ(d.delay_ms, 1500);
  EXPECT_EQ(DecideRetry(c, Retryable(), 1, 1, 0, 2500, 0.3).kind, RetryDecision::kNextDeployment);
}

TEST(DecideRetryTest, ParsesRetryAfterSecondsAndDates) {
  EXPECT_EQ(ParseRetryAfterMs("2", 0), 2000);
  EXPECT_EQ(ParseRetryAfterMs("0.5", 0), 500);
  EXPECT_EQ(ParseRetryAfterMs("Wed, 21 Oct 2015 07:28:10 GMT", 1445412480), 10000);
  EXPECT_FALSE(ParseRetryAfterMs("soon", 0).has_value());
  EXPECT_FALSE(ParseRetryAfterMs("-1", 0).has_value());
  EXPECT_FALSE(ParseRetryAfterMs("", 0).has_value());
}

TEST(DeploymentHealthTest, ASlowDeploymentIsDemotedThenProbedAndPromotedWhenFast) {
  DeploymentHealth h;
  RoutingConfig c;
  c.ttfb_probe_interval_ms = 1000;
  const int64_t ms = 1'000'000;  // first-byte times are in ns
  EXPECT_FALSE(h.TooSlow("d", 100, 0, c));  // nothing known: keeps its place
  h.Report("d", false, 50 * ms, 10, c);
  EXPECT_FALSE(h.TooSlow("d", 100, 20, c));
  h.Report("d", false, 900 * ms, 30, c);  // average 0.8 × 50 + 0.2 × 900 = 220 ms
  EXPECT_TRUE(h.TooSlow("d", 100, 40, c));
  EXPECT_FALSE(h.TooSlow("d", 300, 40, c));  // under its own threshold
  EXPECT_FALSE(h.TooSlow("d", 0, 40, c));    // no threshold
  // No sample for longer than the probe interval: its place back, for a probe...
  EXPECT_FALSE(h.TooSlow("d", 100, 1100, c));
  // ...whose answer replaces the stale average: fast now, so it stays.
  h.Report("d", false, 20 * ms, 1100, c);
  EXPECT_EQ(h.LatencyMs("d"), 20.0);
  EXPECT_FALSE(h.TooSlow("d", 100, 1110, c));
  // A failure is no sample of speed.
  h.Report("d", true, 5000 * ms, 1120, c);
  EXPECT_EQ(h.LatencyMs("d"), 20.0);
}

TEST(DeploymentHealthTest, OpensAfterKFailuresThenOneProbeDecides) {
  DeploymentHealth h;
  const RoutingConfig c = Config();
  const std::string d = "p/m";
  for (int i = 0; i < 2; ++i) {
    ASSERT_TRUE(h.Admit(d, 0, c));
    h.Report(d, true, 0, 0, c);
  }
  EXPECT_EQ(h.state(d), DeploymentHealth::State::kClosed);
  ASSERT_TRUE(h.Admit(d, 0, c));
  h.Report(d, true, 0, 100, c);
  EXPECT_EQ(h.state(d), DeploymentHealth::State::kOpen);
  EXPECT_FALSE(h.Admit(d, 500, c));
  EXPECT_EQ(h.CooldownLeftMs(d, 500), 600);
  // Cool-down over: exactly one probe at a time.
  EXPECT_TRUE(h.Admit(d, 1100, c));
  EXPECT_FALSE(h.Admit(d, 1100, c));
  h.Report(d, true, 0, 1200, c);  // the probe failed: open again for a full cool-down
  EXPECT_EQ(h.state(d), DeploymentHealth::State::kOpen);
  EXPECT_FALSE(h.Admit(d, 2100, c));
  EXPECT_TRUE(h.Admit(d, 2200, c));
  h.Report(d, false, 5000000, 2210, c);  // the probe succeeded
  EXPECT_EQ(h.state(d), DeploymentHealth::State::kClosed);
  EXPECT_TRUE(h.Admit(d, 2210, c));
  EXPECT_TRUE(h.Admit(d, 2210, c));
}

TEST(DeploymentHealthTest, ASuccessResetsTheCountAndClientErrorsAreSuccesses) {
  DeploymentHealth h;
  const RoutingConfig c = Config();
  for (int i = 0; i < 10; ++i) {
    h.Admit("p/m", 0, c);
    h.Report("p/m", i % 2 == 0, 0, 0, c);  // failures never consecutive
  }
  EXPECT_EQ(h.state("p/m"), DeploymentHealth::State::kClosed);
}

TEST(OrderDeploymentsTest, Strategies) {
  DeploymentHealth h;
  const RoutingConfig c = Config();
  std::vector<std::string> names = {"a/m", "b/m", "c/m"};
  std::vector<int> weights = {1, 0, 3};
  std::vector<double> prices = {30, 2, 10};
  RoutingRng rng(7);
  EXPECT_EQ(OrderDeployments(RoutingStrategy::kPriority, names, weights, prices, h, rng), (std::vector<size_t>{0, 1, 2}));
  EXPECT_EQ(OrderDeployments(RoutingStrategy::kLowestCost, names, weights, prices, h, rng), (std::vector<size_t>{1, 2, 0}));
  // Latency: measured deployments by their moving average; unmeasured first so they get measured.
  h.Report("a/m", false, 50000000, 0, c);
  h.Report("b/m", false, 10000000, 0, c);
  EXPECT_EQ(OrderDeployments(RoutingStrategy::kLowestLatency, names, weights, prices, h, rng), (std::vector<size_t>{2, 1, 0}));
  h.Report("c/m", false, 90000000, 0, c);
  EXPECT_EQ(OrderDeployments(RoutingStrategy::kLowestLatency, names, weights, prices, h, rng), (std::vector<size_t>{1, 0, 2}));
  // Weighted: first picks follow the weights (1:0:3); a weight-0 deployment is only a fallback.
  std::map<size_t, int> first;
  for (int i = 0; i < 4000; ++i) {
    auto order = OrderDeployments(RoutingStrategy::kWeighted, names, weights, prices, h, rng);
    ASSERT_EQ(order.size(), 3u);
    EXPECT_EQ(order.back(), 1u);
    ++first[order[0]];
  }
  EXPECT_EQ(first[1], 0);
  EXPECT_NEAR(first[2] / 4000.0, 0.75, 0.04);
}

}  // namespace
}  // namespace warden::testing
