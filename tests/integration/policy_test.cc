// Policies through real HTTP: every refusal path, failover that never leaves the policy, and
// the eu-only property test over random outage schedules.
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <sstream>
#include <thread>

#include <random>

#include "gateway/alert_webhook.h"
#include "support/fake_provider.h"
#include "support/harness.h"

namespace warden::testing {
namespace {

Json Chat(const std::string& model, bool stream = false) {
  Json body = {{"model", model}, {"messages", {{{"role", "user"}, {"content", "Hello policy"}}}}};
  if (stream) body["stream"] = true;
  return body;
}

std::string Provider(const std::string& name, const std::string& url, const std::string& region,
                     const std::string& extra = "") {
  return "  - name: " + name + "\n    kind: openai\n    base_url: " + url + "\n    region: " + region +
         "\n" + extra;
}

const char* kEuOnly = "regions: [eu, \"eu-*\"]\n";

class PolicyTest : public ::testing::Test {
 protected:
  FakeProvider us_, eu1_, eu2_;
  std::string Yaml() const {
    return "providers:\n" + Provider("openai-us", us_.base_url(), "us") +
           Provider("mistral-eu", eu1_.base_url(), "eu") +
           Provider("azure-eu", eu2_.base_url(), "eu-west", "    zero_retention: true\n    store_field: true\n") +
           // One try per deployment and no circuit breaker: these tests look at which
           // deployments a policy lets failover reach (retries are tested in failover_test).
           "routing: { retries_per_deployment: 0, circuit_breaker: { failures: 0 } }\n"
           "models:\n"
           "  - alias: chat\n    deployments:\n"
           "      - { provider: openai-us, model: gpt-us }\n"
           "      - { provider: mistral-eu, model: mistral-small }\n"
           "      - { provider: azure-eu, model: gpt-eu }\n"
           "  - alias: us-only\n    deployments:\n      - { provider: openai-us, model: gpt-us }\n"
           "  - alias: restricted\n    deployments:\n      - { provider: mistral-eu, model: big }\n";
  }
};

TEST_F(PolicyTest, EuOnlyKeyIsRoutedPastTheUsDeployment) {
  GatewayUnderTest gw(Yaml(), "", "", {{"eu-only", kEuOnly}});
  std::string key = gw.CreateKey("eu-only");
  HttpResult r = gw.PostAs(key, "/v1/chat/completions", Chat("chat"));
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(r.header("x-warden-deployment"), "mistral-eu/mistral-small");
  EXPECT_EQ(us_.requests().size(), 0u);
  EXPECT_EQ(eu1_.requests().size(), 1u);
  // The default key still uses the first deployment.
  EXPECT_EQ(gw.Post("/v1/chat/completions", Chat("chat")).header("x-warden-deployment"), "openai-us/gpt-us");
}

TEST_F(PolicyTest, NoEligibleDeploymentAndModelNotAllowedAre403) {
  GatewayUnderTest gw(Yaml(), "", "", {{"eu-only", std::string(kEuOnly) + "models: [chat, us-only]\n"}});
  std::string key = gw.CreateKey("eu-only");
  HttpResult r = gw.PostAs(key, "/v1/chat/completions", Chat("us-only"));
  EXPECT_EQ(r.status, 403);
  EXPECT_EQ(r.json()["error"]["code"], "no_eligible_deployment");
  EXPECT_NE(r.json()["error"]["message"].get<std::string>().find("region"), std::string::npos);
  HttpResult m = gw.PostAs(key, "/v1/chat/completions", Chat("restricted"));
  EXPECT_EQ(m.status, 403);
  EXPECT_EQ(m.json()["error"]["code"], "model_not_allowed");
  EXPECT_EQ(us_.requests().size() + eu1_.requests().size() + eu2_.requests().size(), 0u);

  HttpResult list = Http(gw.port(), "GET", "/v1/models", "", GatewayUnderTest::AuthWith(key, ""));
  ASSERT_EQ(list.status, 200);
  ASSERT_EQ(list.json()["data"].size(), 1u);  // us-only has no EU deployment; restricted is not allowed
  EXPECT_EQ(list.json()["data"][0]["id"], "chat");
  EXPECT_EQ(Http(gw.port(), "GET", "/v1/models/us-only", "", GatewayUnderTest::AuthWith(key, "")).status, 404);
}

TEST_F(PolicyTest, FailoverWalksOnlyTheFilteredListAndEndsIn503) {
  GatewayUnderTest gw(Yaml(), "", "", {{"eu-only", kEuOnly}});
  std::string key = gw.CreateKey("eu-only");
  auto fail = [](const FakeRequest&, Poco::Net::HTTPServerResponse& resp) {
    ReplyJson(resp, 503, {{"error", {{"message", "down"}}}});
  };
  eu1_.set_handler(fail);
  HttpResult r = gw.PostAs(key, "/v1/chat/completions", Chat("chat"));
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(r.header("x-warden-deployment"), "azure-eu/gpt-eu");
  EXPECT_EQ(r.header("x-warden-attempts"), "2");
  eu2_.set_handler(fail);
  HttpResult all = gw.PostAs(key, "/v1/chat/completions", Chat("chat"));
  EXPECT_EQ(all.status, 503);
  EXPECT_EQ(all.json()["error"]["code"], "all_deployments_failed");
  EXPECT_EQ(us_.requests().size(), 0u);
}

TEST_F(PolicyTest, EuOnlyNeverLeavesTheEuUnderRandomOutages) {
  FakeProvider eu3;
  std::string yaml =
      "providers:\n" + Provider("us-a", us_.base_url(), "us") +
      Provider("eu-a", eu1_.base_url(), "eu") + Provider("us-b", "http://127.0.0.1:" + std::to_string(UnusedPort()) + "/v1", "us") +
      Provider("eu-b", eu2_.base_url(), "eu-central") + Provider("eu-c", eu3.base_url(), "eu") +
      "routing: { retries_per_deployment: 0, circuit_breaker: { failures: 0 } }\n"
      "models:\n  - alias: chat\n    deployments:\n"
      "      - { provider: us-a, model: m }\n      - { provider: eu-a, model: m }\n"
      "      - { provider: us-b, model: m }\n      - { provider: eu-b, model: m }\n"
      "      - { provider: eu-c, model: m }\n";
  GatewayUnderTest gw(yaml, "", "  first_byte_timeout: 2s\n", {{"eu-only", kEuOnly}});
  std::string key = gw.CreateKey("eu-only");
  std::mt19937 rng(20261124);  // fixed seed: a failure is reproducible
  FakeProvider* eu[] = {&eu1_, &eu2_, &eu3};
  const FakeHandler modes[] = {
      FakeProvider::DefaultHandler(),
      [](const FakeRequest&, Poco::Net::HTTPServerResponse& r) { ReplyJson(r, 500, {{"error", "boom"}}); },
      [](const FakeRequest&, Poco::Net::HTTPServerResponse& r) {
        ReplyJson(r, 429, {{"error", {{"message", "busy"}}}}, {{"Retry-After", "1"}});
      },
      [](const FakeRequest&, Poco::Net::HTTPServerResponse& r) { ReplyJson(r, 529, {{"error", "overloaded"}}); },
  };
  int served = 0, unavailable = 0;
  for (int round = 0; round < 60; ++round) {
    bool any_up = false;
    for (FakeProvider* f : eu) {
      int mode = static_cast<int>(rng() % 4);
      // Bias towards outages so "all EU down" happens often.
      if (rng() % 3 == 0) mode = 0;
      any_up = any_up || mode == 0;
      f->set_handler(modes[mode]);
    }
    bool stream = rng() % 2 == 0;
    HttpResult r = gw.PostAs(key, "/v1/chat/completions", Chat("chat", stream));
    if (any_up) {
      ASSERT_EQ(r.status, 200) << "round " << round << ": " << r.body;
      ++served;
    } else {
      ASSERT_EQ(r.status, 503) << "round " << round << ": " << r.body;
      EXPECT_EQ(r.json()["error"]["code"], "all_deployments_failed");
      ++unavailable;
    }
    ASSERT_EQ(us_.requests().size(), 0u) << "round " << round << " reached a US deployment";
  }
  EXPECT_GT(served, 5);
  EXPECT_GT(unavailable, 5);
}

TEST_F(PolicyTest, ClientOverridesAreRefused) {
  GatewayUnderTest gw(Yaml(), "", "", {{"eu-only", kEuOnly}});
  std::string key = gw.CreateKey("eu-only");
  Headers h = GatewayUnderTest::AuthWith(key);
  h["X-Warden-Redaction"] = "off";
  HttpResult hdr = Http(gw.port(), "POST", "/v1/chat/completions", Dump(Chat("chat")), h);
  EXPECT_EQ(hdr.status, 403);
  EXPECT_EQ(hdr.json()["error"]["code"], "override_not_allowed");
  for (const char* field : {"provider", "region", "fallbacks", "redaction", "logging"}) {
    Json body = Chat("chat");
    body[field] = field == std::string("provider") ? Json("openai-us") : Json(false);
    HttpResult r = gw.PostAs(key, "/v1/chat/completions", body);
    EXPECT_EQ(r.status, 403) << field;
    EXPECT_EQ(r.json()["error"]["param"], field);
  }
  EXPECT_EQ(us_.requests().size() + eu1_.requests().size() + eu2_.requests().size(), 0u);
}

TEST_F(PolicyTest, ZeroRetentionSelectsZeroRetentionDeploymentsAndSendsStoreFalse) {
  GatewayUnderTest gw(Yaml(), "", "", {{"zr", "zero_retention: true\n"}});
  std::string key = gw.CreateKey("zr");
  HttpResult r = gw.PostAs(key, "/v1/chat/completions", Chat("chat"));
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(r.header("x-warden-deployment"), "azure-eu/gpt-eu");
  ASSERT_EQ(eu2_.requests().size(), 1u);
  EXPECT_EQ(eu2_.requests()[0].json()["store"], false);
  Json store = Chat("chat");
  store["store"] = true;
  EXPECT_EQ(gw.PostAs(key, "/v1/chat/completions", store).status, 403);
  EXPECT_EQ(gw.PostAs(key, "/v1/chat/completions", Chat("us-only")).json()["error"]["code"],
            "no_eligible_deployment");
  EXPECT_EQ(us_.requests().size() + eu1_.requests().size(), 0u);
}

TEST_F(PolicyTest, MissingProtectionsFailClosed) {
  // The audit store switched off in the config: a policy that requires it is refused.
  GatewayUnderTest gw(Yaml() + "audit:\n  enabled: false\n", "", "", {{"audited", "audit: required\n"}});
  HttpResult a = gw.PostAs(gw.CreateKey("audited"), "/v1/chat/completions", Chat("chat"));
  EXPECT_EQ(a.status, 503);
  EXPECT_EQ(a.json()["error"]["code"], "audit_unavailable");
  auto ghost = gw.app().keys().Create("ghost", "no-such-policy");
  ASSERT_TRUE(ghost.ok());
  HttpResult g = gw.PostAs(std::string(ghost->key.Reveal()), "/v1/chat/completions", Chat("chat"));
  EXPECT_EQ(g.status, 403);
  EXPECT_EQ(g.json()["error"]["code"], "policy_not_found");
  EXPECT_EQ(us_.requests().size() + eu1_.requests().size() + eu2_.requests().size(), 0u);
}

TEST_F(PolicyTest, RateLimitAnswersLikeOpenAI) {
  GatewayUnderTest gw(Yaml(), "", "", {{"limited", "rate_limits: { requests_per_minute: 2 }\n"}});
  std::string key = gw.CreateKey("limited");
  HttpResult first = gw.PostAs(key, "/v1/chat/completions", Chat("chat"));
  ASSERT_EQ(first.status, 200);
  EXPECT_EQ(first.header("x-ratelimit-limit-requests"), "2");
  EXPECT_EQ(first.header("x-ratelimit-remaining-requests"), "1");
  ASSERT_EQ(gw.PostAs(key, "/v1/chat/completions", Chat("chat")).status, 200);
  HttpResult third = gw.PostAs(key, "/v1/chat/completions", Chat("chat"));
  EXPECT_EQ(third.status, 429);
  EXPECT_EQ(third.json()["error"]["code"], "rate_limit_exceeded");
  EXPECT_EQ(third.json()["error"]["type"], "rate_limit_error");
  int retry = std::stoi(third.header("retry-after"));
  EXPECT_GE(retry, 29);
  EXPECT_LE(retry, 30);
  EXPECT_EQ(third.header("x-ratelimit-remaining-requests"), "0");
  EXPECT_EQ(us_.requests().size(), 2u);
  // Other keys are not affected.
  EXPECT_EQ(gw.Post("/v1/chat/completions", Chat("chat")).status, 200);
}

// Issue 20: two models of one provider cost what each deployment's own price says (the
// provider's price is the fallback), and lowest_cost orders by those prices.
TEST_F(PolicyTest, EachDeploymentIsPricedByItsOwnPriceElseItsProviders) {
  std::string yaml = "providers:\n" +
                     Provider("openai-us", us_.base_url(), "us",
                              "    price: { input_per_million: 1000000, output_per_million: 1000000 }\n") +
                     "models:\n"
                     "  - alias: big\n    deployments:\n      - { provider: openai-us, model: big }\n"
                     "  - alias: small\n    deployments:\n"
                     "      - { provider: openai-us, model: small, price: { input_per_million: 100000, output_per_million: 200000 } }\n"
                     "  - alias: cheapest\n    strategy: lowest_cost\n    deployments:\n"
                     "      - { provider: openai-us, model: big }\n"
                     "      - { provider: openai-us, model: small, price: { input_per_million: 100000, output_per_million: 200000 } }\n";
  GatewayUnderTest gw(yaml);
  ASSERT_EQ(gw.Post("/v1/chat/completions", Chat("big")).status, 200);    // 5 + 2 tokens at $1: $7
  ASSERT_EQ(gw.Post("/v1/chat/completions", Chat("small")).status, 200);  // 5 x $0.1 + 2 x $0.2: $0.9
  HttpResult cheapest = gw.Post("/v1/chat/completions", Chat("cheapest"));
  ASSERT_EQ(cheapest.status, 200);
  EXPECT_EQ(cheapest.header("x-warden-deployment"), "openai-us/small");
  std::vector<double> costs;
  std::istringstream lines(gw.ReadLog());
  for (std::string line; std::getline(lines, line);)
    if (auto j = ParseJson(line); j && j->value("event", "") == "access") costs.push_back(j->value("cost_usd", -1.0));
  ASSERT_EQ(costs.size(), 3u);
  EXPECT_DOUBLE_EQ(costs[0], 7.0);
  EXPECT_NEAR(costs[1], 0.9, 1e-9);
  EXPECT_NEAR(costs[2], 0.9, 1e-9);
}

// Issue 20: budgets you can hear. $10 a day, $7 a request: the first request crosses 50%, the
// second 80% and 100%, each announced once (a log line with no content, a metric); a policy's
// own alert_at replaces the default percentages.
TEST_F(PolicyTest, BudgetThresholdsAreAnnouncedOnceEach) {
  const std::string token = "admin-token-budget-0123456789";
  // The operator's webhook: its first answer is a 503, so that alert is retried; the secret in
  // its path must never reach a log.
  std::atomic<int> hits{0};
  FakeProvider hook([&](const FakeRequest&, Poco::Net::HTTPServerResponse& resp) {
    ReplyJson(resp, hits++ == 0 ? 503 : 200, Json::object());
  });
  const std::string hook_url = hook.base_url() + "/hooks/SECRET-hook-path-51c";
  std::string yaml = "providers:\n" +
                     Provider("openai-us", us_.base_url(), "us",
                              "    price: { input_per_million: 1000000, output_per_million: 1000000 }\n") +
                     "models:\n  - alias: chat\n    deployments:\n      - { provider: openai-us, model: m }\n"
                     "admin:\n  listen: 127.0.0.1:0\n  token: " + token + "\n"
                     "alerts:\n  webhook: { url: \"" + hook_url + "\", headers: { Authorization: \"Bearer hook-token\" }, "
                     "secret: hook-secret-3a1, backoff: 10ms }\n";
  GatewayUnderTest gw(yaml, "", "",
                      {{"budget", "budgets: { usd_per_day: 10 }\n"},
                       {"quiet", "budgets: { usd_per_day: 10, alert_at: [90] }\n"}});
  const std::string key = gw.CreateKey("budget"), quiet = gw.CreateKey("quiet");
  Json chat = Chat("chat");
  chat["messages"][0]["content"] = "planted-budget-prompt-3f9";
  for (const std::string& k : {key, key, quiet, quiet}) ASSERT_EQ(gw.PostAs(k, "/v1/chat/completions", chat).status, 200);
  EXPECT_EQ(gw.PostAs(key, "/v1/chat/completions", chat).status, 429);
  HttpResult m = Http(gw.app().admin_port(), "GET", "/metrics", "", {{"Authorization", "Bearer " + token}});
  ASSERT_EQ(m.status, 200);
  for (const char* series : {"warden_budget_alerts_total{policy=\"budget\",period=\"day\",percent=\"50\"} 1",
                             "warden_budget_alerts_total{policy=\"budget\",period=\"day\",percent=\"80\"} 1",
                             "warden_budget_alerts_total{policy=\"budget\",period=\"day\",percent=\"100\"} 1",
                             "warden_budget_alerts_total{policy=\"quiet\",period=\"day\",percent=\"90\"} 1"})
    EXPECT_NE(m.body.find(series), std::string::npos) << series << "\n" << m.body;
  EXPECT_EQ(m.body.find("policy=\"quiet\",period=\"day\",percent=\"50\""), std::string::npos);
  // The webhook: each alert delivered once (the first after a retry), with no content.
  for (int i = 0; i < 200 && hook.requests().size() < 5; ++i) std::this_thread::sleep_for(std::chrono::milliseconds(10));
  const std::vector<FakeRequest> posts = hook.requests();
  ASSERT_EQ(posts.size(), 5u);
  std::vector<std::pair<std::string, int>> delivered;
  for (size_t i = 0; i < posts.size(); ++i) {
    const FakeRequest& post = posts[i];
    EXPECT_EQ(post.method, "POST");
    EXPECT_TRUE(post.path.ends_with("/hooks/SECRET-hook-path-51c")) << post.path;
    EXPECT_EQ(post.headers.at("authorization"), "Bearer hook-token");
    EXPECT_EQ(post.headers.at("content-type"), "application/json");
    // Signed: the receiver recomputes HMAC-SHA256("<t>.<body>") with the shared secret.
    const std::string signature = post.headers.at("x-warden-signature");
    const int64_t t = std::stoll(signature.substr(2, signature.find(',') - 2));
    EXPECT_EQ(signature, WebhookSignature(Secret(std::string("hook-secret-3a1")), t, post.body));
    EXPECT_EQ(post.body.find("planted-budget-prompt-3f9"), std::string::npos);
    const Json alert = post.json();
    EXPECT_EQ(alert["type"], alert["percent"] == 100 ? "budget_exhausted" : "budget_threshold");
    EXPECT_EQ(alert["key_id"], KeyId(alert["policy"] == "budget" ? key : quiet));
    EXPECT_EQ(alert["limit_usd"], "10.00");
    if (i > 0) delivered.emplace_back(alert["policy"], alert["percent"]);  // the first was answered 503
  }
  EXPECT_EQ(posts[0].body, posts[1].body);  // the retry of the same alert
  EXPECT_EQ(delivered, (std::vector<std::pair<std::string, int>>{{"budget", 50}, {"budget", 80}, {"budget", 100}, {"quiet", 90}}));
  m = Http(gw.app().admin_port(), "GET", "/metrics", "", {{"Authorization", "Bearer " + token}});
  EXPECT_NE(m.body.find("warden_alert_webhook_total{result=\"delivered\"} 4"), std::string::npos) << m.body;
  const std::string log = gw.ReadLog();
  EXPECT_EQ(log.find("SECRET-hook-path-51c"), std::string::npos) << "the webhook URL reached the log";
  EXPECT_EQ(log.find("hook-token"), std::string::npos) << "the webhook credential reached the log";
  EXPECT_EQ(log.find("hook-secret-3a1"), std::string::npos) << "the webhook secret reached the log";
  EXPECT_NE(log.find("alert_webhook_retry"), std::string::npos);
  std::vector<std::pair<std::string, int>> alerts;
  std::istringstream lines(log);
  for (std::string line; std::getline(lines, line);) {
    auto j = ParseJson(line);
    if (!j) continue;
    const std::string event = j->value("event", "");
    if (event != "budget_threshold" && event != "budget_exhausted") continue;
    alerts.emplace_back(j->value("policy", ""), j->value("percent", 0));
    EXPECT_EQ(j->value("period", ""), "day");
    EXPECT_EQ(event == "budget_exhausted", j->value("percent", 0) == 100) << line;
  }
  EXPECT_EQ(alerts, (std::vector<std::pair<std::string, int>>{{"budget", 50}, {"budget", 80}, {"budget", 100}, {"quiet", 90}}));
  EXPECT_EQ(log.find("planted-budget-prompt-3f9"), std::string::npos);
}

// Issue 20, routing by latency: a deployment whose time to first byte exceeds its max_ttfb is
// demoted behind the next one, and promoted back once a probe finds it fast again.
TEST_F(PolicyTest, ASlowDeploymentIsDemotedAndPromotedBackWhenItRecovers) {
  std::atomic<int> delay_ms{300};
  us_.set_handler([&](const FakeRequest& req, Poco::Net::HTTPServerResponse& resp) {
    std::this_thread::sleep_for(std::chrono::milliseconds(delay_ms.load()));
    FakeProvider::DefaultHandler()(req, resp);
  });
  std::string yaml = "providers:\n" + Provider("slow", us_.base_url(), "us") + Provider("fast", eu1_.base_url(), "eu") +
                     "routing: { retries_per_deployment: 0, ttfb_probe_interval: 1s }\n"
                     "models:\n  - alias: chat\n    deployments:\n"
                     "      - { provider: slow, model: m, max_ttfb: 100ms }\n      - { provider: fast, model: m }\n";
  GatewayUnderTest gw(yaml);
  auto serving = [&] {
    HttpResult r = gw.Post("/v1/chat/completions", Chat("chat"));
    EXPECT_EQ(r.status, 200) << r.body;
    return r.header("x-warden-deployment");
  };
  EXPECT_EQ(serving(), "slow/m");  // first in priority; answers in 300 ms, over its 100 ms
  EXPECT_EQ(serving(), "fast/m");  // demoted
  EXPECT_EQ(serving(), "fast/m");
  delay_ms = 0;                    // it recovers, unseen while demoted...
  EXPECT_EQ(serving(), "fast/m");
  std::this_thread::sleep_for(std::chrono::milliseconds(1100));
  EXPECT_EQ(serving(), "slow/m");  // ...until the probe interval passes: probed, fast, promoted
  EXPECT_EQ(serving(), "slow/m");
  EXPECT_EQ(us_.requests().size(), 3u);
}

// Issue 20, routing rules: the rule and the deployment chosen are in the answer's headers and
// the audit record; the policy bounds the rule's target.
TEST_F(PolicyTest, RoutingRulesNameTheirChoiceAndStayInsideThePolicy) {
  std::string yaml = "providers:\n" + Provider("openai-us", us_.base_url(), "us") +
                     Provider("mistral-eu", eu1_.base_url(), "eu") +
                     "models:\n"
                     "  - alias: big\n    deployments: [ { provider: openai-us, model: gpt-big }, { provider: mistral-eu, model: large } ]\n"
                     "  - alias: auto\n    deployments: [ { provider: mistral-eu, model: small } ]\n"
                     "    rules:\n      - { name: agents, use: big, when: { tools: true } }\n";
  GatewayUnderTest gw(yaml, "", "", {{"eu-only", kEuOnly}, {"no-big", "models: [auto]\n"}});
  Json with_tools = Chat("auto");
  with_tools["tools"] = Json::array({Json{{"type", "function"}, {"function", {{"name", "f"}, {"parameters", Json::object()}}}}});
  HttpResult r = gw.Post("/v1/chat/completions", with_tools);
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(r.header("x-warden-route-rule"), "agents");
  EXPECT_EQ(r.header("x-warden-deployment"), "openai-us/gpt-big");
  HttpResult plain = gw.Post("/v1/chat/completions", Chat("auto"));
  EXPECT_EQ(plain.header("x-warden-route-rule"), "");
  EXPECT_EQ(plain.header("x-warden-deployment"), "mistral-eu/small");
  // EU only: the rule's target keeps its EU deployment.
  EXPECT_EQ(gw.PostAs(gw.CreateKey("eu-only"), "/v1/chat/completions", with_tools).header("x-warden-deployment"),
            "mistral-eu/large");
  // `big` not allowed: the rule is passed over.
  HttpResult bounded = gw.PostAs(gw.CreateKey("no-big"), "/v1/chat/completions", with_tools);
  EXPECT_EQ(bounded.header("x-warden-route-rule"), "");
  EXPECT_EQ(bounded.header("x-warden-deployment"), "mistral-eu/small");
  bool audited = false;
  for (const Json& rec : AuditRecords(gw))
    audited = audited || (rec["type"] == "intent" && rec["meta"].value("route_rule", "") == "agents");
  EXPECT_TRUE(audited);
}

TEST_F(PolicyTest, BudgetStopsSpendingAtTheLimit) {
  // $1 per input token and $1 per output token at the US deployment; the fake reports 5 + 2.
  std::string yaml = "providers:\n" +
                     Provider("openai-us", us_.base_url(), "us",
                              "    price: { input_per_million: 1000000, output_per_million: 1000000 }\n") +
                     "models:\n  - alias: chat\n    deployments:\n      - { provider: openai-us, model: m }\n";
  GatewayUnderTest gw(yaml, "", "", {{"budget", "budgets: { usd_per_day: 10 }\n"}});
  std::string key = gw.CreateKey("budget");
  ASSERT_EQ(gw.PostAs(key, "/v1/chat/completions", Chat("chat")).status, 200);  // $7
  ASSERT_EQ(gw.PostAs(key, "/v1/chat/completions", Chat("chat")).status, 200);  // $14: over now
  HttpResult r = gw.PostAs(key, "/v1/chat/completions", Chat("chat"));
  EXPECT_EQ(r.status, 429);
  EXPECT_EQ(r.json()["error"]["code"], "budget_exceeded");
  EXPECT_EQ(r.json()["error"]["type"], "insufficient_quota");
  EXPECT_FALSE(r.header("retry-after").empty());
  EXPECT_EQ(us_.requests().size(), 2u);
  EXPECT_NE(gw.ReadLog().find("\"cost_usd\":7"), std::string::npos);
}

TEST_F(PolicyTest, StreamUsageIsRequestedUpstreamButOnlyShownWhenAsked) {
  us_.set_handler([](const FakeRequest& r, Poco::Net::HTTPServerResponse& resp) {
    std::ostream& out = StartEventStream(resp);
    SendEvent(out, Dump(ChatChunk(r.json()["model"], "hi", true)));
    if (r.json()["stream_options"]["include_usage"] == true)
      SendEvent(out, Dump(Json{{"id", "x"}, {"object", "chat.completion.chunk"}, {"model", r.json()["model"]},
                               {"choices", Json::array()},
                               {"usage", {{"prompt_tokens", 3}, {"completion_tokens", 1}, {"total_tokens", 4}}}}));
    SendEvent(out, "[DONE]");
  });
  GatewayUnderTest gw(Yaml());
  HttpResult plain = gw.Post("/v1/chat/completions", Chat("chat", true));
  ASSERT_EQ(plain.status, 200);
  EXPECT_EQ(plain.body.find("prompt_tokens"), std::string::npos) << plain.body;
  EXPECT_EQ(us_.requests().back().json()["stream_options"]["include_usage"], true);
  Json asked = Chat("chat", true);
  asked["stream_options"] = {{"include_usage", true}};
  HttpResult with = gw.Post("/v1/chat/completions", asked);
  EXPECT_NE(with.body.find("\"prompt_tokens\":3"), std::string::npos) << with.body;
  EXPECT_NE(gw.ReadLog().find("\"prompt_tokens\":3"), std::string::npos);
}

}  // namespace
}  // namespace warden::testing
