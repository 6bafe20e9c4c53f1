#include "common/error.h"

#include <gtest/gtest.h>

#include "common/json.h"
#include "providers/adapter.h"

namespace warden {
namespace {

TEST(ErrorTest, BodyIsOpenAIShaped) {
  auto j = ParseJson(ErrorBody(Error::BadRequest("bad thing", "messages")));
  ASSERT_TRUE(j.has_value());
  EXPECT_EQ((*j)["error"]["message"], "bad thing");
  EXPECT_EQ((*j)["error"]["type"], "invalid_request_error");
  EXPECT_EQ((*j)["error"]["code"], "invalid_request");
  EXPECT_EQ((*j)["error"]["param"], "messages");
  auto k = ParseJson(ErrorBody(Error::Internal("x")));
  EXPECT_TRUE((*k)["error"]["param"].is_null());
}

TEST(ErrorTest, StatusesOfTheFactories) {
  EXPECT_EQ(Error::Unauthorized("x").status(), 401);
  EXPECT_EQ(Error::NotFound("x").status(), 404);
  EXPECT_EQ(Error::MethodNotAllowed("x").status(), 405);
  EXPECT_EQ(Error::PayloadTooLarge("x").status(), 413);
  EXPECT_EQ(Error::UnsupportedMediaType("x").status(), 415);
  EXPECT_EQ(Error::BadGateway("x").status(), 502);
  EXPECT_EQ(Error::GatewayTimeout("x").status(), 504);
  EXPECT_EQ(Error::ServiceUnavailable("x").status(), 503);
  EXPECT_EQ(Error::BadGateway("x").source, ErrorSource::kUpstream);
  EXPECT_EQ(Error::BadRequest("x").source, ErrorSource::kClient);
}

TEST(ErrorTest, InvalidUtf8InAMessageDoesNotThrow) {
  std::string body = ErrorBody(Error::BadRequest("bad \xff\xfe byte"));
  EXPECT_TRUE(ParseJson(body).has_value());
}

ProviderConfig Provider() {
  ProviderConfig p;
  p.name = "acme";
  p.api_key = Secret("sk-acme-secret-1234567890");
  return p;
}

TEST(TranslateErrorTest, ProviderAuthFailureBecomes502WithoutTheKey) {
  Error e = AdapterFor(ProviderKind::kOpenAI).TranslateError(
      Provider(), 401, R"({"error":{"message":"Incorrect API key provided: sk-acme-secret-1234567890"}})");
  EXPECT_EQ(e.status(), 502);
  EXPECT_EQ(e.code, "upstream_auth_failed");
  EXPECT_EQ(e.message.find("sk-acme"), std::string::npos);
  EXPECT_FALSE(e.retryable);
}

TEST(TranslateErrorTest, ClientErrorsPassThroughScrubbed) {
  Error e = AdapterFor(ProviderKind::kOpenAI).TranslateError(
      Provider(), 400,
      R"j({"error":{"message":"bad max_tokens (key sk-acme-secret-1234567890)","type":"invalid_request_error","param":"max_tokens","code":"bad"}})j");
  EXPECT_EQ(e.status(), 400);
  EXPECT_EQ(e.param, "max_tokens");
  EXPECT_EQ(e.code, "bad");
  EXPECT_NE(e.message.find("bad max_tokens"), std::string::npos);
  EXPECT_EQ(e.message.find("sk-acme"), std::string::npos);
}

TEST(TranslateErrorTest, ServerErrorsAre502AndRetryable) {
  Error e = AdapterFor(ProviderKind::kOpenAI).TranslateError(Provider(), 503, "<html>busy</html>");
  EXPECT_EQ(e.status(), 502);
  EXPECT_TRUE(e.retryable);
  Error r = AdapterFor(ProviderKind::kOpenAI).TranslateError(Provider(), 429, "{}");
  EXPECT_EQ(r.status(), 429);
  EXPECT_EQ(r.type, "rate_limit_error");
  EXPECT_TRUE(r.retryable);
}

}  // namespace
}  // namespace warden
