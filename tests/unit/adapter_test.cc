// Golden translation tests for every provider adapter and for the Anthropic Messages ingress,
// both directions: canonical request → provider body; provider answer → canonical; provider
// stream → canonical chunks; and canonical → what an Anthropic client receives. Inputs under
// tests/golden/ were written from the providers' public API references; the expected files
// are reviewed snapshots. WARDEN_UPDATE_GOLDEN=1 rewrites the expected files (review the diff).
#include <gtest/gtest.h>

#include <cctype>
#include <cstdlib>
#include <fstream>
#include <sstream>

#include "gateway/client_format.h"
#include "providers/adapter.h"

namespace warden::testing {
namespace {

const std::string kGolden = std::string(WARDEN_SOURCE_DIR) + "/tests/golden/";

std::string ReadText(const std::string& name) {
  std::ifstream in(kGolden + name, std::ios::binary);
  EXPECT_TRUE(in) << "missing golden file " << name;
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

Json ReadJson(const std::string& name) {
  auto j = ParseJson(ReadText(name));
  EXPECT_TRUE(j.has_value()) << name << " is not JSON";
  return j ? *j : Json();
}

// Ids Warden generates: a known prefix and 24 hex digits, replaced by prefix + "GENERATED"
// wherever they occur in `text` (std::regex is avoided: GCC 12 warns inside it under ASan).
std::string MaskGeneratedIds(std::string text) {
  for (const char* prefix : {"call_", "toolu_", "msg_", "chatcmpl-"}) {
    const std::string p(prefix);
    for (size_t pos = 0; (pos = text.find(p, pos)) != std::string::npos;) {
      size_t end = pos + p.size();
      size_t n = 0;
      while (end + n < text.size() && std::isxdigit(static_cast<unsigned char>(text[end + n])) &&
             !std::isupper(static_cast<unsigned char>(text[end + n])))
        ++n;
      const bool boundary = end + n == text.size() || !std::isalnum(static_cast<unsigned char>(text[end + n]));
      if (n == 24 && boundary) text.replace(end, 24, "GENERATED");
      pos = end;
    }
  }
  return text;
}

// Fields that differ on every run: timestamps and ids Warden generates.
void Normalize(Json& j) {
  if (j.is_object()) {
    j.erase("created");
    for (auto& [k, v] : j.items()) {
      if (v.is_string()) {
        v = MaskGeneratedIds(v.get<std::string>());
      } else {
        Normalize(v);
      }
    }
  } else if (j.is_array()) {
    for (auto& v : j) Normalize(v);
  }
}

bool Updating() { return std::getenv("WARDEN_UPDATE_GOLDEN") != nullptr; }

void ExpectGoldenText(const std::string& name, const std::string& actual) {
  if (Updating()) {
    std::ofstream(kGolden + name, std::ios::binary) << actual;
    return;
  }
  EXPECT_EQ(actual, ReadText(name)) << "golden file " << name;
}

void ExpectGolden(const std::string& name, Json actual) {
  Normalize(actual);
  ExpectGoldenText(name, actual.dump(2) + "\n");
}

ProviderConfig Provider(ProviderKind kind) {
  ProviderConfig p;
  p.name = "p";
  p.kind = kind;
  p.scheme = "https";
  p.host = "api.example.com";
  p.port = 443;
  p.base_path = "/v1";
  p.api_key = Secret("sk-golden-secret-key");
  p.api_version = kind == ProviderKind::kAzure ? "2024-10-21" : "2023-06-01";
  return p;
}

std::string HeaderValue(const UpstreamRequest& r, const std::string& name) {
  for (const auto& h : r.headers)
    if (h.name == name) return h.value;
  return "";
}

std::vector<Json> DecodeStream(ProviderKind kind, const std::string& sse_file) {
  auto decoder = AdapterFor(kind).NewStreamDecoder();
  std::vector<Json> chunks;
  SseParser parser;
  Status s = parser.Feed(ReadText(sse_file), [&](SseEvent& ev) { return decoder->Decode(ev, chunks); });
  EXPECT_TRUE(s.ok()) << s.error().message;
  EXPECT_TRUE(decoder->Finish(chunks).ok());
  return chunks;
}

Json AsArray(const std::vector<Json>& chunks) {
  Json a = Json::array();
  for (const auto& c : chunks) a.push_back(c);
  return a;
}

TEST(AdapterGolden, AnthropicRequest) {
  ProviderConfig p = Provider(ProviderKind::kAnthropic);
  auto r = AdapterFor(p.kind).BuildRequest(p, Operation::kChat, ReadJson("canonical_request.json"));
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->path, "/v1/messages");
  EXPECT_EQ(HeaderValue(*r, "x-api-key"), "sk-golden-secret-key");
  EXPECT_EQ(HeaderValue(*r, "anthropic-version"), "2023-06-01");
  EXPECT_EQ(HeaderValue(*r, "Authorization"), "");
  EXPECT_TRUE(r->stream);
  ExpectGolden("anthropic/request.expected.json", *ParseJson(r->body));
}

TEST(AdapterGolden, AnthropicResponseAndStream) {
  const ProviderAdapter& a = AdapterFor(ProviderKind::kAnthropic);
  auto c = a.TranslateResponse(Operation::kChat, ReadJson("anthropic/response.json"));
  ASSERT_TRUE(c.ok());
  ExpectGolden("anthropic/response.expected.json", *c);
  ExpectGolden("anthropic/stream.expected.json", AsArray(DecodeStream(ProviderKind::kAnthropic, "anthropic/stream.sse")));
}

TEST(AdapterGolden, GeminiRequest) {
  ProviderConfig p = Provider(ProviderKind::kGemini);
  auto r = AdapterFor(p.kind).BuildRequest(p, Operation::kChat, ReadJson("canonical_request.json"));
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->path, "/v1/models/deployment-model:streamGenerateContent?alt=sse");
  EXPECT_EQ(HeaderValue(*r, "x-goog-api-key"), "sk-golden-secret-key");
  ExpectGolden("gemini/request.expected.json", *ParseJson(r->body));
}

TEST(AdapterGolden, GeminiResponseStreamAndBlockedPrompt) {
  const ProviderAdapter& a = AdapterFor(ProviderKind::kGemini);
  auto c = a.TranslateResponse(Operation::kChat, ReadJson("gemini/response.json"));
  ASSERT_TRUE(c.ok());
  ExpectGolden("gemini/response.expected.json", *c);
  ExpectGolden("gemini/stream.expected.json", AsArray(DecodeStream(ProviderKind::kGemini, "gemini/stream.sse")));
  auto blocked = a.TranslateResponse(Operation::kChat, ReadJson("gemini/blocked.json"));
  ASSERT_FALSE(blocked.ok());
  EXPECT_EQ(blocked.error().status(), 400);
  EXPECT_EQ(blocked.error().code, "content_filter");
  EXPECT_FALSE(blocked.error().retryable);
}

TEST(AdapterGolden, OpenAIAndAzureRequests) {
  Json body = ReadJson("canonical_request.json");
  ProviderConfig p = Provider(ProviderKind::kOpenAI);
  auto r = AdapterFor(p.kind).BuildRequest(p, Operation::kChat, body);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->path, "/v1/chat/completions");
  EXPECT_EQ(HeaderValue(*r, "Authorization"), "Bearer sk-golden-secret-key");
  Json sent = *ParseJson(r->body);
  EXPECT_EQ(sent["stream_options"]["include_usage"], true);  // usage asked for on every stream
  sent.erase("stream_options");
  EXPECT_EQ(sent, body) << "the openai kind forwards the canonical body unchanged";

