#include <gtest/gtest.h>

#include "gateway/authenticate.h"
#include "gateway/check_policy.h"
#include "gateway/parse.h"

namespace warden {
namespace {

Status ParseBody(Endpoint e, const std::string& body, ParsedBody* out = nullptr) {
  auto parsed = Parse(e, body);
  if (!parsed) return parsed.error();
  if (out) *out = std::move(*parsed);
  return Status::Ok();
}

std::string ParamOf(const Status& s) { return s.ok() ? "<ok>" : s.error().param; }

TEST(ParsePhaseTest, ValidChat) {
  ParsedBody parsed;
  ASSERT_TRUE(ParseBody(Endpoint::kChatCompletions,
                        R"({"model":"m","stream":true,"messages":[{"role":"user","content":[{"type":"text","text":"x"}]}]})",
                        &parsed)
                  .ok());
  EXPECT_EQ(parsed.request.model, "m");
  EXPECT_TRUE(parsed.request.stream);
}

TEST(ParsePhaseTest, ChatSchemaErrorsNameTheParam) {
  EXPECT_EQ(ParamOf(ParseBody(Endpoint::kChatCompletions, R"({"messages":[{"role":"user","content":"x"}]})")), "model");
  EXPECT_EQ(ParamOf(ParseBody(Endpoint::kChatCompletions, R"({"model":3,"messages":[]})")), "model");
  EXPECT_EQ(ParamOf(ParseBody(Endpoint::kChatCompletions, R"({"model":"m","messages":[]})")), "messages");
  EXPECT_EQ(ParamOf(ParseBody(Endpoint::kChatCompletions, R"({"model":"m","messages":[{"content":"x"}]})")),
            "messages[0].role");
  EXPECT_EQ(ParamOf(ParseBody(Endpoint::kChatCompletions, R"({"model":"m","messages":[{"role":"user","content":5}]})")),
            "messages[0].content");
  EXPECT_EQ(ParamOf(ParseBody(Endpoint::kChatCompletions,
                          R"({"model":"m","stream":"yes","messages":[{"role":"user","content":"x"}]})")),
            "stream");
}

// Issue 16: these reached the provider and came back as a 502.
TEST(ParsePhaseTest, ContentPartsNeedATypeAndToolsMustBeAnArray) {
  EXPECT_EQ(ParamOf(ParseBody(Endpoint::kChatCompletions,
                          R"({"model":"m","messages":[{"role":"user","content":[{"text":"x"}]}]})")),
            "messages[0].content[0].type");
  EXPECT_EQ(ParamOf(ParseBody(Endpoint::kChatCompletions,
                          R"({"model":"m","messages":[{"role":"user","content":["x"]}]})")),
            "messages[0].content[0].type");
  EXPECT_EQ(ParamOf(ParseBody(Endpoint::kChatCompletions,
                          R"({"model":"m","messages":[{"role":"user","content":"x"}],"tools":{"type":"function"}})")),
            "tools");
  EXPECT_EQ(ParamOf(ParseBody(Endpoint::kChatCompletions,
                          R"({"model":"m","messages":[{"role":"user","content":"x"}],"tools":[{"function":{}}]})")),
            "tools[0].type");
  EXPECT_TRUE(ParseBody(Endpoint::kChatCompletions,
                    R"({"model":"m","messages":[{"role":"user","content":[{"type":"text","text":"x"}]}],)"
                    R"("tools":[{"type":"function","function":{"name":"f"}}]})")
                  .ok());
}

TEST(ParsePhaseTest, MalformedJsonAndNonObjects) {
  for (const char* body : {"", "{", "[1,2]", "\"str\"", "{\"model\":\"m\",}", "{\"a\":\"\xff\"}"}) {
    Status s = ParseBody(Endpoint::kChatCompletions, body);
    ASSERT_FALSE(s.ok()) << body;
    EXPECT_EQ(s.error().status(), 400);
    EXPECT_EQ(s.error().code, "invalid_json");
  }
}

TEST(ParsePhaseTest, NestingBeyondTheLimitIsJsonTooDeep) {
  const std::string deep = std::string(kMaxJsonDepth, '[') + std::string(kMaxJsonDepth, ']');
  Status s = ParseBody(Endpoint::kChatCompletions, R"({"model":"m","messages":[],"x":)" + deep + "}");
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.error().status(), 400);
  EXPECT_EQ(s.error().code, "json_too_deep");
  EXPECT_TRUE(JsonNestsDeeper("{" + deep + "}", kMaxJsonDepth));
  EXPECT_FALSE(JsonNestsDeeper(deep, kMaxJsonDepth));
  // Brackets in strings (escaped quotes included) do not count.
  EXPECT_FALSE(JsonNestsDeeper(R"(["\"[[[[", "]]]"])", 1));
  EXPECT_TRUE(JsonNestsDeeper(R"(["\\", [[]]])", 2));
  JsonError why = JsonError::kNone;
  EXPECT_FALSE(ParseJson("{" + deep + "}", &why).has_value());
  EXPECT_EQ(why, JsonError::kTooDeep);
  EXPECT_FALSE(ParseJson("{", &why).has_value());
  EXPECT_EQ(why, JsonError::kMalformed);
}

TEST(ParsePhaseTest, EmbeddingsInputShapes) {
  EXPECT_TRUE(ParseBody(Endpoint::kEmbeddings, R"({"model":"e","input":"x"})").ok());
  EXPECT_TRUE(ParseBody(Endpoint::kEmbeddings, R"({"model":"e","input":["x","y"]})").ok());
  EXPECT_TRUE(ParseBody(Endpoint::kEmbeddings, R"({"model":"e","input":[1,2,3]})").ok());
  EXPECT_TRUE(ParseBody(Endpoint::kEmbeddings, R"({"model":"e","input":[[1,2],[3]]})").ok());
  EXPECT_EQ(ParamOf(ParseBody(Endpoint::kEmbeddings, R"({"model":"e","input":[]})")), "input");
  EXPECT_EQ(ParamOf(ParseBody(Endpoint::kEmbeddings, R"({"model":"e","input":{"a":1}})")), "input");
  EXPECT_EQ(ParamOf(ParseBody(Endpoint::kEmbeddings, R"({"model":"e"})")), "input");
}

TEST(RoutePhaseTest, UnknownAliasIs404AndKnownPicksTheFirstDeployment) {
  Config c;
  ProviderConfig p;
  p.name = "p";
  c.providers.push_back(p);
  c.models.push_back({"alias", {{"p", "m1"}, {"p", "m2"}}});
  Policy any;
  auto s = PlanRoute(c, any, Endpoint::kChatCompletions, "nope");
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.error().status(), 404);
  EXPECT_EQ(s.error().code, "model_not_found");
  auto plan = PlanRoute(c, any, Endpoint::kChatCompletions, "alias");
  ASSERT_TRUE(plan.ok());
  EXPECT_EQ(plan->targets.front().deployment->model, "m1");
  EXPECT_EQ(plan->targets.front().provider->name, "p");
  EXPECT_EQ(plan->targets.front().name, "p/m1");
  EXPECT_EQ(plan->targets.size(), 2u);
}

