// Integration: money (issue 20). One request costs one figure — in pico-dollars, exactly — in
// its audit record, the access log, the usage and spend ledgers, /metrics, the admin API and the
// dashboard, and ten thousand cheap requests sum exactly on every one of them.
#include <gtest/gtest.h>

#include <Poco/Net/HTTPClientSession.h>
#include <Poco/Net/HTTPRequest.h>
#include <Poco/Net/HTTPResponse.h>
#include <Poco/StreamCopier.h>

#include <chrono>
#include <sstream>
#include <thread>

#include "common/money.h"
#include "support/fake_provider.h"
#include "support/harness.h"

namespace warden::testing {
namespace {

const std::string kToken = "admin-token-cost-0123456789";

// Occurrences of `needle` in `text`.
size_t Count(const std::string& text, const std::string& needle) {
  size_t n = 0;
  for (size_t at = text.find(needle); at != std::string::npos; at = text.find(needle, at + 1)) ++n;
  return n;
}

TEST(CostTest, ManyCheapRequestsSumExactlyAndEverySurfaceShowsTheSameFigure) {
  FakeProvider fake;  // reports 5 prompt and 2 completion tokens per answer
  GatewayUnderTest gw(OneProviderYaml(fake.base_url(), "chat-alias", "fake-model-1",
                                      "    price: { input_per_million: 0.15, output_per_million: 0.6 }\n") +
                      "admin:\n  listen: 127.0.0.1:0\n  token: " + kToken + "\n");
  // $0.15 and $0.60 per million: 5 × 150,000 + 2 × 600,000 pico-dollars = $0.00000195 a
  // request. Ten thousand of them are exactly $0.0195; summed as doubles they are not, and rounded
  // to micro-dollars per request (the old ledger) they were $0.02.
  constexpr Picos kEach = 5 * 150'000 + 2 * 600'000;
  constexpr int kRequests = 10000;
  constexpr Picos kTotal = kEach * kRequests;
  ASSERT_EQ(FormatUsd(kTotal), "0.0195");
  {
    Poco::Net::HTTPClientSession session("127.0.0.1", gw.port());
    session.setKeepAlive(true);
    const std::string body = Dump(Json{{"model", "chat-alias"}, {"messages", {{{"role", "user"}, {"content", "Hi"}}}}});
    for (int i = 0; i < kRequests; ++i) {
      Poco::Net::HTTPRequest req(Poco::Net::HTTPRequest::HTTP_POST, "/v1/chat/completions",
                                 Poco::Net::HTTPMessage::HTTP_1_1);
      req.set("Authorization", "Bearer " + gw.key());
      req.setContentType("application/json");
      req.setContentLength(static_cast<std::streamsize>(body.size()));
      req.setKeepAlive(true);
      session.sendRequest(req) << body;
      Poco::Net::HTTPResponse resp;
      std::ostringstream answer;
      Poco::StreamCopier::copyStream(session.receiveResponse(resp), answer);
      ASSERT_EQ(resp.getStatus(), 200) << answer.str();
    }
  }
  const Headers admin = {{"Authorization", "Bearer " + kToken}};
  auto get = [&](const std::string& path) { return Http(gw.app().admin_port(), "GET", path, "", admin); };

  // /metrics: the exact decimal. The counter is updated just after each response goes out.
  const std::string line = "warden_cost_usd_total{model=\"chat-alias\",provider=\"fake\"} 0.0195\n";
  HttpResult metrics;
  for (int i = 0; i < 100 && metrics.body.find(line) == std::string::npos; ++i) {
    if (i > 0) std::this_thread::sleep_for(std::chrono::milliseconds(20));
    metrics = get("/metrics");
  }
  EXPECT_NE(metrics.body.find(line), std::string::npos) << metrics.body.substr(metrics.body.find("warden_cost_usd_total"), 200);

  // The usage ledger through the admin API: the integer and the number.
  const Json usage = get("/admin/usage?by=model").json();
  ASSERT_EQ(usage["data"].size(), 1u) << usage.dump();
  EXPECT_EQ(usage["data"][0]["requests"], kRequests);
  EXPECT_EQ(usage["data"][0]["cost_picos"], kTotal);
  EXPECT_EQ(usage["data"][0]["cost_usd"], 0.0195);
  // The spend ledger (budgets) through the key's detail.
  const Json key = get("/admin/keys/" + KeyId(gw.key())).json();
  EXPECT_EQ(key["usage"]["spend_usd_today"], 0.0195) << key.dump();
  // The dashboard: today's total, the 30-day series and the top keys.
  const Json dash = get("/dashboard/data").json();
  EXPECT_EQ(dash["totals"]["cost_usd_today"], 0.0195) << dash["totals"].dump();
  EXPECT_EQ(dash["daily"]["cost_by_model"]["chat-alias"].back(), 0.0195);
  EXPECT_EQ(dash["daily"]["cost_by_provider"]["fake"].back(), 0.0195);
  EXPECT_EQ(dash["top_keys"][0]["cost_usd"], 0.0195);
  Picos recent = 0;  // the live chart: per-minute points, each exact; summed here in picos
  for (const Json& v : dash["recent"]["cost_by_model"]["chat-alias"])
    recent += *ParseFixedDecimal(Dump(v), kPicoDecimals, kTotal);
  EXPECT_EQ(recent, kTotal);

  // Every audit outcome record and access-log line carries the request's exact cost.
  Picos audited = 0;
  int outcomes = 0;
  for (const Json& r : AuditRecords(gw)) {
    if (r["type"] != "outcome") continue;
    ++outcomes;
    EXPECT_EQ(r["meta"]["cost_picos"], kEach);
    EXPECT_EQ(r["meta"]["cost_usd"], 0.00000195);
    audited += r["meta"]["cost_picos"].get<Picos>();
  }
  EXPECT_EQ(outcomes, kRequests);
  EXPECT_EQ(audited, kTotal);
  EXPECT_EQ(Count(gw.ReadLog(), "\"cost_usd\":1.95e-06"), static_cast<size_t>(kRequests));
}

}  // namespace
}  // namespace warden::testing