  ProviderConfig az = Provider(ProviderKind::kAzure);
  auto ra = AdapterFor(az.kind).BuildRequest(az, Operation::kChat, body);
  ASSERT_TRUE(ra.ok());
  EXPECT_EQ(ra->path, "/v1/openai/deployments/deployment-model/chat/completions?api-version=2024-10-21");
  EXPECT_EQ(HeaderValue(*ra, "api-key"), "sk-golden-secret-key");
  EXPECT_EQ(HeaderValue(*ra, "Authorization"), "");
}

TEST(AdapterGolden, MessagesIngressBothWays) {
  auto canonical = MessagesToCanonical(ReadJson("messages/request.json"));
  ASSERT_TRUE(canonical.ok()) << canonical.error().message;
  ExpectGolden("messages/request.expected.json", *canonical);
  // The Anthropic provider's answer, through canonical, back to an Anthropic client.
  auto c = AdapterFor(ProviderKind::kAnthropic).TranslateResponse(Operation::kChat, ReadJson("anthropic/response.json"));
  ASSERT_TRUE(c.ok());
  ExpectGolden("messages/response.expected.json", ClientResponse(Ingress::kAnthropic, *c));
  auto encoder = NewStreamEncoder(Ingress::kAnthropic, "chat");
  std::string events;
  for (const Json& chunk : DecodeStream(ProviderKind::kAnthropic, "anthropic/stream.sse")) events += encoder->Chunk(chunk);
  events += encoder->End();
  ExpectGoldenText("messages/stream.expected.sse", MaskGeneratedIds(events));
}

