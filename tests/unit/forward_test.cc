#include "gateway/forward.h"
#include "gateway/finalize.h"

#include <gtest/gtest.h>

#include "unit/fakes.h"

namespace warden::testing {
namespace {

class ForwardTest : public ::testing::Test {
 protected:
  void SetUp() override {
    provider_.name = "p";
    provider_.kind = ProviderKind::kOpenAI;
    provider_.scheme = "http";
    provider_.host = "upstream.test";
    provider_.port = 80;
    provider_.base_path = "/v1";
    deployment_.provider = "p";
    deployment_.model = "real-model";
    alias_.alias = "alias";
    policy_.name = "default";
    // One attempt, no backoff: these tests look at a single relay.
    auto config = std::make_shared<Config>();
    config->routing.retries_per_deployment = 0;
    config->routing.max_attempts = 1;
    auto snapshot = std::make_shared<GatewaySnapshot>();
    snapshot->config = config;
    ctx_.snapshot = snapshot;
    ctx_.endpoint = Endpoint::kChatCompletions;
    ctx_.identity.emplace(Identity{"key-id", KeyEnv::kProduction, &policy_, {}});
    ctx_.plan.emplace(RoutePlan{&alias_, {{&deployment_, &provider_, "p/real-model"}}});
    Request(true);
  }
  // The parsed request and its prompt (a stream or not).
  void Request(bool stream) {
    ParsedRequest r;
    r.endpoint = Endpoint::kChatCompletions;
    r.model = "alias";
    r.stream = stream;
    ctx_.request.emplace(r);
    Prompt p;
    p.body = Json{{"model", "alias"}, {"messages", Json::array()}};
    if (stream) p.body["stream"] = true;
    ctx_.prompt.emplace(std::move(p));
  }
  // Forward, then what the gateway does with its result (Finalize, without recorders).
  Status ForwardAndFinalize(Forwarder& f, MemoryClient& client) {
    Result<Completion> done = RunSync(f.Forward(ctx_, client));
    Status status = done.ok() ? Status::Ok() : Status(done.error());
    RunSync([&]() -> asio::awaitable<bool> {
      co_await Finalize(Recorders{}, ctx_, client, std::move(done));
      co_return true;
    }());
    return status;
  }
  static std::string Chunk(const std::string& text) {
    return "data: {\"model\":\"real-model\",\"choices\":[{\"delta\":{\"content\":\"" + text + "\"}}]}\n\n";
  }
  ProviderConfig provider_;
  Deployment deployment_;
  ModelAlias alias_;
  Policy policy_;
  RequestContext ctx_;
  ScriptedUpstream upstream_;
};

TEST_F(ForwardTest, EachCompleteEventIsWrittenBeforeTheNextRead) {
  std::vector<std::string> trace;
  upstream_.trace = &trace;
  std::string c2 = Chunk("b");
  upstream_.pieces = {Chunk("a"), c2.substr(0, 10), c2.substr(10), "data: [DONE]\n\n"};
  MemoryClient client(&trace);
  Forwarder f(&upstream_, &upstream_, 1 << 20);
  ASSERT_TRUE(ForwardAndFinalize(f, client).ok());
  // read a → write; read half of b → (nothing complete); read rest → write; read DONE → write
  // (by Finalize, once the outcome is durable); the rest of the body is read after it.
  std::vector<std::string> want = {"read", "write", "read", "read", "write", "read", "write", "read"};
  EXPECT_EQ(trace, want);
  ASSERT_EQ(client.writes_.size(), 3u);
  EXPECT_NE(client.writes_[0].find("\"model\":\"alias\""), std::string::npos);
  EXPECT_EQ(client.writes_[2], "data: [DONE]\n\n");
  EXPECT_EQ(client.sent_.find("real-model"), std::string::npos);
  EXPECT_EQ(upstream_.sent.at(0).path, "/v1/chat/completions");
  EXPECT_NE(upstream_.sent.at(0).body.find("\"model\":\"real-model\""), std::string::npos);
}

TEST_F(ForwardTest, StreamWithoutDoneIsACutNotACleanEnd) {
  upstream_.pieces = {Chunk("a")};
  MemoryClient client;
  Forwarder f(&upstream_, &upstream_, 1 << 20);
  // After the first byte the failure is Finalize's to write: an error event, no retry.
  Status s = ForwardAndFinalize(f, client);
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.error().stage, Stage::kClientStarted);
  EXPECT_EQ(ctx_.response.outcome, Outcome::kPartial);
  EXPECT_NE(client.sent_.find("upstream_stream_cut"), std::string::npos);
  EXPECT_EQ(client.sent_.find("[DONE]"), std::string::npos);
}

TEST_F(ForwardTest, ErrorEventBeforeContentIsAnErrorStatus) {
  upstream_.pieces = {"data: {\"error\":{\"message\":\"overloaded\"}}\n\n"};
  MemoryClient client;
  Forwarder f(&upstream_, &upstream_, 1 << 20);
  Result<Completion> s = RunSync(f.Forward(ctx_, client));
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.error().status(), 502);
  EXPECT_FALSE(client.started());
}

TEST_F(ForwardTest, ClientGoneStopsTheRelay) {
  upstream_.pieces = {Chunk("a"), Chunk("b"), "data: [DONE]\n\n"};
  MemoryClient client;
  client.gone_ = true;
  Forwarder f(&upstream_, &upstream_, 1 << 20);
  ASSERT_TRUE(ForwardAndFinalize(f, client).ok());
  EXPECT_EQ(ctx_.response.outcome, Outcome::kClientGone);
  EXPECT_EQ(client.writes_.size(), 1u);
}

TEST_F(ForwardTest, NonStreamRestoresAlias) {
  Request(false);
  upstream_.content_type = "application/json";
  upstream_.pieces = {"{\"model\":\"real-", "model\",\"choices\":[]}"};
  MemoryClient client;
  Forwarder f(&upstream_, &upstream_, 1 << 20);
  ASSERT_TRUE(ForwardAndFinalize(f, client).ok());
  EXPECT_EQ(client.status_, 200);
  EXPECT_EQ(client.sent_, "{\"model\":\"alias\",\"choices\":[]}");
  EXPECT_EQ(client.response_headers_["x-warden-deployment"], "p/real-model");
}

TEST_F(ForwardTest, OversizedResponseIs502) {
  Request(false);
  upstream_.content_type = "application/json";
  upstream_.pieces = {std::string(100, ' '), "{}"};
  MemoryClient client;
  Forwarder f(&upstream_, &upstream_, 50);
  Result<Completion> s = RunSync(f.Forward(ctx_, client));
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.error().code, "upstream_response_too_large");
}

}  // namespace
}  // namespace warden::testing
