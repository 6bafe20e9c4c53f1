// Redaction through real HTTP: the fake provider records what it received and must never see a
// planted value; the client gets the originals back, non-stream and stream (placeholders split
// across chunks), including tool call arguments.
#include <gtest/gtest.h>

#include <sstream>

#include "support/fake_provider.h"
#include "support/harness.h"

namespace warden::testing {
namespace {

const std::string kEmail = "patient.jane@example.com";
const std::string kCard = "4111 1111 1111 1111";
const std::string kAws = "AKIAIOSFODNN7EXAMPLE";

// Answers with the text it received (last message content) and, for tools, the arguments it
// received — so whatever placeholder went up comes back down.
void EchoBack(const FakeRequest& r, Poco::Net::HTTPServerResponse& resp, size_t piece) {
  Json req = r.json();
  std::string text = req["messages"].back()["content"].get<std::string>();
  std::string model = req["model"];
  if (!req.value("stream", false)) {
    Json msg = {{"role", "assistant"}, {"content", "You said: " + text}};
    msg["tool_calls"] = Json::array({Json{{"id", "c1"}, {"type", "function"},
                                          {"function", {{"name", "notify"}, {"arguments", "{\"to\":\"" + text + "\"}"}}}}});
    ReplyJson(resp, 200, {{"id", "x"}, {"object", "chat.completion"}, {"model", model},
                          {"choices", {{{"index", 0}, {"message", msg}, {"finish_reason", "stop"}}}}});
    return;
  }
  std::ostream& out = StartEventStream(resp);
  std::string answer = "You said: " + text;
  for (size_t i = 0; i < answer.size(); i += piece)
    SendEvent(out, Dump(ChatChunk(model, answer.substr(i, piece))));
  SendEvent(out, Dump(ChatChunk(model, "", true)));
  SendEvent(out, "[DONE]");
}

std::string StreamedText(const std::string& sse) {
  std::string text;
  size_t pos = 0;
  while ((pos = sse.find("data: {", pos)) != std::string::npos) {
    size_t end = sse.find("\n\n", pos);
    auto j = ParseJson(sse.substr(pos + 6, end - pos - 6));
    if (j && j->contains("choices"))
      for (const auto& c : (*j)["choices"])
        if (c.contains("delta") && c["delta"].contains("content") && c["delta"]["content"].is_string())
          text += c["delta"]["content"].get<std::string>();
    pos = end;
  }
  return text;
}

class RedactionIntegrationTest : public ::testing::Test {
 protected:
  RedactionIntegrationTest()
      : gw_(OneProviderYaml(fake_.base_url()), "", "",
            {{"redacting", "redaction: { rule_sets: [pii, secrets], mode: placeholder }\n"},
             {"masking", "redaction: { rule_sets: [pii], mode: mask }\n"},
             {"blocking", "redaction: { rule_sets: [secrets], mode: block }\n"},
             {"throttled", "redaction: { rule_sets: [pii], mode: placeholder }\nrate_limits: { requests_per_minute: 1 }\n"}}) {}
  Json Chat(const std::string& content, bool stream = false) {
    Json b = {{"model", "chat-alias"}, {"messages", {{{"role", "user"}, {"content", content}}}}};
    if (stream) b["stream"] = true;
    return b;
  }
  void ExpectProviderNeverSaw(const std::vector<std::string>& values) {
    for (const auto& r : fake_.requests())
      for (const auto& v : values) EXPECT_EQ(r.body.find(v), std::string::npos) << "provider saw " << v;
  }
  FakeProvider fake_;
  GatewayUnderTest gw_;
};

TEST_F(RedactionIntegrationTest, NonStreamRoundTripIncludingToolArguments) {
  fake_.set_handler([](const FakeRequest& r, Poco::Net::HTTPServerResponse& resp) { EchoBack(r, resp, 0); });
  std::string key = gw_.CreateKey("redacting");
  std::string prompt = "Mail " + kEmail + ", card " + kCard + ", key " + kAws;
  HttpResult res = gw_.PostAs(key, "/v1/chat/completions", Chat(prompt));
  ASSERT_EQ(res.status, 200) << res.body;
  EXPECT_EQ(res.json()["choices"][0]["message"]["content"], "You said: " + prompt);
  EXPECT_EQ(res.json()["choices"][0]["message"]["tool_calls"][0]["function"]["arguments"],
            "{\"to\":\"" + prompt + "\"}");
  ASSERT_EQ(fake_.requests().size(), 1u);
  EXPECT_EQ(fake_.requests()[0].json()["messages"][0]["content"],
            "Mail [EMAIL_1], card [CREDIT_CARD_1], key [AWS_ACCESS_KEY_1]");
  ExpectProviderNeverSaw({kEmail, kCard, kAws, "4111111111111111"});
  std::string log = gw_.ReadLog();
  EXPECT_NE(log.find("\"redactions\":{\"AWS_ACCESS_KEY\":1,\"CREDIT_CARD\":1,\"EMAIL\":1}"), std::string::npos) << log;
  for (const auto& v : {kEmail, kCard, kAws}) EXPECT_EQ(log.find(v), std::string::npos);
}

TEST_F(RedactionIntegrationTest, StreamRestoresPlaceholdersSplitAcrossChunks) {
  std::string key = gw_.CreateKey("redacting");
  std::string prompt = "Reach me at " + kEmail + " or " + kEmail + " (same), card " + kCard;
  for (size_t piece : {1u, 2u, 3u, 5u, 7u}) {
    fake_.set_handler([piece](const FakeRequest& r, Poco::Net::HTTPServerResponse& resp) { EchoBack(r, resp, piece); });
    HttpResult res = gw_.PostAs(key, "/v1/chat/completions", Chat(prompt, true));
    ASSERT_EQ(res.status, 200);
    EXPECT_EQ(StreamedText(res.body), "You said: " + prompt) << "piece " << piece;
    EXPECT_NE(res.body.find("data: [DONE]"), std::string::npos);
    EXPECT_EQ(res.body.find("[EMAIL_"), std::string::npos) << res.body;
  }
  ExpectProviderNeverSaw({kEmail, kCard});
}

TEST_F(RedactionIntegrationTest, EmbeddingsInputIsRedacted) {
  std::string key = gw_.CreateKey("redacting");
  HttpResult res = gw_.PostAs(key, "/v1/embeddings", {{"model", "chat-alias"}, {"input", {"about " + kEmail, "plain"}}});
  ASSERT_EQ(res.status, 200) << res.body;
  EXPECT_EQ(fake_.requests().at(0).json()["input"][0], "about [EMAIL_1]");
  ExpectProviderNeverSaw({kEmail});
}

TEST_F(RedactionIntegrationTest, MaskIsIrreversibleAndBlockRefuses) {
  fake_.set_handler([](const FakeRequest& r, Poco::Net::HTTPServerResponse& resp) { EchoBack(r, resp, 0); });
  HttpResult masked = gw_.PostAs(gw_.CreateKey("masking"), "/v1/chat/completions", Chat("to " + kEmail));
  ASSERT_EQ(masked.status, 200);
  EXPECT_EQ(masked.json()["choices"][0]["message"]["content"], "You said: to [EMAIL]");
  HttpResult blocked = gw_.PostAs(gw_.CreateKey("blocking"), "/v1/chat/completions", Chat("key " + kAws));
  EXPECT_EQ(blocked.status, 403);
  EXPECT_EQ(blocked.json()["error"]["code"], "content_blocked");
  EXPECT_NE(blocked.json()["error"]["message"].get<std::string>().find("AWS_ACCESS_KEY"), std::string::npos);
  EXPECT_EQ(blocked.body.find(kAws), std::string::npos);
  EXPECT_EQ(fake_.requests().size(), 1u);  // only the masked one went out
  ExpectProviderNeverSaw({kEmail, kAws});
}

// Issue 17: Check policy (limits included) comes before Redact, so a throttled request is never
// scanned: its access-log line counts no redactions, while the admitted one does.
TEST_F(RedactionIntegrationTest, AThrottledRequestIsNotScanned) {
  std::string key = gw_.CreateKey("throttled");
  ASSERT_EQ(gw_.PostAs(key, "/v1/chat/completions", Chat("Mail " + kEmail)).status, 200);
  HttpResult refused = gw_.PostAs(key, "/v1/chat/completions", Chat("Mail " + kEmail));
  ASSERT_EQ(refused.status, 429);
  std::vector<Json> access;
  std::istringstream lines(gw_.ReadLog());
  for (std::string line; std::getline(lines, line);)
    if (auto j = ParseJson(line); j && j->value("event", "") == "access") access.push_back(*j);
  ASSERT_EQ(access.size(), 2u);
  EXPECT_EQ(access[0]["status"], 200);
  EXPECT_EQ(access[0]["redactions"]["EMAIL"], 1) << access[0].dump();
  EXPECT_EQ(access[1]["status"], 429);
  EXPECT_FALSE(access[1].contains("redactions")) << access[1].dump();
  EXPECT_EQ(fake_.requests().size(), 1u);
}

}  // namespace
}  // namespace warden::testing