TEST(AdapterTest, MessagesIngressRequiresWhatTheApiRequires) {
  Json base = ReadJson("messages/request.json");
  for (const char* field : {"model", "max_tokens", "messages"}) {
    Json j = base;
    j.erase(field);
    auto r = MessagesToCanonical(j);
    ASSERT_FALSE(r.ok()) << field;
    EXPECT_EQ(r.error().status(), 400);
    EXPECT_EQ(r.error().param, field);
  }
  EXPECT_EQ(Dump(ParseJson(ClientErrorBody(Ingress::kAnthropic, Error::TooManyRequests("slow down", "x", "rate_limit_error"))).value()),
            R"({"type":"error","error":{"type":"rate_limit_error","message":"slow down"}})");
}

TEST(AdapterTest, StreamDecodersRejectMalformedEventsAndReportCuts) {
  for (ProviderKind kind : {ProviderKind::kOpenAI, ProviderKind::kAnthropic, ProviderKind::kGemini}) {
    SCOPED_TRACE(ProviderKindName(kind));
    auto d = AdapterFor(kind).NewStreamDecoder();
    std::vector<Json> out;
    SseEvent bad;
    bad.data = "{not json";
    Status s = d->Decode(bad, out);
    ASSERT_FALSE(s.ok());
    EXPECT_EQ(s.error().code, "upstream_malformed_event");
    auto cut = AdapterFor(kind).NewStreamDecoder();
    Status f = cut->Finish(out);
    ASSERT_FALSE(f.ok());
    EXPECT_EQ(f.error().code, "upstream_stream_cut");
  }
}

TEST(AdapterTest, ErrorsMapToRetryabilityAndNeverQuoteTheKey) {
  for (ProviderKind kind : {ProviderKind::kOpenAI, ProviderKind::kAnthropic, ProviderKind::kGemini}) {
    SCOPED_TRACE(ProviderKindName(kind));
    ProviderConfig p = Provider(kind);
    const ProviderAdapter& a = AdapterFor(kind);
    std::string leaky = R"({"error":{"message":"bad key sk-golden-secret-key","type":"invalid_request_error"}})";
    Error bad = a.TranslateError(p, 400, leaky);
    EXPECT_EQ(bad.status(), 400);
    EXPECT_FALSE(bad.retryable);
    EXPECT_EQ(bad.message.find("sk-golden-secret-key"), std::string::npos);
    for (int status : {401, 403, 404, 422}) EXPECT_FALSE(a.TranslateError(p, status, "{}").retryable) << status;
    for (int status : {429, 500, 502, 503, 504, 529}) EXPECT_TRUE(a.TranslateError(p, status, "{}").retryable) << status;
    EXPECT_EQ(a.TranslateError(p, 529, "{}").code, "upstream_overloaded");
  }
}

}  // namespace
}  // namespace warden::testing
