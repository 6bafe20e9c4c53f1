#include "gateway/phases.h"

#include <gtest/gtest.h>

namespace warden {
namespace {

Status Parse(Endpoint e, const std::string& body, RequestContext* out = nullptr) {
  RequestContext ctx;
  ctx.endpoint = e;
  Status s = ParsePhase(ctx, body);
  if (out) *out = ctx;
  return s;
}

std::string ParamOf(const Status& s) { return s.ok() ? "<ok>" : s.error().param; }

TEST(ParsePhaseTest, ValidChat) {
  RequestContext ctx;
  ASSERT_TRUE(Parse(Endpoint::kChatCompletions,
                    R"({"model":"m","stream":true,"messages":[{"role":"user","content":[{"type":"text","text":"x"}]}]})",
                    &ctx)
                  .ok());
  EXPECT_EQ(ctx.model, "m");
  EXPECT_TRUE(ctx.stream);
}

TEST(ParsePhaseTest, ChatSchemaErrorsNameTheParam) {
  EXPECT_EQ(ParamOf(Parse(Endpoint::kChatCompletions, R"({"messages":[{"role":"user","content":"x"}]})")), "model");
  EXPECT_EQ(ParamOf(Parse(Endpoint::kChatCompletions, R"({"model":3,"messages":[]})")), "model");
  EXPECT_EQ(ParamOf(Parse(Endpoint::kChatCompletions, R"({"model":"m","messages":[]})")), "messages");
  EXPECT_EQ(ParamOf(Parse(Endpoint::kChatCompletions, R"({"model":"m","messages":[{"content":"x"}]})")),
            "messages[0].role");
  EXPECT_EQ(ParamOf(Parse(Endpoint::kChatCompletions, R"({"model":"m","messages":[{"role":"user","content":5}]})")),
            "messages[0].content");
  EXPECT_EQ(ParamOf(Parse(Endpoint::kChatCompletions,
                          R"({"model":"m","stream":"yes","messages":[{"role":"user","content":"x"}]})")),
            "stream");
}

TEST(ParsePhaseTest, MalformedJsonAndNonObjects) {
  for (const char* body : {"", "{", "[1,2]", "\"str\"", "{\"model\":\"m\",}", "{\"a\":\"\xff\"}"}) {
    Status s = Parse(Endpoint::kChatCompletions, body);
    ASSERT_FALSE(s.ok()) << body;
    EXPECT_EQ(s.error().status, 400);
    EXPECT_EQ(s.error().code, "invalid_json");
  }
}

TEST(ParsePhaseTest, EmbeddingsInputShapes) {
  EXPECT_TRUE(Parse(Endpoint::kEmbeddings, R"({"model":"e","input":"x"})").ok());
  EXPECT_TRUE(Parse(Endpoint::kEmbeddings, R"({"model":"e","input":["x","y"]})").ok());
  EXPECT_TRUE(Parse(Endpoint::kEmbeddings, R"({"model":"e","input":[1,2,3]})").ok());
  EXPECT_TRUE(Parse(Endpoint::kEmbeddings, R"({"model":"e","input":[[1,2],[3]]})").ok());
  EXPECT_EQ(ParamOf(Parse(Endpoint::kEmbeddings, R"({"model":"e","input":[]})")), "input");
  EXPECT_EQ(ParamOf(Parse(Endpoint::kEmbeddings, R"({"model":"e","input":{"a":1}})")), "input");
  EXPECT_EQ(ParamOf(Parse(Endpoint::kEmbeddings, R"({"model":"e"})")), "input");
}

TEST(RoutePhaseTest, UnknownAliasIs404AndKnownPicksTheFirstDeployment) {
  Config c;
  ProviderConfig p;
  p.name = "p";
  c.providers.push_back(p);
  c.models.push_back({"alias", {{"p", "m1"}, {"p", "m2"}}});
  RequestContext ctx;
  ctx.model = "nope";
  Status s = RoutePhase(c, ctx);
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.error().status, 404);
  EXPECT_EQ(s.error().code, "model_not_found");
  ctx.model = "alias";
  ASSERT_TRUE(RoutePhase(c, ctx).ok());
  EXPECT_EQ(ctx.deployment->model, "m1");
  EXPECT_EQ(ctx.provider->name, "p");
}

}  // namespace
}  // namespace warden
