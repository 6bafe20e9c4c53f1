// Integration: every provider kind behind the real server, the Anthropic Messages ingress in
// front of every kind, non-retryable provider answers, the final error's attempt list, and the
// circuit breaker — real HTTP against fake providers on loopback.
#include <gtest/gtest.h>

#include <map>
#include <tuple>

#include "support/fake_provider.h"
#include "support/harness.h"

namespace warden::testing {
namespace {

std::string KindYaml(const std::string& kind, const std::string& url, const std::string& extra = "") {
  return "providers:\n  - { name: up, kind: " + kind + ", base_url: \"" + url + "\", api_key: sk-up-secret-0123456789 }\n" +
         extra + "models:\n  - alias: chat\n    deployments:\n      - { provider: up, model: real-model }\n";
}

FakeHandler HandlerFor(const std::string& kind) {
  if (kind == "anthropic") return FakeProvider::AnthropicHandler();
  if (kind == "gemini") return FakeProvider::GeminiHandler();
  return FakeProvider::DefaultHandler();
}

Json Messages(bool stream) {
  Json b = {{"model", "chat"}, {"max_tokens", 64}, {"system", "Be brief."},
            {"messages", {{{"role", "user"}, {"content", "Hello!"}}}}};
  if (stream) b["stream"] = true;
  return b;
}

// Anthropic event names in order, and the concatenated text deltas.
void ReadMessagesStream(const std::string& body, std::vector<std::string>& events, std::string& text) {
  size_t pos = 0;
  while ((pos = body.find("event: ", pos)) != std::string::npos) {
    size_t end = body.find('\n', pos);
    events.push_back(body.substr(pos + 7, end - pos - 7));
    size_t data = body.find("data: ", end);
    size_t data_end = body.find('\n', data);
    auto j = ParseJson(body.substr(data + 6, data_end - data - 6));
    if (j && j->contains("delta") && (*j)["delta"].value("type", "") == "text_delta")
      text += (*j)["delta"]["text"].get<std::string>();
    pos = data_end;
  }
}

class ProvidersTest : public ::testing::TestWithParam<std::string> {};

TEST_P(ProvidersTest, OpenAIClientsAndAnthropicClientsAreServedByEveryKind) {
  const std::string kind = GetParam();
  FakeProvider fake(HandlerFor(kind));
  GatewayUnderTest gw(KindYaml(kind, fake.base_url()));

  // OpenAI chat completions, non-stream and stream.
  Json chat = {{"model", "chat"}, {"messages", {{{"role", "user"}, {"content", "Hello!"}}}}};
  HttpResult r = gw.Post("/v1/chat/completions", chat);
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(r.json()["choices"][0]["message"]["content"], "fake answer");
  EXPECT_EQ(r.json()["model"], "chat");
  EXPECT_EQ(r.json()["usage"]["prompt_tokens"], 5);
  EXPECT_EQ(r.json()["usage"]["completion_tokens"], 2);
  chat["stream"] = true;
  HttpResult s = gw.Post("/v1/chat/completions", chat);
  ASSERT_EQ(s.status, 200) << s.body;
  EXPECT_NE(s.body.find("\"content\":\"fa\""), std::string::npos) << s.body;
  EXPECT_NE(s.body.find("data: [DONE]"), std::string::npos);
  EXPECT_EQ(s.body.find("real-model"), std::string::npos);
  // The client did not ask for usage: the chunk Warden asked for is not shown.
  EXPECT_EQ(s.body.find("\"usage\""), std::string::npos) << s.body;

  // Anthropic Messages, key in x-api-key as the Anthropic SDK sends it.
  Headers h = {{"x-api-key", gw.key()}, {"anthropic-version", "2023-06-01"}, {"Content-Type", "application/json"}};
  HttpResult m = Http(gw.port(), "POST", "/v1/messages", Dump(Messages(false)), h);
  ASSERT_EQ(m.status, 200) << m.body;
  Json msg = m.json();
  EXPECT_EQ(msg["type"], "message");
  EXPECT_EQ(msg["model"], "chat");
  EXPECT_EQ(msg["content"][0]["text"], "fake answer");
  EXPECT_EQ(msg["stop_reason"], "end_turn");
  EXPECT_EQ(msg["usage"]["input_tokens"], 5);
  EXPECT_EQ(msg["usage"]["output_tokens"], 2);
  HttpResult ms = Http(gw.port(), "POST", "/v1/messages", Dump(Messages(true)), h);
  ASSERT_EQ(ms.status, 200) << ms.body;
  std::vector<std::string> events;
  std::string text;
  ReadMessagesStream(ms.body, events, text);
  EXPECT_EQ(text, "fake answer");
  ASSERT_GE(events.size(), 5u);
  EXPECT_EQ(events.front(), "message_start");
  EXPECT_EQ(events[1], "content_block_start");
  EXPECT_EQ(events[events.size() - 3], "content_block_stop");
  EXPECT_EQ(events[events.size() - 2], "message_delta");
  EXPECT_EQ(events.back(), "message_stop");
  EXPECT_NE(ms.body.find("\"output_tokens\":2"), std::string::npos);

  // What the provider received: its own wire format, the deployment's model, its own key.
  auto reqs = fake.requests();
  ASSERT_EQ(reqs.size(), 4u);
  for (const auto& q : reqs) {
    EXPECT_EQ(q.body.find("\"chat\""), std::string::npos) << "the alias leaked upstream";
    EXPECT_EQ(q.body.find(gw.key()), std::string::npos);
    if (kind == "anthropic") {
      EXPECT_EQ(q.path, "/v1/messages");
      EXPECT_EQ(q.headers.at("x-api-key"), "sk-up-secret-0123456789");
      EXPECT_EQ(q.json()["model"], "real-model");
    } else if (kind == "gemini") {
      EXPECT_TRUE(q.path.starts_with("/v1/models/real-model:")) << q.path;
      EXPECT_EQ(q.headers.at("x-goog-api-key"), "sk-up-secret-0123456789");
    } else if (kind == "azure") {
      EXPECT_TRUE(q.path.starts_with("/v1/openai/deployments/real-model/chat/completions?api-version=")) << q.path;
      EXPECT_EQ(q.headers.at("api-key"), "sk-up-secret-0123456789");
      EXPECT_EQ(q.headers.count("authorization"), 0u);
    } else {
      EXPECT_EQ(q.headers.at("authorization"), "Bearer sk-up-secret-0123456789");
    }
  }
  // Usage reached the access log for all four requests (spend and limits read the same figures).
  std::string log = gw.ReadLog();
  size_t counted = 0;
  for (size_t p = 0; (p = log.find("\"prompt_tokens\":5", p)) != std::string::npos; ++p) ++counted;
  EXPECT_EQ(counted, 4u) << log;
}

INSTANTIATE_TEST_SUITE_P(Kinds, ProvidersTest, ::testing::Values("openai", "azure", "anthropic", "gemini"));

TEST(MessagesIngressTest, ErrorsAreAnthropicShaped) {
  FakeProvider fake;
  GatewayUnderTest gw(OneProviderYaml(fake.base_url(), "chat"));
  HttpResult noauth = Http(gw.port(), "POST", "/v1/messages", Dump(Messages(false)), {{"Content-Type", "application/json"}});
  EXPECT_EQ(noauth.status, 401);
  EXPECT_EQ(noauth.json()["type"], "error");
  EXPECT_EQ(noauth.json()["error"]["type"], "authentication_error");
  Json bad = Messages(false);
  bad.erase("max_tokens");
  HttpResult r = Http(gw.port(), "POST", "/v1/messages", Dump(bad), GatewayUnderTest::AuthWith(gw.key()));
  EXPECT_EQ(r.status, 400);
  EXPECT_EQ(r.json()["error"]["type"], "invalid_request_error");
  EXPECT_NE(r.json()["error"]["message"].get<std::string>().find("max_tokens"), std::string::npos);
  Json override_attempt = Messages(false);
  override_attempt["provider"] = "somewhere";
  EXPECT_EQ(Http(gw.port(), "POST", "/v1/messages", Dump(override_attempt), GatewayUnderTest::AuthWith(gw.key())).status, 403);
  // Wrong types anywhere in the body are the client's problem (4xx) or ignored, never a 500.
  for (const char* body : {R"({"model":"chat","max_tokens":8,"messages":[{"role":"user","content":[{"type":"text","text":5}]}]})",
                           R"({"model":"chat","max_tokens":8,"messages":[{"role":7,"content":"x"}]})",
                           R"({"model":"chat","max_tokens":8,"messages":[{"role":"user","content":[{"type":"image","source":3}]}]})",
                           R"({"model":"chat","max_tokens":8,"system":{"a":1},"messages":[{"role":"user","content":"x"}]})",
                           R"({"model":"chat","max_tokens":8,"tools":[{"name":1,"input_schema":2}],"tool_choice":{"type":9},"messages":[{"role":"user","content":"x"}]})",
                           R"({"model":["chat"],"max_tokens":"8","messages":{}})"}) {
    HttpResult w = Http(gw.port(), "POST", "/v1/messages", body, GatewayUnderTest::AuthWith(gw.key()));
    EXPECT_LT(w.status, 500) << body << " → " << w.body;
  }
  // A stream cut after content ends with an Anthropic error event, never message_stop.
  fake.set_handler([](const FakeRequest&, Poco::Net::HTTPServerResponse& resp) {
    resp.setKeepAlive(false);
    std::ostream& out = StartEventStream(resp);
    SendEvent(out, Dump(ChatChunk("m", "partial")));
  });
  HttpResult cut = Http(gw.port(), "POST", "/v1/messages", Dump(Messages(true)), GatewayUnderTest::AuthWith(gw.key()));
  EXPECT_NE(cut.body.find("event: error"), std::string::npos) << cut.body;
  EXPECT_NE(cut.body.find("partial"), std::string::npos);
  EXPECT_EQ(cut.body.find("message_stop"), std::string::npos);
}

std::string TwoDeployments(const std::string& a, const std::string& b, const std::string& routing) {
  return "providers:\n  - { name: a, kind: openai, base_url: \"" + a + "\" }\n"
         "  - { name: b, kind: openai, base_url: \"" + b + "\" }\n" + routing +
         "models:\n  - alias: chat\n    deployments:\n      - { provider: a, model: ma }\n      - { provider: b, model: mb }\n";
}

Json Chat() { return {{"model", "chat"}, {"messages", {{{"role", "user"}, {"content", "Hello!"}}}}}; }

TEST(FailoverPolicyTest, AProviderRejectingTheRequestIsAnsweredAsIsWithoutFailover) {
  FakeProvider a([](const FakeRequest&, Poco::Net::HTTPServerResponse& resp) {
    ReplyJson(resp, 400, {{"error", {{"message", "messages too long"}, {"type", "invalid_request_error"}, {"code", "context_length_exceeded"}}}});
  });
  FakeProvider b;
  GatewayUnderTest gw(TwoDeployments(a.base_url(), b.base_url(), ""));
  for (int status : {400, 404, 422}) {
    a.set_handler([status](const FakeRequest&, Poco::Net::HTTPServerResponse& resp) {
      ReplyJson(resp, status, {{"error", {{"message", "no"}, {"type", "invalid_request_error"}}}});
    });
    HttpResult r = gw.Post("/v1/chat/completions", Chat());
    EXPECT_EQ(r.status, status);
    EXPECT_EQ(r.header("x-warden-attempts"), "1");
  }
  EXPECT_EQ(a.requests().size(), 3u);
  EXPECT_EQ(b.requests().size(), 0u);
}

TEST(FailoverPolicyTest, TheFinalErrorListsEveryAttempt) {
  FakeProvider a([](const FakeRequest&, Poco::Net::HTTPServerResponse& resp) { ReplyJson(resp, 502, {{"error", "bad gateway"}}); });
  std::string refused = "http://127.0.0.1:" + std::to_string(UnusedPort()) + "/v1";
  GatewayUnderTest gw(TwoDeployments(a.base_url(), refused,
                                     "routing: { retries_per_deployment: 1, backoff_initial: 1ms, backoff_max: 2ms, circuit_breaker: { failures: 0 } }\n"));
  HttpResult r = gw.Post("/v1/chat/completions", Chat());
  ASSERT_EQ(r.status, 503);
  EXPECT_EQ(r.json()["error"]["code"], "all_deployments_failed");
  EXPECT_EQ(r.header("x-warden-attempts"), "4");
  std::string msg = r.json()["error"]["message"];
  EXPECT_NE(msg.find("a/ma (HTTP 502, upstream_error); a/ma (HTTP 502, upstream_error); b/mb (no response, upstream_unreachable); b/mb"), std::string::npos) << msg;
  EXPECT_EQ(a.requests().size(), 2u);
}

TEST(FailoverPolicyTest, TheCircuitOpensAfterRepeatedFailuresAndTheDeploymentIsSkipped) {
  FakeProvider a([](const FakeRequest&, Poco::Net::HTTPServerResponse& resp) { ReplyJson(resp, 503, {{"error", "down"}}); });
  FakeProvider b;
  GatewayUnderTest gw(TwoDeployments(a.base_url(), b.base_url(),
                                     "routing: { retries_per_deployment: 0, circuit_breaker: { failures: 2, cooldown: 60m } }\n"));
  for (int i = 0; i < 5; ++i) {
    HttpResult r = gw.Post("/v1/chat/completions", Chat());
    ASSERT_EQ(r.status, 200) << r.body;
    EXPECT_EQ(r.header("x-warden-deployment"), "b/mb");
    EXPECT_EQ(r.header("x-warden-attempts"), i < 2 ? "2" : "1") << i;
  }
  EXPECT_EQ(a.requests().size(), 2u) << "an open circuit must not be sent to";
  EXPECT_EQ(b.requests().size(), 5u);
  // With the backup down too, the backup's error comes back, naming the resting deployment.
  b.set_handler([](const FakeRequest&, Poco::Net::HTTPServerResponse& resp) { ReplyJson(resp, 500, {{"error", "x"}}); });
  HttpResult r = gw.Post("/v1/chat/completions", Chat());
  EXPECT_EQ(r.status, 502);
  EXPECT_NE(r.json()["error"]["message"].get<std::string>().find("a/ma (circuit open)"), std::string::npos) << r.body;
  EXPECT_EQ(a.requests().size(), 2u);
}

TEST(FailoverPolicyTest, ProviderRetryAfterWithinTheCapIsHonouredOnTheSameDeployment) {
  std::atomic<int> calls{0};
  FakeProvider a([&calls](const FakeRequest& r, Poco::Net::HTTPServerResponse& resp) {
    if (calls++ == 0) {
      ReplyJson(resp, 429, {{"error", {{"message", "slow down"}}}}, {{"Retry-After", "0"}});
      return;
    }
    FakeProvider::DefaultHandler()(r, resp);
  });
  FakeProvider b;
  GatewayUnderTest gw(TwoDeployments(a.base_url(), b.base_url(), "routing: { retries_per_deployment: 1 }\n"));
  HttpResult r = gw.Post("/v1/chat/completions", Chat());
  ASSERT_EQ(r.status, 200);
  EXPECT_EQ(r.header("x-warden-deployment"), "a/ma");
  EXPECT_EQ(r.header("x-warden-attempts"), "2");
  EXPECT_EQ(b.requests().size(), 0u);
}

}  // namespace
}  // namespace warden::testing

