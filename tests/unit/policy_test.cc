#include "policy/policy.h"

#include <gtest/gtest.h>

#include <map>

#include "common/tags.h"

namespace warden {
namespace {

Config SomeProviders() {
  Config c;
  ProviderConfig a;
  a.name = "mistral-eu";
  a.region = "eu";
  c.providers.push_back(a);
  return c;
}

TEST(GlobTest, Matches) {
  EXPECT_TRUE(GlobMatch("*", ""));
  EXPECT_TRUE(GlobMatch("*", "anything"));
  EXPECT_TRUE(GlobMatch("eu-*", "eu-west"));
  EXPECT_FALSE(GlobMatch("eu-*", "eu"));
  EXPECT_TRUE(GlobMatch("gpt-?o*", "gpt-4o-mini"));
  EXPECT_FALSE(GlobMatch("gpt-4o", "gpt-4o-mini"));
  EXPECT_TRUE(GlobMatch("*mini", "gpt-4o-mini"));
  EXPECT_TRUE(GlobMatch("a*b*c", "aXXbYYc"));
  EXPECT_FALSE(GlobMatch("a*b*c", "aXXbYY"));
}

TEST(PolicyLoadTest, ParsesEveryField) {
  const char* yaml = R"(name: strict
description: test
models: ["gpt-*", small]
providers: [mistral-eu]
regions: [eu]
zero_retention: true
content_logging: none
redaction: { rule_sets: [pii, phi], mode: mask }
rate_limits: { requests_per_minute: 60, tokens_per_minute: 1000 }
budgets: { usd_per_day: 1.5, usd_per_month: 20 }
audit: required
)";
  PolicyLoadResult r = LoadPolicyFromString(yaml, "strict.yaml", "strict", SomeProviders());
  for (const auto& p : r.problems) ADD_FAILURE() << p.ToString();
  ASSERT_TRUE(r.ok());
  const Policy* p = r.policies->Find("strict");
  ASSERT_NE(p, nullptr);
  EXPECT_EQ(p->models, (std::vector<std::string>{"gpt-*", "small"}));
  EXPECT_TRUE(p->zero_retention);
  EXPECT_EQ(p->redaction_mode, RedactionMode::kMask);
  EXPECT_EQ(p->redaction_rule_sets.size(), 2u);
  EXPECT_EQ(p->requests_per_minute, 60);
  EXPECT_EQ(p->tokens_per_minute, 1000);
  EXPECT_EQ(p->budget_per_day, kPicosPerUsd * 3 / 2);
  EXPECT_EQ(p->budget_per_month, kPicosPerUsd * 20);
  EXPECT_EQ(p->audit, AuditMode::kRequired);
  EXPECT_EQ(p->hash.size(), 64u);
}

TEST(PolicyLoadTest, ReportsProblemsWithLines) {
  const char* yaml = R"(name: other-name
models: []
zero_retention: maybe
content_logging: everything
rate_limits: { requests_per_minute: -5 }
colour: red
)";
  PolicyLoadResult r = LoadPolicyFromString(yaml, "bad.yaml", "bad", SomeProviders());
  EXPECT_FALSE(r.ok());
  std::map<int, std::string> by_line;
  for (const auto& p : r.problems) by_line[p.line] += p.message;
  EXPECT_NE(by_line[1].find("file"), std::string::npos);
  EXPECT_NE(by_line[2].find("empty"), std::string::npos);
  EXPECT_NE(by_line[3].find("zero_retention"), std::string::npos);
  EXPECT_EQ(by_line[4], "content_logging must be none, redacted or full");
  EXPECT_NE(by_line[5].find("requests_per_minute"), std::string::npos);
  EXPECT_NE(by_line[6].find("colour"), std::string::npos);
}

TEST(PolicyLoadTest, ZeroRetentionCannotLogContent) {
  PolicyLoadResult r = LoadPolicyFromString("name: z\nzero_retention: true\ncontent_logging: full\n",
                                            "z.yaml", "z", SomeProviders());
  EXPECT_FALSE(r.ok());
}

