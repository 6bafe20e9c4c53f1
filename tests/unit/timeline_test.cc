// Timeline (the dashboard's in-memory history) and the dashboard's sessions and helpers.
#include <gtest/gtest.h>

#include <cmath>

#include "admin/dashboard.h"
#include "common/util.h"
#include "metrics/timeline.h"

namespace warden {
namespace {

using metrics::RequestSample;
using metrics::Timeline;

RequestSample Sample(int status, double overhead_s, const std::string& model = "chat", const std::string& provider = "acme") {
  RequestSample s;
  s.endpoint = "chat.completions";
  s.model = model;
  s.provider = provider;
  s.status = status;
  s.upstream = true;
  s.overhead_s = overhead_s;
  s.prompt_tokens = 10;
  s.completion_tokens = 5;
  s.cost = kPicosPerUsd / 4;
  return s;
}

TEST(TimelineTest, BinsCoverTheRangeAndQuantilesAreWithinTenPercent) {
  EXPECT_EQ(Timeline::Bin(0), 0);
  EXPECT_EQ(Timeline::Bin(std::nan("")), 0);
  EXPECT_EQ(Timeline::Bin(1e6), Timeline::kOverheadBins - 1);
  for (double v : {20e-6, 150e-6, 1e-3, 7.3e-3, 0.25, 3.0}) {
    const double back = Timeline::BinValue(Timeline::Bin(v));
    EXPECT_LT(std::abs(back - v) / v, 0.10) << v;
  }
  // 99 fast requests and one slow one in the same minute: p50 fast, p99 fast, the slow one is p100.
  Timeline t;
  const int64_t now = 1'800'000'000;
  for (int i = 0; i < 99; ++i) t.Record(now, Sample(200, 0.0005));
  t.Record(now, Sample(200, 0.2));
  Timeline::Point p = t.Summary(now, 60);
  EXPECT_EQ(p.requests, 100);
  EXPECT_NEAR(p.overhead_p50_ms, 0.5, 0.05);
  EXPECT_NEAR(p.overhead_p99_ms, 0.5, 0.05);
  t.Record(now, Sample(200, 0.2));  // now 2 of 101 are slow: p99 is slow
  EXPECT_NEAR(t.Summary(now, 60).overhead_p99_ms, 200, 20);
}

TEST(TimelineTest, SeriesSumsMinutesIntoAlignedPoints) {
  Timeline t;
  const int64_t base = 1'800'000'000 / 3600 * 3600;  // on the hour
  t.Record(base + 5, Sample(200, 0.001, "chat", "acme"));
  t.Record(base + 65, Sample(503, 0.001, "chat", "acme"));
  t.Record(base + 70, Sample(429, 0.001, "chat", "other"));
  RequestSample refused = Sample(429, 0.001, "chat", "");
  refused.refusal = "budget_exceeded";
  refused.upstream = false;
  refused.prompt_tokens = refused.completion_tokens = 0;
  refused.cost = 0;
  t.Record(base + 71, refused);
  RequestSample moved = Sample(200, 0.001, "big", "acme");
  moved.tries = {{"acme/a", "http_503"}, {"acme/a", "upstream_unreachable"}, {"other/b", ""}};
  moved.redactions = {{"EMAIL", 2}};
  t.Record(base + 125, moved);
  const int64_t now = base + 179;  // minute 2 of the hour

  auto one = t.Series(now, 60, 1);
  ASSERT_EQ(one.size(), 60u);
  EXPECT_EQ(one.back().start_s, base + 120);
  EXPECT_EQ(one[57].requests, 1);
  EXPECT_EQ(one[58].requests, 3);
  EXPECT_EQ(one[58].server_errors, 1);
  EXPECT_EQ(one[58].client_errors, 1);  // a refusal is not an error: counted apart, with its reason
  EXPECT_EQ(one[58].refusals, 1);
  EXPECT_EQ(one[58].refusal_reasons.at("budget_exceeded"), 1);
  EXPECT_EQ(one[59].retries, 1);
  EXPECT_EQ(one[59].failovers, 1);
  EXPECT_EQ(one[59].redactions.at("EMAIL"), 2);
  EXPECT_EQ(one[58].by_provider.at("other").tokens, 15);
  EXPECT_EQ(one[59].by_model.at("big").cost, kPicosPerUsd / 4);
  EXPECT_EQ(one[0].requests, 0);

  // Five-minute points start on multiples of five minutes; all three minutes land in one.
  auto five = t.Series(now, 60, 5);
  EXPECT_EQ(five.back().start_s, base);
  EXPECT_EQ(five.back().requests, 5);
  EXPECT_EQ(five.back().by_model.at("chat").tokens, 45);
  EXPECT_EQ(t.Summary(now, 60).requests, 5);
  EXPECT_EQ(t.Summary(now, 60).refusal_reasons.at("budget_exceeded"), 1);
  EXPECT_EQ(t.Summary(now, 2).requests, 4);  // minutes 1 and 2 only

  // A day later the ring has reused the slots: nothing old is reported.
  EXPECT_EQ(t.Summary(now + 86400, 1440).requests, 0);
  t.Record(now + 86400, Sample(200, 0.001));
  EXPECT_EQ(t.Summary(now + 86400, 1440).requests, 1);
}

TEST(DashboardTest, SessionsExpireEndAndAreBounded) {
  int64_t now = 1000;
  dashboard::Sessions s([&] { return now; });
  const std::string a = s.Create();
  EXPECT_EQ(a.size(), 64u);
  EXPECT_TRUE(s.Valid(a));
  EXPECT_FALSE(s.Valid(a.substr(1)));
  EXPECT_FALSE(s.Valid(""));
  now += dashboard::Sessions::kTtlSeconds;
  EXPECT_FALSE(s.Valid(a));  // expired
  const std::string b = s.Create();
  s.End(b);
  EXPECT_FALSE(s.Valid(b));
  // Beyond the cap the oldest session ends.
  const std::string first = s.Create();
  ++now;
  for (size_t i = 1; i < dashboard::Sessions::kMaxSessions; ++i) s.Create();
  EXPECT_TRUE(s.Valid(first));
  const std::string last = s.Create();
  EXPECT_FALSE(s.Valid(first));
  EXPECT_TRUE(s.Valid(last));
}

TEST(DashboardTest, CookiesFormsAndWindows) {
  using S = dashboard::Sessions;
  EXPECT_EQ(S::FromCookieHeader("a=1; warden_dashboard=xyz; b=2", "warden_dashboard"), "xyz");
  EXPECT_EQ(S::FromCookieHeader("warden_dashboard_x=1", "warden_dashboard"), "");
  EXPECT_EQ(S::FromCookieHeader("", "warden_dashboard"), "");
  EXPECT_NE(S::SetCookie("").find("Max-Age=0"), std::string::npos);
  EXPECT_EQ(FormDecode("a+b%2Fc%3d"), "a b/c=");
  EXPECT_FALSE(FormDecode("%4"));
  EXPECT_FALSE(FormDecode("%zz"));
  auto pairs = SplitPairs("a=1&&b&c=x=y");
  ASSERT_EQ(pairs.size(), 3u);
  EXPECT_EQ(pairs[1].first, "b");
  EXPECT_EQ(pairs[1].second, "");
  EXPECT_EQ(pairs[2].second, "x=y");
  EXPECT_EQ(dashboard::ParseWindow("6h")->step, 5);
  EXPECT_FALSE(dashboard::ParseWindow("7d"));
  for (const char* name : {"index.html", "login.html", "app.js", "app.css"}) {
    auto asset = dashboard::FindAsset(name);
    ASSERT_TRUE(asset) << name;
    EXPECT_GT(asset->bytes.size(), 100u);
  }
  EXPECT_FALSE(dashboard::FindAsset("../warden.yaml"));
  // The page loads nothing from elsewhere and has no inline script (the CSP forbids both).
  const std::string_view html = dashboard::FindAsset("index.html")->bytes;
  EXPECT_EQ(html.find("http"), std::string_view::npos);
  EXPECT_EQ(html.find("<script>"), std::string_view::npos);
  EXPECT_EQ(html.find("style="), std::string_view::npos);
}

}  // namespace
}  // namespace warden