namespace warden::testing {
namespace {

TEST(UsageAccountingTest, TokensAndCostPerProviderKindStreamAndNotFromWhatTheProvidersReported) {
  FakeProvider openai, anthropic(FakeProvider::AnthropicHandler()), gemini(FakeProvider::GeminiHandler());
  const std::string token = "admin-token-usage-0123456789";
  auto provider = [](const std::string& name, const std::string& kind, const std::string& url, int in, int out) {
    return "  - { name: " + name + ", kind: " + kind + ", base_url: \"" + url + "\", price: { input_per_million: " +
           std::to_string(in) + ", output_per_million: " + std::to_string(out) + " } }\n";
  };
  // Dollars per million tokens: a token costs that many micro-dollars (10^6 pico-dollars).
  std::string yaml = "providers:\n" + provider("oa", "openai", openai.base_url(), 1, 2) +
                     provider("an", "anthropic", anthropic.base_url(), 3, 4) +
                     provider("ge", "gemini", gemini.base_url(), 5, 6) +
                     "models:\n"
                     "  - { alias: m-oa, deployments: [ { provider: oa, model: x } ] }\n"
                     "  - { alias: m-an, deployments: [ { provider: an, model: y } ] }\n"
                     "  - { alias: m-ge, deployments: [ { provider: ge, model: z } ] }\n"
                     "admin:\n  listen: 127.0.0.1:0\n  token: " + token + "\n";
  GatewayUnderTest gw(yaml);
  for (const char* alias : {"m-oa", "m-an", "m-ge"}) {
    for (bool stream : {false, true}) {
      Json body = {{"model", alias}, {"messages", {{{"role", "user"}, {"content", "Hello!"}}}}};
      if (stream) body["stream"] = true;
      ASSERT_EQ(gw.Post("/v1/chat/completions", body).status, 200) << alias;
    }
  }
  // A stream cut after content: the provider billed, reported nothing; Warden estimates.
  openai.set_handler([](const FakeRequest&, Poco::Net::HTTPServerResponse& resp) {
    resp.setKeepAlive(false);
    std::ostream& out = StartEventStream(resp);
    SendEvent(out, Dump(ChatChunk("x", "twelve chars")));
  });
  gw.Post("/v1/chat/completions", {{"model", "m-oa"}, {"stream", true}, {"messages", {{{"role", "user"}, {"content", "Hello!"}}}}});

  Headers h = {{"Authorization", "Bearer " + token}};
  HttpResult r = Http(gw.app().admin_port(), "GET", "/admin/usage?by=provider", "", h);
  ASSERT_EQ(r.status, 200) << r.body;
  std::map<std::string, Json> rows;
  const Json usage = r.json();
  for (const Json& row : usage["data"]) rows[row["provider"].get<std::string>()] = row;
  ASSERT_EQ(rows.size(), 3u) << r.body;
  // Every fake reports 5 prompt and 2 completion tokens per answer (the stream ones included).
  for (const auto& [name, in, out] : {std::tuple{"an", 3, 4}, std::tuple{"ge", 5, 6}}) {
    const Json& row = rows[name];
    EXPECT_EQ(row["requests"], 2) << name;
    EXPECT_EQ(row["prompt_tokens"], 10) << name;
    EXPECT_EQ(row["completion_tokens"], 4) << name;
    EXPECT_EQ(row["cost_picos"], (10 * in + 4 * out) * 1'000'000) << name;
    EXPECT_EQ(row["cost_usd"], (10 * in + 4 * out) / 1e6) << name;
    EXPECT_EQ(row["estimated_requests"], 0) << name;
  }
  const Json& oa = rows["oa"];
  EXPECT_EQ(oa["requests"], 3);
  EXPECT_EQ(oa["estimated_requests"], 1);
  // 5 + 5 reported, plus Warden's estimate of the cut one's prompt ("user" + "Hello!": 10 bytes,
  // 3 tokens); completion 2 + 2 + the relayed "twelve chars" (12 bytes, 3 tokens).
  EXPECT_EQ(oa["prompt_tokens"], 13);
  EXPECT_EQ(oa["completion_tokens"], 7);
  EXPECT_EQ(oa["cost_picos"], (13 * 1 + 7 * 2) * 1'000'000);

  HttpResult by_model = Http(gw.app().admin_port(), "GET", "/admin/usage?by=model&since=2000-01-01", "", h);
  ASSERT_EQ(by_model.status, 200);
  EXPECT_EQ(by_model.json()["data"].size(), 3u);
  EXPECT_EQ(Http(gw.app().admin_port(), "GET", "/admin/usage?by=colour", "", h).status, 400);
  EXPECT_EQ(Http(gw.app().admin_port(), "GET", "/admin/usage", "", {}).status, 401);
}

}  // namespace
}  // namespace warden::testing
