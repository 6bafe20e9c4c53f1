// Integration: the fault-injection suite. For each provider kind (openai, anthropic, gemini),
// stream and non-stream, a primary deployment misbehaves in one way and a backup of the same
// kind is healthy; each case asserts which deployment served, the attempt count, what each fake
// received and what the client saw. Real HTTP through the real server against fake providers
// on loopback speaking each wire format.
#include <gtest/gtest.h>

#include <thread>

#include "support/fake_provider.h"
#include "support/harness.h"

namespace warden::testing {
namespace {

using Poco::Net::HTTPServerResponse;

constexpr const char* kPrimaryKey = "sk-primary-secret-0123456789";

// Event builders for one wire format.
struct Wire {
  std::string kind;
  FakeHandler healthy;

  // The first event of a stream, carrying no content (OpenAI: the role chunk; Anthropic:
  // message_start; Gemini: a chunk without candidates).
  void Start(std::ostream& out, const std::string& model) const {
    if (kind == "openai") SendEvent(out, Dump(Json{{"id", "c1"}, {"object", "chat.completion.chunk"}, {"model", model},
                                                 {"choices", {{{"index", 0}, {"delta", {{"role", "assistant"}, {"content", ""}}}, {"finish_reason", nullptr}}}}}));
    if (kind == "anthropic")
      SendNamedEvent(out, "message_start", {{"type", "message_start"},
                                            {"message", {{"id", "msg_1"}, {"type", "message"}, {"role", "assistant"}, {"model", model},
                                                         {"content", Json::array()}, {"usage", {{"input_tokens", 5}, {"output_tokens", 0}}}}}});
    if (kind == "gemini") SendEvent(out, Dump(Json{{"modelVersion", model}, {"usageMetadata", {{"promptTokenCount", 5}}}}));
  }
  void Content(std::ostream& out, const std::string& model, const std::string& text) const {
    if (kind == "openai") SendEvent(out, Dump(ChatChunk(model, text)));
    if (kind == "anthropic") {
      SendNamedEvent(out, "content_block_start", {{"type", "content_block_start"}, {"index", 0}, {"content_block", {{"type", "text"}, {"text", ""}}}});
      SendNamedEvent(out, "content_block_delta", {{"type", "content_block_delta"}, {"index", 0}, {"delta", {{"type", "text_delta"}, {"text", text}}}});
    }
    if (kind == "gemini")
      SendEvent(out, Dump(Json{{"candidates", {{{"content", {{"role", "model"}, {"parts", {{{"text", text}}}}}}}}}}));
  }
  void ErrorEvent(std::ostream& out) const {
    if (kind == "anthropic")
      SendNamedEvent(out, "error", {{"type", "error"}, {"error", {{"type", "overloaded_error"}, {"message", "Overloaded"}}}});
    else
      SendEvent(out, Dump(Json{{"error", {{"code", 503}, {"message", "overloaded"}, {"status", "UNAVAILABLE"}}}}));
  }
  Json ErrorBody(int status) const {
    if (kind == "anthropic") return {{"type", "error"}, {"error", {{"type", "api_error"}, {"message", "down " + std::to_string(status)}}}};
    if (kind == "gemini") return {{"error", {{"code", status}, {"message", "down"}, {"status", "UNAVAILABLE"}}}};
    return {{"error", {{"message", "down"}, {"type", "server_error"}}}};
  }
  // The path suffix a request of this kind goes to.
  std::string PathFor(bool stream) const {
    if (kind == "anthropic") return "/v1/messages";
    if (kind == "gemini") return stream ? ":streamGenerateContent?alt=sse" : ":generateContent";
    return "/v1/chat/completions";
  }
  // The credential header of this kind, as the fake received it (names lower-cased).
  std::string Credential(const FakeRequest& r) const {
    auto get = [&](const char* h) { auto it = r.headers.find(h); return it == r.headers.end() ? "" : it->second; };
    if (kind == "anthropic") return get("x-api-key");
    if (kind == "gemini") return get("x-goog-api-key");
    return get("authorization");
  }
};

Wire WireFor(const std::string& kind) {
  if (kind == "anthropic") return {kind, FakeProvider::AnthropicHandler()};
  if (kind == "gemini") return {kind, FakeProvider::GeminiHandler()};
  return {kind, FakeProvider::DefaultHandler()};
}

enum class Fault {
  kRefused, kTlsFailure, k500, k503, k429RetryAfter, kSlowFirstByte, kSilenceAfterHead,
  kCutBeforeContent, kMalformed, kErrorEvent, kCutAfterContent,
};

const char* FaultName(Fault f) {
  switch (f) {
    case Fault::kRefused: return "refused";
    case Fault::kTlsFailure: return "tls_failure";
    case Fault::k500: return "500";
    case Fault::k503: return "503";
    case Fault::k429RetryAfter: return "429_retry_after";
    case Fault::kSlowFirstByte: return "slow_first_byte";
    case Fault::kSilenceAfterHead: return "200_then_silence";
    case Fault::kCutBeforeContent: return "cut_before_content";
    case Fault::kMalformed: return "malformed_chunk";
    case Fault::kErrorEvent: return "error_event";
    case Fault::kCutAfterContent: return "cut_after_content";
  }
  return "?";
}

// Timeouts of the gateway under test: a fault "slower than the limit" sleeps 3× this.
constexpr int kLimitMs = 300;

FakeHandler FaultyHandler(const Wire& wire, Fault fault, bool stream) {
  return [wire, fault, stream](const FakeRequest& r, HTTPServerResponse& resp) {
    const std::string model = "m-a";
    switch (fault) {
      case Fault::k500:
      case Fault::k503:
        ReplyJson(resp, fault == Fault::k500 ? 500 : 503, wire.ErrorBody(fault == Fault::k500 ? 500 : 503));
        return;
      case Fault::k429RetryAfter:
        ReplyJson(resp, 429, wire.ErrorBody(429), {{"Retry-After", "1"}});
        return;
      case Fault::kSlowFirstByte:
        std::this_thread::sleep_for(std::chrono::milliseconds(3 * kLimitMs));
        wire.healthy(r, resp);
        return;
      case Fault::kSilenceAfterHead:
        if (stream) {
          std::ostream& out = StartEventStream(resp);
          out.flush();
        } else {
          resp.setContentType("application/json");
          resp.setContentLength(1000);
          resp.send().flush();
        }
        std::this_thread::sleep_for(std::chrono::milliseconds(3 * kLimitMs));
        return;
      case Fault::kCutBeforeContent:
      case Fault::kCutAfterContent: {
        resp.setKeepAlive(false);
        if (stream) {
          std::ostream& out = StartEventStream(resp);
          wire.Start(out, model);
          if (fault == Fault::kCutAfterContent) wire.Content(out, model, "partial");
        } else {
          resp.setContentType("application/json");
          resp.setContentLength(1000);
          resp.send() << "{\"id\":\"cut" << std::flush;
        }
        return;
      }
      case Fault::kMalformed:
        if (stream) {
          std::ostream& out = StartEventStream(resp);
          out << "data: {\"choices\": [oops\n\n" << std::flush;
        } else {
          resp.setContentType("application/json");
          resp.setContentLength(8);
          resp.send() << "not json" << std::flush;
        }
        return;
      case Fault::kErrorEvent: {
        std::ostream& out = StartEventStream(resp);
        wire.Start(out, model);
        wire.ErrorEvent(out);
        return;
      }
      case Fault::kRefused:
      case Fault::kTlsFailure:
        break;
    }
    wire.healthy(r, resp);
  };
}

// The text of the answer as the client saw it: message content, or the stream's deltas.
std::string AnswerText(const HttpResult& r, bool stream) {
  if (!stream) {
    Json j = r.json();
    return j.is_object() && j.contains("choices") ? j["choices"][0]["message"].value("content", "") : "";
  }
  std::string text;
  size_t pos = 0;
  while ((pos = r.body.find("data: ", pos)) != std::string::npos) {
    size_t end = r.body.find('\n', pos);
    auto j = ParseJson(r.body.substr(pos + 6, end - pos - 6));
    pos = end;
    if (!j || !j->is_object() || !j->contains("choices") || (*j)["choices"].empty()) continue;
    const Json& d = (*j)["choices"][0]["delta"];
    if (d.contains("content") && d["content"].is_string()) text += d["content"].get<std::string>();
  }
  return text;
}

struct Case {
  std::string kind;
  bool stream;
};
void PrintTo(const Case& c, std::ostream* os) { *os << c.kind << (c.stream ? " stream" : " json"); }

struct FaultRun {
  HttpResult result;
  std::vector<FakeRequest> primary, backup;
};

// One request through a gateway whose alias is [primary (faulty), backup (healthy)], both of
// kind c.kind; one retry per deployment, breaker off.
FaultRun RunFault(const Case& c, Fault fault) {
    const Wire wire = WireFor(c.kind);
    FakeProvider primary(FaultyHandler(wire, fault, c.stream));
    FakeProvider backup(wire.healthy);
    std::string primary_url = primary.base_url();
    if (fault == Fault::kRefused) primary_url = "http://127.0.0.1:" + std::to_string(UnusedPort()) + "/v1";
    // A plain-HTTP server at an https:// URL: the TLS handshake fails.
    if (fault == Fault::kTlsFailure) primary_url = "https://127.0.0.1:" + std::to_string(primary.port()) + "/v1";
    std::string yaml =
        "providers:\n"
        "  - { name: primary, kind: " + c.kind + ", base_url: \"" + primary_url + "\", api_key: " + kPrimaryKey + " }\n"
        "  - { name: backup, kind: " + c.kind + ", base_url: \"" + backup.base_url() + "\" }\n"
        "routing:\n"
        "  retries_per_deployment: 1\n  backoff_initial: 5ms\n  backoff_max: 10ms\n  retry_after_max: 500ms\n"
        "  circuit_breaker: { failures: 0 }\n"
        "models:\n  - alias: chat\n    deployments:\n"
        "      - { provider: primary, model: m-a }\n      - { provider: backup, model: m-b }\n";
    GatewayUnderTest gw(yaml, "",
                        "  first_byte_timeout: " + std::to_string(kLimitMs) + "ms\n  idle_timeout: " +
                            std::to_string(kLimitMs) + "ms\n");
    Json body = {{"model", "chat"}, {"messages", {{{"role", "system"}, {"content", "Be brief."}}, {{"role", "user"}, {"content", "Hello!"}}}}};
    if (c.stream) body["stream"] = true;
    FaultRun run;
    run.result = gw.Post("/v1/chat/completions", body);
    run.primary = primary.requests();
    run.backup = backup.requests();
    return run;
}

class FailoverSuite : public ::testing::TestWithParam<Case> {};

// What each fault must produce: primary tried `primary` times, backup `backup` times.
struct Expect {
  Fault fault;
  size_t primary;
  size_t backup;
};

TEST_P(FailoverSuite, EachFaultFailsOverBeforeTheFirstByte) {
  const Case c = GetParam();
  const Wire wire = WireFor(c.kind);
  std::vector<Expect> cases = {
      {Fault::kRefused, 0, 1},          {Fault::kTlsFailure, 2, 1},      {Fault::k500, 2, 1},
      {Fault::k503, 2, 1},              {Fault::k429RetryAfter, 1, 1},   {Fault::kSlowFirstByte, 2, 1},
      {Fault::kSilenceAfterHead, 2, 1}, {Fault::kCutBeforeContent, 2, 1}, {Fault::kMalformed, 2, 1},
  };
  if (c.stream) cases.push_back({Fault::kErrorEvent, 2, 1});
  for (const Expect& e : cases) {
    SCOPED_TRACE(std::string(FaultName(e.fault)) + " / " + c.kind + (c.stream ? " stream" : ""));
    FaultRun run = RunFault(c, e.fault);
    const HttpResult& r = run.result;
    ASSERT_EQ(r.status, 200) << r.body;
    EXPECT_EQ(r.header("x-warden-deployment"), "backup/m-b");
    // Refused and TLS failures never reach the fake's request log, but count as attempts.
    const size_t attempts = (e.fault == Fault::kRefused || e.fault == Fault::kTlsFailure ? 2 : e.primary) + e.backup;
    EXPECT_EQ(r.header("x-warden-attempts"), std::to_string(attempts));
    if (e.fault != Fault::kTlsFailure) {
      EXPECT_EQ(run.primary.size(), e.primary);
    }
    ASSERT_EQ(run.backup.size(), e.backup);
    EXPECT_EQ(AnswerText(r, c.stream), "fake answer");
    // No trace of the failed attempt reached the client: no error event, no second role chunk.
    EXPECT_EQ(r.body.find("error"), std::string::npos) << r.body;
    EXPECT_EQ(r.body.find("partial"), std::string::npos);
    if (c.stream) {
      EXPECT_NE(r.body.find("data: [DONE]"), std::string::npos);
    }
    // Each fake got the request in its own wire format, with the deployment's model.
    const FakeRequest& b = run.backup.at(0);
    EXPECT_TRUE(b.path.ends_with(wire.PathFor(c.stream))) << b.path;
    EXPECT_EQ(b.body.find("m-a"), std::string::npos);
    if (e.fault != Fault::kTlsFailure && !run.primary.empty()) {  // a TLS hello may be logged as garbage
      EXPECT_NE(wire.Credential(run.primary[0]).find(kPrimaryKey), std::string::npos);
    }
    EXPECT_EQ(wire.Credential(b).find(kPrimaryKey), std::string::npos) << "a key went to another provider";
    EXPECT_EQ(r.body.find(kPrimaryKey), std::string::npos);
  }
}

TEST(FailoverStream, AfterTheFirstContentByteAFailureIsAnErrorEventNotAFailover) {
  for (const char* kind : {"openai", "anthropic", "gemini"}) {
    SCOPED_TRACE(kind);
    FaultRun run = RunFault(Case{kind, true}, Fault::kCutAfterContent);
    const HttpResult& r = run.result;
    ASSERT_EQ(r.status, 200);
    EXPECT_EQ(r.header("x-warden-deployment"), "primary/m-a");
    EXPECT_EQ(r.header("x-warden-attempts"), "1");
    EXPECT_EQ(run.primary.size(), 1u);
    EXPECT_EQ(run.backup.size(), 0u);
    EXPECT_EQ(AnswerText(r, true), "partial");
    EXPECT_NE(r.body.find("\"error\""), std::string::npos) << r.body;
    EXPECT_NE(r.body.find("upstream_stream_cut"), std::string::npos) << r.body;
    EXPECT_EQ(r.body.find("[DONE]"), std::string::npos) << "a cut stream must not look like a clean end";
  }
}

INSTANTIATE_TEST_SUITE_P(Kinds, FailoverSuite,
                         ::testing::Values(Case{"openai", false}, Case{"openai", true}, Case{"anthropic", false},
                                           Case{"anthropic", true}, Case{"gemini", false}, Case{"gemini", true}),
                         [](const ::testing::TestParamInfo<Case>& p) {
                           return p.param.kind + (p.param.stream ? "_stream" : "_json");
                         });

}  // namespace
}  // namespace warden::testing
