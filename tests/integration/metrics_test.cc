// Integration: /metrics on the admin listener after real traffic — valid Prometheus exposition
// (strict parser), figures matching what happened, and no client-supplied value in any label.
#include <gtest/gtest.h>

#include <chrono>
#include <thread>

#include "support/fake_provider.h"
#include "support/harness.h"
#include "support/prometheus_parser.h"

namespace warden::testing {
namespace {

const std::string kToken = "admin-token-metrics-0123456789";

double Value(const PromParse& p, const std::string& name, const std::map<std::string, std::string>& labels) {
  for (const auto& s : p.samples)
    if (s.name == name && s.labels == labels) return s.value;
  return -1;
}

TEST(MetricsEndpointTest, ValidExpositionWithTheRunsFiguresAndNoClientLabels) {
  FakeProvider good;
  FakeProvider down([](const FakeRequest&, Poco::Net::HTTPServerResponse& resp) { ReplyJson(resp, 503, {{"error", "down"}}); });
  std::string yaml =
      "providers:\n"
      "  - { name: down, kind: openai, base_url: \"" + down.base_url() + "\" }\n"
      "  - { name: good, kind: openai, base_url: \"" + good.base_url() + "\", price: { input_per_million: 1000000, output_per_million: 1000000 } }\n"
      "routing: { retries_per_deployment: 1, backoff_initial: 1ms, backoff_max: 2ms, circuit_breaker: { failures: 3, cooldown: 60m } }\n"
      "models:\n  - alias: chat\n    deployments: [ { provider: down, model: d }, { provider: good, model: g } ]\n"
      "admin:\n  listen: 127.0.0.1:0\n  token: " + kToken + "\n";
  GatewayUnderTest gw(yaml, "", "", {{"limited", "rate_limits: { requests_per_minute: 1 }\n"}});
  const std::string limited = gw.CreateKey("limited");
  const std::string planted = "planted-client-value-7c1";
  for (int i = 0; i < 3; ++i) {
    HttpResult r = gw.Post("/v1/chat/completions", {{"model", "chat"}, {"messages", {{{"role", "user"}, {"content", "Hello!"}}}}});
    ASSERT_EQ(r.status, 200) << r.body;
  }
  // Client-chosen strings that must not become label values: an unknown model, a path, a header.
  Headers h = gw.Auth();
  h["x-custom-" + planted] = planted;
  Http(gw.port(), "POST", "/v1/chat/completions", Dump(Json{{"model", planted}, {"messages", {{{"role", "user"}, {"content", "x"}}}}}), h);
  Http(gw.port(), "GET", "/v1/" + planted, "", h);
  gw.PostAs(limited, "/v1/chat/completions", {{"model", "chat"}, {"messages", {{{"role", "user"}, {"content", "x"}}}}});
  gw.PostAs(limited, "/v1/chat/completions", {{"model", "chat"}, {"messages", {{{"role", "user"}, {"content", "x"}}}}});

  EXPECT_EQ(Http(gw.app().admin_port(), "GET", "/metrics", "", {}).status, 401);
  // Metrics are recorded just after each response goes out: wait until the last request (the
  // rate-limited one) is counted.
  HttpResult m;
  for (int i = 0; i < 100; ++i) {
    m = Http(gw.app().admin_port(), "GET", "/metrics", "", {{"Authorization", "Bearer " + kToken}});
    if (m.body.find("warden_refusals_total{reason=\"rate_limit_exceeded\"} 1") != std::string::npos) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  ASSERT_EQ(m.status, 200);
  EXPECT_EQ(m.header("content-type").rfind("text/plain; version=0.0.4", 0), 0u) << m.header("content-type");
  PromParse p = ParsePrometheus(m.body);
  for (const auto& problem : p.problems) ADD_FAILURE() << problem;
  EXPECT_EQ(m.body.find(planted), std::string::npos) << "a client-supplied value became a label";
  EXPECT_EQ(m.body.find(gw.key()), std::string::npos);

  // 3 served by good after down failed twice each time (retry, then failover), 1 limited
  // request served too; the circuit of down opened after 3 consecutive failures.
  EXPECT_EQ(Value(p, "warden_requests_total", {{"endpoint", "chat.completions"}, {"model", "chat"}, {"provider", "good"}, {"status_class", "2xx"}}), 4);
  EXPECT_EQ(Value(p, "warden_upstream_retries_total", {{"deployment", "down/d"}, {"reason", "http_503"}}), 2);
  EXPECT_GE(Value(p, "warden_failovers_total", {{"deployment", "down/d"}, {"reason", "http_503"}}), 2);
  EXPECT_EQ(Value(p, "warden_circuit_breaker_state", {{"deployment", "down/d"}}), 2);
  EXPECT_EQ(Value(p, "warden_circuit_breaker_state", {{"deployment", "good/g"}}), 0);
  EXPECT_EQ(Value(p, "warden_tokens_total", {{"model", "chat"}, {"provider", "good"}, {"type", "prompt"}}), 20);
  EXPECT_EQ(Value(p, "warden_tokens_total", {{"model", "chat"}, {"provider", "good"}, {"type", "completion"}}), 8);
  EXPECT_DOUBLE_EQ(Value(p, "warden_cost_usd_total", {{"model", "chat"}, {"provider", "good"}}), 28);
  EXPECT_EQ(Value(p, "warden_refusals_total", {{"reason", "rate_limit_exceeded"}}), 1);
  // The unknown model is counted without a model label; the rate-limited request under its alias.
  EXPECT_EQ(Value(p, "warden_requests_total", {{"endpoint", "chat.completions"}, {"model", ""}, {"provider", ""}, {"status_class", "4xx"}}), 1);
  EXPECT_EQ(Value(p, "warden_requests_total", {{"endpoint", "chat.completions"}, {"model", "chat"}, {"provider", ""}, {"status_class", "4xx"}}), 1);
  EXPECT_GE(Value(p, "warden_audit_append_seconds_count", {}), 8);
  EXPECT_EQ(Value(p, "warden_audit_failures_total", {}), 0);
}

}  // namespace
}  // namespace warden::testing