TEST(PolicyLoadTest, BudgetAlertPercentages) {
  PolicyLoadResult d = LoadPolicyFromString("name: d\nbudgets: { usd_per_day: 5 }\n", "d.yaml", "d", SomeProviders());
  ASSERT_TRUE(d.ok());
  EXPECT_EQ(d.policies->Find("d")->budget_alerts, (std::vector<int>{50, 80, 100}));
  PolicyLoadResult c = LoadPolicyFromString("name: c\nbudgets: { usd_per_day: 5, alert_at: [75, 100] }\n", "c.yaml", "c",
                                            SomeProviders());
  ASSERT_TRUE(c.ok());
  EXPECT_EQ(c.policies->Find("c")->budget_alerts, (std::vector<int>{75, 100}));
  for (const char* bad : {"[0]", "[101]", "[50, x]", "[-5]"}) {
    PolicyLoadResult r = LoadPolicyFromString(std::string("name: b\nbudgets: { usd_per_day: 5, alert_at: ") + bad + " }\n",
                                              "b.yaml", "b", SomeProviders());
    EXPECT_FALSE(r.ok()) << bad;
  }
}

TEST(PolicyLoadTest, ShippedPoliciesAreValid) {
  Config c;
  LoadResult config = LoadConfig(std::string(WARDEN_SOURCE_DIR) + "/config/warden.yaml");
  ASSERT_TRUE(config.ok());
  PolicyLoadResult r = LoadPolicies(std::string(WARDEN_SOURCE_DIR) + "/policies", *config.config);
  for (const auto& p : r.problems)
    if (p.severity == ConfigProblem::Severity::kError) ADD_FAILURE() << p.ToString();
  ASSERT_TRUE(r.ok());
  for (const char* name : {"default", "development", "eu-only", "hipaa"})
    EXPECT_NE(r.policies->Find(name), nullptr) << name;
  const Policy* hipaa = r.policies->Find("hipaa");
  EXPECT_TRUE(hipaa->zero_retention);
  EXPECT_EQ(hipaa->audit, AuditMode::kRequired);
  EXPECT_EQ(hipaa->redaction_rule_sets,
            (std::vector<std::string>{"pii", "phi", "secrets", "names", "addresses"}));
  const Policy* eu = r.policies->Find("eu-only");
  ProviderConfig us;
  us.name = "openai";
  us.region = "us";
  EXPECT_EQ(eu->Excludes(us), "region");
}

TEST(PolicyLoadTest, DefaultPolicyIsRequired) {
  LoadResult config = LoadConfig(std::string(WARDEN_SOURCE_DIR) + "/config/warden.yaml");
  ASSERT_TRUE(config.ok());
  PolicyLoadResult r = LoadPolicies("/nonexistent-dir", *config.config);
  EXPECT_FALSE(r.ok());
}

TEST(TagsTest, OnlyListedWellFormedTagsAreAccepted) {
  const std::vector<std::string> allowed = {"team", "project", "end_user"};
  auto ok = ParseTags(" team=payments , end_user=u-42@acme.example:7 ", allowed);
  ASSERT_TRUE(ok.ok());
  EXPECT_EQ(TagsText(*ok), "end_user=u-42@acme.example:7;team=payments");  // sorted by name
  EXPECT_EQ(ParseTagsText(TagsText(*ok)), *ok);
  EXPECT_EQ(TagValue(*ok, "team"), "payments");
  EXPECT_EQ(TagValue(*ok, "project"), "");
  EXPECT_TRUE(ParseTags("", allowed)->empty());
  const std::string long_value(kMaxTagValue + 1, 'x');
  for (const std::string& bad : {std::string("colour=red"), std::string("team"), std::string("team="),
                                 std::string("=x"), std::string("team=a b"), std::string("team=a;b"),
                                 std::string("team=\"x\""), std::string("team=a,team=b"), std::string("team=a,"), std::string("team=-1+1"), std::string("team=@x"),
                                 "team=" + long_value, std::string("t\xc3\xa9" "am=x")}) {
    auto r = ParseTags(bad, allowed);
    ASSERT_FALSE(r.ok()) << bad;
    EXPECT_EQ(r.error().code, "invalid_tags");
    EXPECT_EQ(r.error().status(), 400);
  }
  std::vector<std::string> many;
  std::string header;
  for (size_t i = 0; i <= kMaxTags; ++i) {
    many.push_back("t" + std::to_string(i));
    header += (i ? "," : "") + many.back() + "=v";
  }
  EXPECT_FALSE(ParseTags(header, many).ok());
  EXPECT_FALSE(ParseTags("team=x", {}).ok());  // a policy without tags accepts none
}

