#include "gateway/forward.h"

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
    deployment_ = {"p", "real-model"};
    ctx_.endpoint = Endpoint::kChatCompletions;
    ctx_.model = "alias";
    ctx_.body = Json{{"model", "alias"}, {"messages", Json::array()}, {"stream", true}};
    ctx_.stream = true;
    ctx_.provider = &provider_;
    ctx_.deployment = &deployment_;
    ctx_.route = {{&deployment_, &provider_}};
  }
  static std::string Chunk(const std::string& text) {
    return "data: {\"model\":\"real-model\",\"choices\":[{\"delta\":{\"content\":\"" + text + "\"}}]}\n\n";
  }
  // One attempt, no backoff: these tests look at a single relay.
  static ForwarderOptions Options(size_t max_response_bytes) {
    ForwarderOptions o;
    o.max_response_bytes = max_response_bytes;
    o.routing.retries_per_deployment = 0;
    o.routing.max_attempts = 1;
    return o;
  }
  ProviderConfig provider_;
  Deployment deployment_;
  RequestContext ctx_;
  ScriptedUpstream upstream_;
};

TEST_F(ForwardTest, EachCompleteEventIsWrittenBeforeTheNextRead) {
  std::vector<std::string> trace;
  upstream_.trace = &trace;
  std::string c2 = Chunk("b");
  upstream_.pieces = {Chunk("a"), c2.substr(0, 10), c2.substr(10), "data: [DONE]\n\n"};
  MemoryClient client(&trace);
  Forwarder f(&upstream_, &upstream_, Options(1 << 20));
  ASSERT_TRUE(RunSync(f.Forward(ctx_, client)).ok());
  // read a → write; read half of b → (nothing complete); read rest → write; read DONE → write.
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
  Forwarder f(&upstream_, &upstream_, Options(1 << 20));
  ASSERT_TRUE(RunSync(f.Forward(ctx_, client)).ok());
  EXPECT_EQ(ctx_.outcome, Outcome::kPartial);
  EXPECT_NE(client.sent_.find("upstream_stream_cut"), std::string::npos);
  EXPECT_EQ(client.sent_.find("[DONE]"), std::string::npos);
}

TEST_F(ForwardTest, ErrorEventBeforeContentIsAnErrorStatus) {
  upstream_.pieces = {"data: {\"error\":{\"message\":\"overloaded\"}}\n\n"};
  MemoryClient client;
  Forwarder f(&upstream_, &upstream_, Options(1 << 20));
  Status s = RunSync(f.Forward(ctx_, client));
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.error().status, 502);
  EXPECT_FALSE(client.started());
}

TEST_F(ForwardTest, ClientGoneStopsTheRelay) {
  upstream_.pieces = {Chunk("a"), Chunk("b"), "data: [DONE]\n\n"};
  MemoryClient client;
  client.gone_ = true;
  Forwarder f(&upstream_, &upstream_, Options(1 << 20));
  ASSERT_TRUE(RunSync(f.Forward(ctx_, client)).ok());
  EXPECT_EQ(ctx_.outcome, Outcome::kClientGone);
  EXPECT_EQ(client.writes_.size(), 1u);
}

TEST_F(ForwardTest, NonStreamRestoresAlias) {
  ctx_.stream = false;
  ctx_.body.erase("stream");
  upstream_.content_type = "application/json";
  upstream_.pieces = {"{\"model\":\"real-", "model\",\"choices\":[]}"};
  MemoryClient client;
  Forwarder f(&upstream_, &upstream_, Options(1 << 20));
  ASSERT_TRUE(RunSync(f.Forward(ctx_, client)).ok());
  EXPECT_EQ(client.status_, 200);
  EXPECT_EQ(client.sent_, "{\"model\":\"alias\",\"choices\":[]}");
  EXPECT_EQ(client.response_headers_["x-warden-deployment"], "p/real-model");
}

TEST_F(ForwardTest, OversizedResponseIs502) {
  ctx_.stream = false;
  upstream_.content_type = "application/json";
  upstream_.pieces = {std::string(100, ' '), "{}"};
  MemoryClient client;
  Forwarder f(&upstream_, &upstream_, Options(50));
  Status s = RunSync(f.Forward(ctx_, client));
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.error().code, "upstream_response_too_large");
}

}  // namespace
}  // namespace warden::testing
