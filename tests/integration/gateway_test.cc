// Integration: the real server (App on port 0) against a fake OpenAI-compatible provider on
// loopback, over real HTTP, including injected faults.
#include <gtest/gtest.h>

#include <thread>

#include "support/fake_provider.h"
#include "support/harness.h"

namespace warden::testing {
namespace {

Json Chat(const std::string& model, bool stream = false) {
  Json body = {{"model", model}, {"messages", {{{"role", "user"}, {"content", "Hello!"}}}}};
  if (stream) body["stream"] = true;
  return body;
}

class GatewayTest : public ::testing::Test {
 protected:
  FakeProvider fake_;
};

TEST_F(GatewayTest, NonStreamRewritesAliasBothWaysAndSendsProviderKeyOnlyUpstream) {
  GatewayUnderTest gw(OneProviderYaml(fake_.base_url(), "chat-alias", "fake-model-1",
                                      "    api_key: sk-test-provider-key-123456\n"));
  HttpResult r = gw.Post("/v1/chat/completions", Chat("chat-alias"));
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(r.json()["model"], "chat-alias");
  EXPECT_EQ(r.json()["choices"][0]["message"]["content"], "fake answer");
  EXPECT_EQ(r.json()["usage"]["total_tokens"], 7);
  EXPECT_EQ(r.header("x-request-id").rfind("req_", 0), 0u);
  EXPECT_EQ(r.header("x-upstream-request-id"), "fake-req-1");
  EXPECT_EQ(r.body.find("sk-test-provider-key"), std::string::npos);

  auto reqs = fake_.requests();
  ASSERT_EQ(reqs.size(), 1u);
  EXPECT_EQ(reqs[0].path, "/v1/chat/completions");
  EXPECT_EQ(reqs[0].json()["model"], "fake-model-1");
  EXPECT_EQ(reqs[0].json()["messages"][0]["content"], "Hello!");
  EXPECT_EQ(reqs[0].headers["authorization"], "Bearer sk-test-provider-key-123456");
  // The client's key is never forwarded.
  EXPECT_EQ(reqs[0].body.find(gw.key()), std::string::npos);
  for (const auto& [k, v] : reqs[0].headers) EXPECT_EQ(v.find(gw.key()), std::string::npos) << k;
}

TEST_F(GatewayTest, StreamRelaysFirstChunkBeforeProviderSendsTheLast) {
  Latch client_got_first;
  std::atomic<bool> released_by_client{false};
  fake_.set_handler([&](const FakeRequest& r, Poco::Net::HTTPServerResponse& resp) {
    std::string model = r.json()["model"];
    std::ostream& out = StartEventStream(resp);
    SendEvent(out, Dump(ChatChunk(model, "first")));
    // Hold the rest back until the client has seen the first chunk through the gateway.
    released_by_client = client_got_first.Wait(10000);
    SendEvent(out, Dump(ChatChunk(model, "second", true)));
    SendEvent(out, "[DONE]");
  });
  GatewayUnderTest gw(OneProviderYaml(fake_.base_url()));
  StreamingCall call(gw.port(), "/v1/chat/completions", Dump(Chat("chat-alias", true)), gw.Auth());
  ASSERT_EQ(call.status(), 200);
  std::string first = call.ReadUntil("first");
  ASSERT_NE(first.find("\"first\""), std::string::npos);
  EXPECT_EQ(first.find("second"), std::string::npos);
  client_got_first.Open();
  std::string all = call.ReadAll();
  EXPECT_TRUE(released_by_client) << "the gateway held the first chunk back until the stream ended";
  EXPECT_NE(all.find("\"second\""), std::string::npos);
  EXPECT_NE(all.find("data: [DONE]\n\n"), std::string::npos);
  EXPECT_NE(all.find("\"model\":\"chat-alias\""), std::string::npos);
  EXPECT_EQ(all.find("fake-model-1"), std::string::npos);
}

TEST_F(GatewayTest, LedgersReachTheStoreByTheirTimerWithoutFurtherTraffic) {
  // The ledgers count in memory; their flusher writes them within about a second whatever the
  // traffic: after one request and nothing else, usage and spend appear in the store.
  GatewayUnderTest gw(OneProviderYaml(fake_.base_url(), "chat-alias", "fake-model-1",
                                      "    price: { input_per_million: 1000, output_per_million: 2000 }\n"));
  ASSERT_EQ(gw.Post("/v1/chat/completions", Chat("chat-alias")).status, 200);
  auto stored = [&](const std::string& prefix) {
    std::vector<std::string> values;
    EXPECT_TRUE(gw.app().store().Scan(prefix, [&](std::string_view, std::string_view v) {
      values.emplace_back(v);
      return true;
    }).ok());
    return values;
  };
  std::vector<std::string> usage, spend;
  for (int i = 0; i < 100 && (usage.empty() || spend.empty()); ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
    usage = stored("usage/");
    spend = stored("spend/");
  }
  ASSERT_EQ(usage.size(), 1u) << "usage did not reach the store by the flusher";
  auto cell = ParseJson(usage[0]);
  ASSERT_TRUE(cell.has_value());
  EXPECT_EQ((*cell)["requests"], 1);
  EXPECT_EQ((*cell)["prompt"], 5);      // the fake reports 5 prompt and 2 completion tokens
  EXPECT_EQ((*cell)["completion"], 2);
  // $1000 and $2000 per million: 5 × 0.001 + 2 × 0.002 = $0.009, stored for the day and the
  // month, in pico-dollars.
  ASSERT_EQ(spend.size(), 2u);
  for (const auto& v : spend) EXPECT_EQ(v, "p9000000000");
}

TEST_F(GatewayTest, StreamResponseHeadersAreSse) {
  GatewayUnderTest gw(OneProviderYaml(fake_.base_url()));
  HttpResult r = gw.Post("/v1/chat/completions", Chat("chat-alias", true));
  ASSERT_EQ(r.status, 200);
  EXPECT_EQ(r.header("content-type"), "text/event-stream");
  EXPECT_EQ(r.header("cache-control"), "no-cache");
  EXPECT_EQ(r.header("transfer-encoding"), "chunked");
  EXPECT_NE(r.body.find("\"content\":\"fa\""), std::string::npos);
  EXPECT_TRUE(r.body.ends_with("data: [DONE]\n\n")) << r.body;
}

TEST_F(GatewayTest, Embeddings) {
  GatewayUnderTest gw(OneProviderYaml(fake_.base_url(), "embed-alias", "fake-embed-1"));
  HttpResult r = gw.Post("/v1/embeddings", {{"model", "embed-alias"}, {"input", {"a", "b"}}});
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(r.json()["model"], "embed-alias");
  EXPECT_EQ(r.json()["data"].size(), 2u);
  EXPECT_EQ(fake_.requests().at(0).path, "/v1/embeddings");
  EXPECT_EQ(fake_.requests().at(0).json()["model"], "fake-embed-1");
}

TEST_F(GatewayTest, ModelsListAndRetrieve) {
  GatewayUnderTest gw(OneProviderYaml(fake_.base_url(), "chat-alias"));
  HttpResult list = Http(gw.port(), "GET", "/v1/models", "", gw.Auth(""));
  ASSERT_EQ(list.status, 200);
  EXPECT_EQ(list.json()["object"], "list");
  ASSERT_EQ(list.json()["data"].size(), 1u);
  EXPECT_EQ(list.json()["data"][0]["id"], "chat-alias");
  EXPECT_EQ(list.json()["data"][0]["object"], "model");
  HttpResult one = Http(gw.port(), "GET", "/v1/models/chat-alias", "", gw.Auth(""));
  EXPECT_EQ(one.status, 200);
  EXPECT_EQ(one.json()["id"], "chat-alias");
  HttpResult missing = Http(gw.port(), "GET", "/v1/models/nope", "", gw.Auth(""));
  EXPECT_EQ(missing.status, 404);
  EXPECT_EQ(missing.json()["error"]["code"], "model_not_found");
  EXPECT_EQ(fake_.requests().size(), 0u);  // answered from config
}

TEST_F(GatewayTest, UnauthorizedRequestsGetOpenAIShaped401) {
  GatewayUnderTest gw(OneProviderYaml(fake_.base_url()));
  std::string body = Dump(Chat("chat-alias"));
  HttpResult none = Http(gw.port(), "POST", "/v1/chat/completions", body, {{"Content-Type", "application/json"}});
  EXPECT_EQ(none.status, 401);
  EXPECT_EQ(none.json()["error"]["code"], "missing_api_key");
  EXPECT_EQ(none.json()["error"]["type"], "invalid_request_error");

  std::string wrong = gw.key();
  wrong.back() = wrong.back() == 'A' ? 'B' : 'A';
  HttpResult bad = Http(gw.port(), "POST", "/v1/chat/completions", body,
                        {{"Content-Type", "application/json"}, {"Authorization", "Bearer " + wrong}});
  EXPECT_EQ(bad.status, 401);
  EXPECT_EQ(bad.json()["error"]["code"], "invalid_api_key");
  EXPECT_EQ(bad.body.find(wrong), std::string::npos);  // the presented key is not echoed

  ASSERT_TRUE(gw.app().keys().Revoke("test").ok());
  HttpResult revoked = gw.Post("/v1/chat/completions", Chat("chat-alias"));
  EXPECT_EQ(revoked.status, 401);
  EXPECT_EQ(revoked.json()["error"]["code"], "revoked_api_key");
  EXPECT_EQ(fake_.requests().size(), 0u);
}

TEST_F(GatewayTest, UnknownModelAndUnknownUrlAre404) {
  GatewayUnderTest gw(OneProviderYaml(fake_.base_url()));
  HttpResult r = gw.Post("/v1/chat/completions", Chat("no-such-model"));
  EXPECT_EQ(r.status, 404);
  EXPECT_EQ(r.json()["error"]["code"], "model_not_found");
  EXPECT_EQ(r.json()["error"]["param"], "model");
  HttpResult url = Http(gw.port(), "GET", "/v1/nothing-here", "", gw.Auth(""));
  EXPECT_EQ(url.status, 404);
  EXPECT_EQ(url.json()["error"]["code"], "unknown_url");
  EXPECT_EQ(fake_.requests().size(), 0u);
}

TEST_F(GatewayTest, BodyOverLimitIs413AndServerKeepsServing) {
  GatewayUnderTest gw(OneProviderYaml(fake_.base_url()), "  max_body_size: 1KiB\n");
  Json big = Chat("chat-alias");
  big["messages"][0]["content"] = std::string(4096, 'x');
  HttpResult r = gw.Post("/v1/chat/completions", big);
  EXPECT_EQ(r.status, 413);
  EXPECT_EQ(r.json()["error"]["code"], "request_too_large");
  EXPECT_EQ(gw.Post("/v1/chat/completions", Chat("chat-alias")).status, 200);
  EXPECT_EQ(fake_.requests().size(), 1u);
}

TEST_F(GatewayTest, MalformedJsonAndSchemaErrorsAre400) {
  GatewayUnderTest gw(OneProviderYaml(fake_.base_url()));
  HttpResult r = Http(gw.port(), "POST", "/v1/chat/completions", "{\"model\": \"chat-alias\",", gw.Auth());
  EXPECT_EQ(r.status, 400);
  EXPECT_EQ(r.json()["error"]["code"], "invalid_json");
  HttpResult schema = gw.Post("/v1/chat/completions", {{"model", "chat-alias"}, {"messages", "hi"}});
  EXPECT_EQ(schema.status, 400);
  EXPECT_EQ(schema.json()["error"]["param"], "messages");
  HttpResult no_model = gw.Post("/v1/embeddings", {{"input", "x"}});
  EXPECT_EQ(no_model.status, 400);
  EXPECT_EQ(no_model.json()["error"]["param"], "model");
  EXPECT_EQ(fake_.requests().size(), 0u);
  EXPECT_EQ(gw.Post("/v1/chat/completions", Chat("chat-alias")).status, 200);
}

// 50,000 nested arrays in a 200 KB body used to overflow the stack (SIGSEGV) of any process a
// key holder could reach. Refused as json_too_deep before parsing, wherever they are.
TEST_F(GatewayTest, DeeplyNestedJsonIsRefusedAndServerKeepsServing) {
  GatewayUnderTest gw(OneProviderYaml(fake_.base_url()));
  const std::string deep = std::string(60000, '[') + std::string(60000, ']');
  const std::string chat_prefix = R"({"model":"chat-alias","messages":[{"role":"user","content":)";
  for (const std::string& body : {chat_prefix + deep + "}]}",
                                  R"({"model":"chat-alias","messages":[],"extra":)" + deep + "}", deep}) {
    HttpResult r = Http(gw.port(), "POST", "/v1/chat/completions", body, gw.Auth());
    EXPECT_EQ(r.status, 400) << r.body;
    EXPECT_EQ(r.json()["error"]["code"], "json_too_deep");
  }
  // Brackets inside a string are text, not nesting.
  HttpResult text = Http(gw.port(), "POST", "/v1/chat/completions",
                         chat_prefix + "\"" + deep + "\"}]}", gw.Auth());
  EXPECT_EQ(text.status, 200) << text.body;
  HttpResult messages = Http(gw.port(), "POST", "/v1/messages",
                             R"({"model":"chat-alias","max_tokens":5,"messages":)" + deep + "}", gw.Auth());
  EXPECT_EQ(messages.status, 400);
  EXPECT_EQ(messages.json()["error"]["type"], "invalid_request_error");
  // The deepest accepted nesting still works (the limit is exact, not approximate).
  const int inner = kMaxJsonDepth - 1;  // the body object itself is one level
  HttpResult at_limit = Http(gw.port(), "POST", "/v1/chat/completions",
                             R"({"model":"chat-alias","messages":[{"role":"user","content":"x"}],"y":)" +
                                 std::string(inner, '[') + std::string(inner, ']') + "}",
                             gw.Auth());
  EXPECT_EQ(at_limit.status, 200) << at_limit.body;
  EXPECT_EQ(fake_.requests().size(), 2u);  // the two accepted ones only
  EXPECT_EQ(gw.Post("/v1/chat/completions", Chat("chat-alias")).status, 200);
}

// A provider (or whatever answers at its address) gets no more trust than a client: a deeply
// nested answer or stream chunk is a malformed answer (502), not a crash.
TEST_F(GatewayTest, DeeplyNestedProviderAnswerIsMalformedNotACrash) {
  GatewayUnderTest gw(OneProviderYaml(fake_.base_url()));
  const std::string deep = std::string(60000, '[') + std::string(60000, ']');
  fake_.set_handler([&](const FakeRequest& req, Poco::Net::HTTPServerResponse& resp) {
    if (req.json().value("stream", false)) {
      std::ostream& out = StartEventStream(resp);
      SendEvent(out, R"({"id":"c","object":"chat.completion.chunk","choices":[{"index":0,"delta":{"content":"x"},"x":)" + deep + "}]}");
      return;
    }
    resp.setStatus(Poco::Net::HTTPResponse::HTTP_OK);
    resp.setContentType("application/json");
    resp.send() << R"({"id":"c","object":"chat.completion","choices":)" << deep << "}";
  });
  HttpResult r = gw.Post("/v1/chat/completions", Chat("chat-alias"));
  EXPECT_EQ(r.status, 502) << r.body;
  HttpResult s = gw.Post("/v1/chat/completions", Chat("chat-alias", true));
  EXPECT_NE(s.body.find("error"), std::string::npos) << s.body;
  fake_.set_handler(FakeProvider::DefaultHandler());
  EXPECT_EQ(gw.Post("/v1/chat/completions", Chat("chat-alias")).status, 200);
}

// Issue 16: with one deployment and no retries, a failure answered without the attempt list and
// showed the provider's address ("could not connect to the provider at 127.0.0.1:35341").
TEST_F(GatewayTest, ASingleFailedAttemptIsListedAndNoProviderAddressIsShown) {
  const uint16_t dead = UnusedPort();
  const std::string once = "routing:\n  max_attempts: 1\n";
  GatewayUnderTest refused(OneProviderYaml("http://127.0.0.1:" + std::to_string(dead) + "/v1") + once);
  HttpResult r = refused.Post("/v1/chat/completions", Chat("chat-alias"));
  EXPECT_EQ(r.status, 502) << r.body;
  const std::string message = r.json()["error"]["message"];
  EXPECT_NE(message.find("Attempts: fake/fake-model-1 (no response, upstream_unreachable)"), std::string::npos)
      << message;
  EXPECT_EQ(message.find("127.0.0.1"), std::string::npos) << message;
  EXPECT_EQ(message.find(std::to_string(dead)), std::string::npos) << message;
  EXPECT_EQ(r.header("x-warden-attempts"), "1");

  // A provider's own error text is passed on only after its address and URLs are scrubbed.
  GatewayUnderTest gw(OneProviderYaml(fake_.base_url()) + once);
  const std::string where = "127.0.0.1:" + std::to_string(fake_.port());
  fake_.set_handler([&](const FakeRequest&, Poco::Net::HTTPServerResponse& resp) {
    ReplyJson(resp, 500, Json{{"error", {{"message", "backend " + where + " failed, see " + fake_.base_url() +
                                                         "/status?sig=abc123 or http://10.1.2.3:8000/x"}}}});
  });
  HttpResult e = gw.Post("/v1/chat/completions", Chat("chat-alias"));
  EXPECT_EQ(e.status, 502) << e.body;
  const std::string text = e.json()["error"]["message"];
  for (const std::string& leak : {where, std::string("sig=abc123"), std::string("10.1.2.3"), std::string("127.0.0.1")})
    EXPECT_EQ(text.find(leak), std::string::npos) << leak << " in: " << text;
  EXPECT_NE(text.find("backend [provider] failed, see [url]"), std::string::npos) << text;
  EXPECT_NE(text.find("Attempts: fake/fake-model-1 (HTTP 500"), std::string::npos) << text;
}

TEST_F(GatewayTest, WrongMediaTypeAndMethod) {
  GatewayUnderTest gw(OneProviderYaml(fake_.base_url()));
  HttpResult r = Http(gw.port(), "POST", "/v1/chat/completions", Dump(Chat("chat-alias")),
                      gw.Auth("text/plain"));
  EXPECT_EQ(r.status, 415);
  EXPECT_EQ(r.json()["error"]["code"], "unsupported_media_type");
  HttpResult m = Http(gw.port(), "GET", "/v1/chat/completions", "", gw.Auth(""));
  EXPECT_EQ(m.status, 405);
  EXPECT_EQ(m.header("allow"), "POST");
  EXPECT_EQ(m.json()["error"]["code"], "method_not_allowed");
}

TEST_F(GatewayTest, RefusedConnectionIs502) {
  GatewayUnderTest gw(OneProviderYaml("http://127.0.0.1:" + std::to_string(UnusedPort()) + "/v1"));
  HttpResult r = gw.Post("/v1/chat/completions", Chat("chat-alias"));
  EXPECT_EQ(r.status, 502);
  EXPECT_EQ(r.json()["error"]["code"], "upstream_unreachable");
  EXPECT_EQ(r.json()["error"]["type"], "server_error");
}

TEST_F(GatewayTest, HangingProviderIs504) {
  Latch release;
  fake_.set_handler([&](const FakeRequest&, Poco::Net::HTTPServerResponse& resp) {
    release.Wait(5000);  // says nothing until the test ends
    ReplyJson(resp, 200, Json::object());
  });
  GatewayUnderTest gw(OneProviderYaml(fake_.base_url()), "", "  first_byte_timeout: 300ms\n");
  HttpResult r = gw.Post("/v1/chat/completions", Chat("chat-alias"));
  release.Open();
  EXPECT_EQ(r.status, 504);
  EXPECT_EQ(r.json()["error"]["code"], "upstream_timeout");
}

TEST_F(GatewayTest, SlowFirstByteWithinTheTimeoutSucceeds) {
  fake_.set_handler([](const FakeRequest& r, Poco::Net::HTTPServerResponse& resp) {
    std::this_thread::sleep_for(std::chrono::milliseconds(200));  // the fault being injected
    FakeProvider::DefaultHandler()(r, resp);
  });
  GatewayUnderTest gw(OneProviderYaml(fake_.base_url()), "", "  first_byte_timeout: 5s\n");
  EXPECT_EQ(gw.Post("/v1/chat/completions", Chat("chat-alias")).status, 200);
}

TEST_F(GatewayTest, ProviderErrorsAreTranslated) {
  GatewayUnderTest gw(OneProviderYaml(fake_.base_url()));
  fake_.set_handler([](const FakeRequest&, Poco::Net::HTTPServerResponse& resp) {
    ReplyJson(resp, 503, {{"error", {{"message", "overloaded"}, {"type", "server_error"}}}});
  });
  HttpResult r5 = gw.Post("/v1/chat/completions", Chat("chat-alias"));
  EXPECT_EQ(r5.status, 502);
  EXPECT_EQ(r5.json()["error"]["code"], "upstream_error");

  fake_.set_handler([](const FakeRequest&, Poco::Net::HTTPServerResponse& resp) {
    ReplyJson(resp, 429, {{"error", {{"message", "slow down"}, {"type", "rate_limit_error"}}}},
              {{"Retry-After", "7"}});
  });
  HttpResult r429 = gw.Post("/v1/chat/completions", Chat("chat-alias"));
  EXPECT_EQ(r429.status, 429);
  EXPECT_EQ(r429.header("retry-after"), "7");
  EXPECT_EQ(r429.json()["error"]["type"], "rate_limit_error");

  fake_.set_handler([](const FakeRequest&, Poco::Net::HTTPServerResponse& resp) {
    ReplyJson(resp, 400, {{"error", {{"message", "max_tokens is too large"}, {"param", "max_tokens"}}}});
  });
  HttpResult r400 = gw.Post("/v1/chat/completions", Chat("chat-alias"));
  EXPECT_EQ(r400.status, 400);
  EXPECT_EQ(r400.json()["error"]["param"], "max_tokens");
  EXPECT_NE(r400.json()["error"]["message"].get<std::string>().find("max_tokens is too large"),
            std::string::npos);
}

TEST_F(GatewayTest, StreamCutMidWayEndsWithAnErrorEventNotACleanEnd) {
  fake_.set_handler([](const FakeRequest& r, Poco::Net::HTTPServerResponse& resp) {
    std::ostream& out = StartEventStream(resp);
    SendEvent(out, Dump(ChatChunk(r.json()["model"], "partial")));
    out << "data: {\"id\":\"chatcmpl-fake\",\"obj";  // then the connection closes
    out.flush();
  });
  GatewayUnderTest gw(OneProviderYaml(fake_.base_url()));
  HttpResult r = gw.Post("/v1/chat/completions", Chat("chat-alias", true));
  ASSERT_EQ(r.status, 200);
  EXPECT_NE(r.body.find("\"partial\""), std::string::npos);
  EXPECT_EQ(r.body.find("[DONE]"), std::string::npos);
  EXPECT_NE(r.body.find("\"code\":\"upstream_stream_cut\""), std::string::npos) << r.body;
}

TEST_F(GatewayTest, MalformedChunkEndsWithAnErrorEvent) {
  fake_.set_handler([](const FakeRequest& r, Poco::Net::HTTPServerResponse& resp) {
    std::ostream& out = StartEventStream(resp);
    SendEvent(out, Dump(ChatChunk(r.json()["model"], "ok")));
    SendEvent(out, "{not json");
    SendEvent(out, "[DONE]");
  });
  GatewayUnderTest gw(OneProviderYaml(fake_.base_url()));
  HttpResult r = gw.Post("/v1/chat/completions", Chat("chat-alias", true));
  ASSERT_EQ(r.status, 200);
  EXPECT_NE(r.body.find("\"ok\""), std::string::npos);
  EXPECT_EQ(r.body.find("[DONE]"), std::string::npos);
  EXPECT_NE(r.body.find("upstream_malformed_event"), std::string::npos) << r.body;
}

TEST_F(GatewayTest, MalformedFirstChunkIs502BeforeAnyByteIsSent) {
  fake_.set_handler([](const FakeRequest&, Poco::Net::HTTPServerResponse& resp) {
    std::ostream& out = StartEventStream(resp);
    SendEvent(out, "{not json");
  });
  GatewayUnderTest gw(OneProviderYaml(fake_.base_url()));
  HttpResult r = gw.Post("/v1/chat/completions", Chat("chat-alias", true));
  EXPECT_EQ(r.status, 502);
  EXPECT_EQ(r.json()["error"]["code"], "upstream_malformed_event");
}

TEST_F(GatewayTest, IdleStreamTimesOutWithAnErrorEvent) {
  Latch release;
  fake_.set_handler([&](const FakeRequest& r, Poco::Net::HTTPServerResponse& resp) {
    std::ostream& out = StartEventStream(resp);
    SendEvent(out, Dump(ChatChunk(r.json()["model"], "then silence")));
    release.Wait(5000);
  });
  GatewayUnderTest gw(OneProviderYaml(fake_.base_url()), "", "  idle_timeout: 300ms\n");
  HttpResult r = gw.Post("/v1/chat/completions", Chat("chat-alias", true));
  release.Open();
  ASSERT_EQ(r.status, 200);
  EXPECT_NE(r.body.find("then silence"), std::string::npos);
  EXPECT_NE(r.body.find("upstream_idle_timeout"), std::string::npos) << r.body;
}

TEST_F(GatewayTest, UpstreamConnectionsAreReused) {
  // Pooled connections belong to an event loop (as nginx's belong to a worker): one loop here.
  GatewayUnderTest gw(OneProviderYaml(fake_.base_url()), "  event_loops: 1\n");
  for (int i = 0; i < 5; ++i) {
    ASSERT_EQ(gw.Post("/v1/chat/completions", Chat("chat-alias", i % 2 == 1)).status, 200);
  }
  EXPECT_EQ(fake_.requests().size(), 5u);
  EXPECT_EQ(fake_.connections(), 1);
  EXPECT_EQ(gw.app().http().stats().connections_opened, 1u);
}

TEST_F(GatewayTest, HealthAndReadiness) {
  GatewayUnderTest gw(OneProviderYaml(fake_.base_url()));
  HttpResult h = Http(gw.port(), "GET", "/healthz");
  EXPECT_EQ(h.status, 200);
  EXPECT_FALSE(h.header("x-request-id").empty());
  EXPECT_EQ(Http(gw.port(), "GET", "/readyz").status, 200);
}

TEST_F(GatewayTest, AccessLogHasOneLinePerRequestWithoutContent) {
  GatewayUnderTest gw(OneProviderYaml(fake_.base_url()));
  Json body = Chat("chat-alias");
  body["messages"][0]["content"] = "my secret prompt text";
  ASSERT_EQ(gw.Post("/v1/chat/completions", body).status, 200);
  ASSERT_EQ(gw.Post("/v1/chat/completions", Chat("nope")).status, 404);
  std::string log = gw.ReadLog();
  size_t lines = 0;
  for (size_t pos = 0; (pos = log.find("\"event\":\"access\"", pos)) != std::string::npos; ++pos) ++lines;
  EXPECT_EQ(lines, 2u);
  EXPECT_NE(log.find("\"deployment\":\"fake/fake-model-1\""), std::string::npos);
  EXPECT_NE(log.find("\"status\":404"), std::string::npos);
  EXPECT_EQ(log.find("secret prompt"), std::string::npos);
  EXPECT_EQ(log.find("fake answer"), std::string::npos);
}

}  // namespace
}  // namespace warden::testing