TEST(TagsTest, DistinctValuesPerTagAreBoundedPerDay) {
  TagValueCap cap;
  for (size_t i = 0; i < TagValueCap::kMaxValuesPerDay; ++i)
    ASSERT_TRUE(cap.Admit({{"end_user", "u" + std::to_string(i)}}, "2026-12-05").ok());
  auto refused = cap.Admit({{"end_user", "one-more"}}, "2026-12-05");
  ASSERT_FALSE(refused.ok());
  EXPECT_EQ(refused.error().code, "invalid_tags");
  EXPECT_TRUE(cap.Admit({{"end_user", "u7"}}, "2026-12-05").ok());    // a known value passes
  EXPECT_TRUE(cap.Admit({{"team", "new"}}, "2026-12-05").ok());       // another tag has its own count
  // All or nothing: a refused request records none of its values.
  EXPECT_FALSE(cap.Admit({{"team", "other"}, {"end_user", "two-more"}}, "2026-12-05").ok());
  EXPECT_TRUE(cap.Admit({{"end_user", "one-more"}}, "2026-12-06").ok());  // a new day starts afresh
}

TEST(PolicyTest, TagsAndTagBudgets) {
  PolicyLoadResult r = LoadPolicyFromString(
      "name: t\ntags: [team, project]\nmax_cost_per_request: 0.05\n"
      "budgets: { usd_per_day: 5, per_tag: { team: { usd_per_day: 50.5, usd_per_month: 900 } } }\n",
      "t.yaml", "t", SomeProviders());
  ASSERT_TRUE(r.ok());
  const Policy* policy = r.policies->Find("t");
  EXPECT_EQ(policy->tags, (std::vector<std::string>{"team", "project"}));
  EXPECT_EQ(policy->max_cost_per_request, kPicosPerUsd / 20);
  ASSERT_EQ(policy->tag_budgets.count("team"), 1u);
  EXPECT_EQ(policy->tag_budgets.at("team").per_day, kPicosPerUsd * 101 / 2);
  EXPECT_EQ(policy->tag_budgets.at("team").per_month, kPicosPerUsd * 900);
  // A budget too large to bind (the benchmark's $10M a month) loads, saturated.
  PolicyLoadResult big = LoadPolicyFromString("name: big\nbudgets: { usd_per_day: 1000000, usd_per_month: 10000000 }\n",
                                              "big.yaml", "big", SomeProviders());
  ASSERT_TRUE(big.ok());
  EXPECT_EQ(big.policies->Find("big")->budget_per_day, kPicosPerUsd * 1'000'000);
  EXPECT_EQ(big.policies->Find("big")->budget_per_month, INT64_MAX);
  for (const char* bad : {"name: b\ntags: [\"te am\"]\n",
                          "name: b\ntags: [team]\nbudgets: { per_tag: { project: { usd_per_day: 1 } } }\n",
                          "name: b\ntags: [team]\nbudgets: { per_tag: { team: { usd_per_week: 1 } } }\n",
                          "name: b\ntags: [team]\nbudgets: { per_tag: { team: { usd_per_day: -1 } } }\n"})
    EXPECT_FALSE(LoadPolicyFromString(bad, "b.yaml", "b", SomeProviders()).ok()) << bad;
}

}  // namespace
}  // namespace warden