Config TwoRegions() {
  Config c;
  ProviderConfig us, eu, eu_zr;
  us.name = "openai";
  us.region = "us";
  eu.name = "mistral";
  eu.region = "eu";
  eu_zr.name = "azure-eu";
  eu_zr.region = "eu-west";
  eu_zr.zero_retention = true;
  c.providers = {us, eu, eu_zr};
  c.models.push_back({"chat", {{"openai", "gpt"}, {"mistral", "small"}, {"azure-eu", "gpt-eu"}}});
  c.models.push_back({"us-only", {{"openai", "gpt"}}});
  c.models.push_back({"secret-model", {{"mistral", "large"}}});
  return c;
}

TEST(RoutePhaseTest, PolicyFiltersDeploymentsBeforeAnyAttempt) {
  Config c = TwoRegions();
  Policy eu;
  eu.name = "eu-only";
  eu.regions = {"eu", "eu-*"};
  auto plan = PlanRoute(c, eu, Endpoint::kChatCompletions, "chat");
  ASSERT_TRUE(plan.ok());
  ASSERT_EQ(plan->targets.size(), 2u);
  EXPECT_EQ(plan->targets[0].provider->name, "mistral");
  EXPECT_EQ(plan->targets[1].provider->name, "azure-eu");

  Policy zr = eu;
  zr.zero_retention = true;
  plan = PlanRoute(c, zr, Endpoint::kChatCompletions, "chat");
  ASSERT_TRUE(plan.ok());
  ASSERT_EQ(plan->targets.size(), 1u);
  EXPECT_EQ(plan->targets[0].provider->name, "azure-eu");

  auto s = PlanRoute(c, eu, Endpoint::kChatCompletions, "us-only");
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.error().status(), 403);
  EXPECT_EQ(s.error().code, "no_eligible_deployment");
  EXPECT_NE(s.error().message.find("region"), std::string::npos);
}

