#include <gtest/gtest.h>

#include <algorithm>
#include <random>

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
  auto s = PlanAlias(c, any, Endpoint::kChatCompletions, "nope", nullptr);
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.error().status(), 404);
  EXPECT_EQ(s.error().code, "model_not_found");
  auto plan = PlanAlias(c, any, Endpoint::kChatCompletions, "alias", nullptr);
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
  auto plan = PlanAlias(c, eu, Endpoint::kChatCompletions, "chat", nullptr);
  ASSERT_TRUE(plan.ok());
  ASSERT_EQ(plan->targets.size(), 2u);
  EXPECT_EQ(plan->targets[0].provider->name, "mistral");
  EXPECT_EQ(plan->targets[1].provider->name, "azure-eu");

  Policy zr = eu;
  zr.zero_retention = true;
  plan = PlanAlias(c, zr, Endpoint::kChatCompletions, "chat", nullptr);
  ASSERT_TRUE(plan.ok());
  ASSERT_EQ(plan->targets.size(), 1u);
  EXPECT_EQ(plan->targets[0].provider->name, "azure-eu");

  auto s = PlanAlias(c, eu, Endpoint::kChatCompletions, "us-only", nullptr);
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
  auto s = PlanAlias(c, p, Endpoint::kChatCompletions, "secret-model", nullptr);
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.error().code, "model_not_allowed");
  EXPECT_TRUE(PlanAlias(c, p, Endpoint::kChatCompletions, "us-only", nullptr).ok());
}

// Routing rules (issue 20): `auto` sends long prompts, tools, images and the research team to
// `big`, short questions with a small max_tokens to `small`; everything else stays on `auto`.
Config WithRules() {
  Config c = TwoRegions();
  c.models.push_back({"big", {{"openai", "gpt-big"}, {"mistral", "large"}}});
  c.models.push_back({"small", {{"mistral", "tiny"}}});
  ModelAlias a{"auto", {{"openai", "gpt"}}};
  auto rule = [](std::string name, std::string use) {
    RouteRule r;
    r.name = std::move(name);
    r.use = std::move(use);
    return r;
  };
  RouteRule r = rule("long", "big");
  r.min_prompt_tokens = 1000;
  a.rules.push_back(r);
  r = rule("agents", "big");
  r.tools = 1;
  a.rules.push_back(r);
  r = rule("vision", "big");
  r.images = 1;
  a.rules.push_back(r);
  r = rule("research", "big");
  r.tag_name = "team";
  r.tag_value = "research";
  a.rules.push_back(r);
  r = rule("short", "small");
  r.max_prompt_tokens = 100;
  r.min_max_tokens = 1;
  r.max_max_tokens = 256;
  a.rules.push_back(r);
  c.models.push_back(a);
  return c;
}

ParsedRequest Ask(int64_t prompt_tokens, int64_t max_tokens = 0, bool tools = false, bool images = false) {
  ParsedRequest q;
  q.endpoint = Endpoint::kChatCompletions;
  q.model = "auto";
  q.estimated_prompt_tokens = prompt_tokens;
  q.max_tokens = max_tokens;
  q.has_tools = tools;
  q.has_images = images;
  return q;
}

TEST(RoutingRulesTest, EachKindOfRuleRoutesByWhatTheRequestIs) {
  const Config c = WithRules();
  Policy any;
  any.name = "any";
  const Identity who{"k", KeyEnv::kProduction, &any, {}};
  auto rule_of = [&](const ParsedRequest& q, const Identity& id) -> std::string {
    auto plan = PlanRoute(c, id, q);
    EXPECT_TRUE(plan.ok());
    if (!plan.ok()) return "?";
    return plan->alias->alias + (plan->rule ? "/" + plan->rule->name : "");
  };
  EXPECT_EQ(rule_of(Ask(500), who), "auto");                       // nothing matches
  EXPECT_EQ(rule_of(Ask(5000), who), "big/long");                  // estimated prompt tokens
  EXPECT_EQ(rule_of(Ask(500, 0, true), who), "big/agents");        // tools present
  EXPECT_EQ(rule_of(Ask(500, 0, false, true), who), "big/vision"); // images present
  EXPECT_EQ(rule_of(Ask(50, 100), who), "small/short");            // short and a small max_tokens
  EXPECT_EQ(rule_of(Ask(50, 1000), who), "auto");                  // max_tokens above the rule's bound
  EXPECT_EQ(rule_of(Ask(50), who), "auto");                        // no max_tokens: min_max_tokens 1 fails
  const Identity research{"k", KeyEnv::kProduction, &any, {{"team", "research"}}};
  EXPECT_EQ(rule_of(Ask(500), research), "big/research");          // a declared tag
  const Identity sales{"k", KeyEnv::kProduction, &any, {{"team", "sales"}}};
  EXPECT_EQ(rule_of(Ask(500), sales), "auto");
  EXPECT_EQ(rule_of(Ask(5000, 0, true), who), "big/long");         // the first matching rule wins
}

TEST(RoutingRulesTest, APolicyBoundsEveryRule) {
  const Config c = WithRules();
  // `big` not allowed: the long prompt stays on `auto`.
  Policy no_big;
  no_big.name = "no-big";
  no_big.models = {"auto", "small"};
  const Identity who{"k", KeyEnv::kProduction, &no_big, {}};
  auto plan = PlanRoute(c, who, Ask(5000));
  ASSERT_TRUE(plan.ok());
  EXPECT_EQ(plan->alias->alias, "auto");
  EXPECT_EQ(plan->rule, nullptr);
  // EU only: `big` keeps only its EU deployment; `auto` (US only) has none left, so a request
  // no rule takes is refused rather than sent to the US.
  Policy eu;
  eu.name = "eu";
  eu.regions = {"eu"};
  const Identity eu_key{"k", KeyEnv::kProduction, &eu, {}};
  plan = PlanRoute(c, eu_key, Ask(5000));
  ASSERT_TRUE(plan.ok());
  ASSERT_EQ(plan->targets.size(), 1u);
  EXPECT_EQ(plan->targets[0].name, "mistral/large");
  EXPECT_EQ(PlanRoute(c, eu_key, Ask(500)).error().code, "no_eligible_deployment");
  // The alias asked for must be allowed itself, whatever its rules would do.
  Policy only_big;
  only_big.name = "only-big";
  only_big.models = {"big"};
  EXPECT_EQ(PlanRoute(c, {"k", KeyEnv::kProduction, &only_big, {}}, Ask(5000)).error().code, "model_not_allowed");
}

TEST(RoutingRulesTest, MaxCostPerRequestExcludesDeploymentsTooDearForTheRequest) {
  Config c = TwoRegions();
  c.providers[0].price.input = 10'000'000;   // openai: $10 per million input tokens
  c.providers[0].price.output = 30'000'000;  // $30 per million output tokens
  c.providers[1].price.input = 100'000;      // mistral: $0.10 / $0.30
  c.providers[1].price.output = 300'000;
  Policy capped;
  capped.name = "capped";
  capped.max_cost_per_request = 10'000'000'000;  // $0.01
  ParsedRequest q = Ask(500, 200);  // openai: 500 × $10/M + 200 × $30/M = $0.011; mistral $0.00011
  q.model = "chat";
  auto plan = PlanAlias(c, capped, Endpoint::kChatCompletions, "chat", &q);
  ASSERT_TRUE(plan.ok());
  EXPECT_EQ(plan->targets[0].provider->name, "mistral");
  q.max_tokens = 100;  // openai now $0.008: allowed again
  EXPECT_EQ(PlanAlias(c, capped, Endpoint::kChatCompletions, "chat", &q)->targets[0].provider->name, "openai");
  q.model = "us-only";
  q.max_tokens = 200;
  auto refused = PlanAlias(c, capped, Endpoint::kChatCompletions, "us-only", &q);
  ASSERT_FALSE(refused.ok());
  EXPECT_NE(refused.error().message.find("max_cost_per_request"), std::string::npos);
}

// The policy property over rules: for random rule sets, policies, tags and requests, a plan
// never holds a deployment the policy excludes, an alias it does not allow, or one dearer than
// its cap — and a refusal happens only when no such plan exists.
TEST(RoutingRulesTest, PropertyNoRuleEverRoutesOutsideThePolicy) {
  std::mt19937 rng(20261205);
  const std::vector<std::string> aliases = {"chat", "us-only", "secret-model", "big", "small"};
  const std::vector<std::vector<std::string>> region_sets = {{"*"}, {"eu", "eu-*"}, {"us"}, {"eu-west"}};
  for (int round = 0; round < 2000; ++round) {
    Config c = WithRules();
    c.providers[0].price = {static_cast<Picos>(rng() % 20'000'000), static_cast<Picos>(rng() % 20'000'000), -1, true};
    c.providers[1].price = {static_cast<Picos>(rng() % 2'000'000), static_cast<Picos>(rng() % 2'000'000), -1, true};
    ModelAlias& a = c.models.back();
    for (RouteRule& r : a.rules) r.use = aliases[rng() % aliases.size()];  // random targets
    std::shuffle(a.rules.begin(), a.rules.end(), rng);
    Policy p;
    p.name = "p";
    p.regions = region_sets[rng() % region_sets.size()];
    p.zero_retention = rng() % 4 == 0;
    p.models = {"auto"};
    for (const auto& name : aliases)
      if (rng() % 2) p.models.push_back(name);
    p.max_cost_per_request = rng() % 3 == 0 ? static_cast<Picos>(rng() % 20'000'000'000ULL) : 0;
    const Identity who{"k", KeyEnv::kProduction, &p, {{"team", rng() % 2 ? "research" : "sales"}}};
    const ParsedRequest q = Ask(static_cast<int64_t>(rng() % 3000), static_cast<int64_t>(rng() % 600), rng() % 2,
                                rng() % 2);
    auto plan = PlanRoute(c, who, q);
    if (!plan.ok()) {
      // Refused only if neither the alias itself nor any rule target has a deployment left.
      EXPECT_FALSE(PlanAlias(c, p, Endpoint::kChatCompletions, "auto", &q).ok()) << "round " << round;
      continue;
    }
    ASSERT_TRUE(p.ModelAllowed(plan->alias->alias)) << "round " << round;
    ASSERT_FALSE(plan->targets.empty());
    for (const RouteTarget& t : plan->targets) {
      ASSERT_EQ(p.Excludes(*t.provider), "") << "round " << round << ": " << t.name;
      if (p.max_cost_per_request > 0) {
        ASSERT_LE(PriceOf(*t.provider, *t.deployment).Cost(q.estimated_prompt_tokens, 0, q.max_tokens),
                  p.max_cost_per_request)
            << "round " << round;
      }
    }
    if (plan->rule) {
      ASSERT_EQ(plan->rule->use, plan->alias->alias);
    }
  }
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