TEST(RoutePhaseTest, ModelGlobs) {
  Config c = TwoRegions();
  Policy p;
  p.name = "narrow";
  p.models = {"chat", "us-*"};
  auto s = PlanRoute(c, p, Endpoint::kChatCompletions, "secret-model");
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.error().code, "model_not_allowed");
  EXPECT_TRUE(PlanRoute(c, p, Endpoint::kChatCompletions, "us-only").ok());
}

TEST(OverridesTest, HeadersAndBodyFieldsCannotSteerThePolicy) {
  Policy p;
  p.name = "x";
  // What Parse noted of a chat body (fields beside a valid request).
  auto parsed = [](Json extra) {
    Json body = {{"model", "m"}, {"messages", {{{"role", "user"}, {"content", "x"}}}}};
    body.update(extra);
    auto r = Parse(Endpoint::kChatCompletions, Dump(body));
    EXPECT_TRUE(r.ok());
    return r.ok() ? r->request : ParsedRequest{};
  };
  EXPECT_TRUE(CheckOverrides(p, {"content-type", "authorization"}, nullptr).ok());
  Status h = CheckOverrides(p, {"x-warden-no-redact"}, nullptr);
  ASSERT_FALSE(h.ok());
  EXPECT_EQ(h.error().status(), 403);
  EXPECT_EQ(h.error().code, "override_not_allowed");
  for (const char* field : {"provider", "region", "fallbacks", "redaction", "logging", "warden"}) {
    const ParsedRequest r = parsed({{field, true}});
    Status b = CheckOverrides(p, {}, &r);
    ASSERT_FALSE(b.ok()) << field;
    EXPECT_EQ(b.error().param, field);
  }
  const ParsedRequest store = parsed({{"store", true}});
  EXPECT_TRUE(CheckOverrides(p, {}, &store).ok());
  p.zero_retention = true;
  EXPECT_FALSE(CheckOverrides(p, {}, &store).ok());
  const ParsedRequest no_store = parsed({{"store", false}});
  EXPECT_TRUE(CheckOverrides(p, {}, &no_store).ok());
}

TEST(ResolvePolicyTest, UnknownPolicyFailsClosed) {
  PolicySet set;
  Policy d;
  d.name = "default";
  set.Add(d);
  KeyRecord k;
  k.policy = "deleted-policy";
  auto r = ResolvePolicy(set, k);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().status(), 403);
  EXPECT_EQ(r.error().code, "policy_not_found");
  k.policy = "default";
  EXPECT_TRUE(ResolvePolicy(set, k).ok());
}

TEST(EstimateTokensTest, CountsTextTheModelReads) {
  Json chat = {{"model", "m"}, {"messages", {{{"role", "user"}, {"content", std::string(400, 'a')}}}}};
  EXPECT_GE(EstimatePromptTokens(chat), 100);
  EXPECT_LE(EstimatePromptTokens(chat), 110);
  Json embed = {{"model", "m"}, {"input", {"abcd", "efgh"}}};
  EXPECT_EQ(EstimatePromptTokens(embed), 2);
}

}  // namespace
}  // namespace warden
