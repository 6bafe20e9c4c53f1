#include "config/config.h"

#include <gtest/gtest.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

#include "cluster/redis.h"
#include "common/util.h"
#include "gateway/alert_webhook.h"

#include <map>

namespace warden {
namespace {

EnvLookup Env(std::map<std::string, std::string> vars) {
  return [vars](const std::string& name) -> std::optional<std::string> {
    auto it = vars.find(name);
    if (it == vars.end()) return std::nullopt;
    return it->second;
  };
}

const char* kGood = R"(server:
  listen: 0.0.0.0:9090
  max_body_size: 2MiB
  read_timeout: 10s
upstream:
  first_byte_timeout: 1500ms
data_dir: /var/lib/warden
providers:
  - name: openai
    kind: openai
    base_url: https://api.openai.com/v1
    api_key: ${OPENAI_KEY}
    region: us
    price: { input_per_million: 0.15, output_per_million: 0.6 }
  - name: local
    kind: echo
    zero_retention: true
models:
  - alias: gpt
    deployments:
      - { provider: openai, model: gpt-4o-mini }
      - { provider: local, model: echo-1 }
)";

TEST(ConfigTest, LoadsAGoodFile) {
  LoadResult r = LoadConfigFromString(kGood, "good.yaml", Env({{"OPENAI_KEY", "sk-abc"}}));
  ASSERT_TRUE(r.ok()) << (r.problems.empty() ? "" : r.problems[0].ToString());
  const Config& c = *r.config;
  EXPECT_EQ(c.server.host, "0.0.0.0");
  EXPECT_EQ(c.server.port, 9090);
  EXPECT_EQ(c.server.max_body_bytes, 2u << 20);
  EXPECT_EQ(c.server.read_timeout_ms, 10000);
  EXPECT_EQ(c.upstream.first_byte_timeout_ms, 1500);
  EXPECT_EQ(c.key_hash_key_file, "/var/lib/warden/key-hash.key");
  const ProviderConfig* p = c.FindProvider("openai");
  ASSERT_NE(p, nullptr);
  EXPECT_EQ(p->scheme, "https");
  EXPECT_EQ(p->host, "api.openai.com");
  EXPECT_EQ(p->port, 443);
  EXPECT_EQ(p->base_path, "/v1");
  EXPECT_EQ(p->api_key.Reveal(), "sk-abc");
  EXPECT_EQ(p->price.output, 600000);  // $0.6 per million = 600,000 pico-dollars per token, exactly
  EXPECT_EQ(p->price.input, 150000);
  EXPECT_TRUE(c.FindProvider("local")->zero_retention);
  const ModelAlias* m = c.FindModel("gpt");
  ASSERT_NE(m, nullptr);
  ASSERT_EQ(m->deployments.size(), 2u);
  EXPECT_EQ(m->deployments[0].model, "gpt-4o-mini");
  EXPECT_EQ(c.FindModel("nope"), nullptr);
}

TEST(ConfigTest, ShippedDefaultConfigIsValid) {
  LoadResult r = LoadConfig(std::string(WARDEN_SOURCE_DIR) + "/config/warden.yaml");
  for (const auto& p : r.problems) ADD_FAILURE() << p.ToString();
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r.config->server.host, "127.0.0.1");
  EXPECT_EQ(r.config->server.port, 8080);
  EXPECT_EQ(r.config->data_dir, "./data");
  EXPECT_NE(r.config->FindModel("echo"), nullptr);
}

TEST(ConfigTest, ShippedExamplesAreValid) {
  auto env = [](const std::string&) -> std::optional<std::string> { return "set-by-test"; };
  for (const char* name : {"openai.yaml", "failover.yaml"}) {
    LoadResult r = LoadConfig(std::string(WARDEN_SOURCE_DIR) + "/config/examples/" + name, env);
    for (const auto& p : r.problems)
      if (p.severity == ConfigProblem::Severity::kError) ADD_FAILURE() << p.ToString();
    ASSERT_TRUE(r.ok()) << name;
  }
}

TEST(ConfigTest, ProviderKindsRoutingAndProxy) {
  LoadResult r = LoadConfigFromString(R"(upstream:
  proxy: http://proxy.internal:3128
  no_proxy: [vllm.internal]
routing:
  retries_per_deployment: 2
  retry_after_max: 3s
  circuit_breaker: { failures: 7, cooldown: 10s }
providers:
  - { name: a, kind: anthropic, api_key: x }
  - { name: g, kind: gemini }
  - { name: z, kind: azure, base_url: "https://r.openai.azure.com", headers: { X-Team: core } }
models:
  - alias: m
    strategy: weighted
    deployments: [ { provider: a, model: c, weight: 3 }, { provider: g, model: f }, { provider: z, model: d } ]
)", "t.yaml");
  for (const auto& p : r.problems)
    if (p.severity == ConfigProblem::Severity::kError) ADD_FAILURE() << p.ToString();
  ASSERT_TRUE(r.ok());
  const Config& c = *r.config;
  EXPECT_EQ(c.upstream.proxy_host, "proxy.internal");
  EXPECT_EQ(c.upstream.proxy_port, 3128);
  EXPECT_EQ(c.routing.retries_per_deployment, 2);
  EXPECT_EQ(c.routing.retry_after_max_ms, 3000);
  EXPECT_EQ(c.routing.breaker_failures, 7);
  EXPECT_EQ(c.FindProvider("a")->host, "api.anthropic.com");
  EXPECT_EQ(c.FindProvider("a")->api_version, "2023-06-01");
  EXPECT_EQ(c.FindProvider("g")->base_path, "/v1beta");
  EXPECT_EQ(c.FindProvider("z")->api_version, "2024-10-21");
  ASSERT_EQ(c.FindProvider("z")->headers.size(), 1u);
  EXPECT_EQ(c.FindModel("m")->strategy, RoutingStrategy::kWeighted);
  EXPECT_EQ(c.FindModel("m")->deployments[0].weight, 3);

  LoadResult bad = LoadConfigFromString(R"(upstream: { proxy: "https://user:pw@proxy:3128" }
providers:
  - { name: a, kind: bard }
  - { name: z, kind: azure }
models:
  - { alias: m, strategy: fastest, deployments: [ { provider: a } ] }
)", "bad.yaml");
  EXPECT_FALSE(bad.ok());
  std::string all;
  for (const auto& p : bad.problems) all += p.ToString() + "\n";
  EXPECT_NE(all.find("kind must be one of: openai, azure, anthropic, gemini, echo"), std::string::npos) << all;
  EXPECT_NE(all.find("(kind azure) needs a base_url"), std::string::npos) << all;
  EXPECT_NE(all.find("strategy must be"), std::string::npos) << all;
  EXPECT_NE(all.find("must not carry credentials"), std::string::npos) << all;
  EXPECT_EQ(all.find("pw@"), std::string::npos) << "a proxy password was quoted";
}

TEST(ConfigTest, AlertWebhook) {
  const std::string providers = "providers:\n  - { name: e, kind: echo }\nmodels:\n  - { alias: m, deployments: [ { provider: e } ] }\n";
  LoadResult ok = LoadConfigFromString(
      providers + "alerts:\n  webhook: { url: \"https://hooks.example.com:8443/services/T0/B0/s3cr3t?x=1\", "
                  "headers: { Authorization: \"Bearer ${HOOK}\" }, attempts: 3, backoff: 2s }\n",
      "a.yaml", Env({{"HOOK", "tok"}}));
  ASSERT_TRUE(ok.ok());
  const WebhookConfig& w = ok.config->alerts.webhook;
  EXPECT_EQ(w.scheme, "https");
  EXPECT_EQ(w.host, "hooks.example.com");
  EXPECT_EQ(w.port, 8443);
  EXPECT_EQ(w.path, "/services/T0/B0/s3cr3t?x=1");
  ASSERT_EQ(w.headers.size(), 1u);
  EXPECT_EQ(w.headers[0].value, "Bearer tok");
  EXPECT_EQ(w.attempts, 3);
  EXPECT_EQ(w.backoff_ms, 2000);
  EXPECT_TRUE(LoadConfigFromString(providers, "n.yaml").config->alerts.webhook.url.empty());  // none by default
  LoadResult signed_hook = LoadConfigFromString(
      providers + "alerts: { webhook: { url: \"https://h/\", secret: \"${HOOK_SECRET}\" } }\n", "s.yaml",
      Env({{"HOOK_SECRET", "s3cr3t"}}));
  ASSERT_TRUE(signed_hook.ok());
  EXPECT_EQ(signed_hook.config->alerts.webhook.secret.Reveal(), "s3cr3t");
  for (const char* bad : {"alerts: { webhook: { url: \"ftp://x/y\" } }\n", "alerts: { webhook: {} }\n",
                          "alerts: { webhook: { url: \"https://u:p@x/\" } }\n",
                          "alerts: { webhook: { url: \"https://x/\", attempts: 0 } }\n",
                          "alerts: { webhook: { url: \"https://x/\", headers: { \"Bad Name\": v } } }\n",
                          "alerts: { email: x }\n"})
    EXPECT_FALSE(LoadConfigFromString(providers + bad, "b.yaml").ok()) << bad;
}

TEST(ConfigTest, ClusterRedis) {
  const std::string providers = "providers:\n  - { name: e, kind: echo }\nmodels:\n  - { alias: m, deployments: [ { provider: e } ] }\n";
  EXPECT_FALSE(LoadConfigFromString(providers, "n.yaml").config->cluster.enabled());  // off by default
  LoadResult ok = LoadConfigFromString(
      providers + "cluster:\n  replica: eu-1\n  key_cache_ttl: 5s\n  redis:\n    url: rediss://redis.internal:6380/3\n"
                  "    username: warden\n    password: \"${REDIS_PASSWORD}\"\n    key_prefix: \"prod:\"\n"
                  "    ca_file: /etc/ssl/redis-ca.pem\n    command_timeout: 250ms\n",
      "c.yaml", Env({{"REDIS_PASSWORD", "pw"}}));
  ASSERT_TRUE(ok.ok());
  const ClusterConfig& c = ok.config->cluster;
  EXPECT_TRUE(c.enabled());
  EXPECT_EQ(c.replica, "eu-1");
  EXPECT_EQ(c.key_cache_ttl_ms, 5000);
  EXPECT_TRUE(c.redis.tls);
  EXPECT_EQ(c.redis.host, "redis.internal");
  EXPECT_EQ(c.redis.port, 6380);
  EXPECT_EQ(c.redis.db, 3);
  EXPECT_EQ(c.redis.username, "warden");
  EXPECT_EQ(c.redis.password.Reveal(), "pw");
  EXPECT_EQ(c.redis.key_prefix, "prod:");
  EXPECT_EQ(c.redis.command_timeout_ms, 250);
  EXPECT_EQ(RedisDisplayName(c.redis), "rediss://redis.internal:6380/3");  // what messages name
  LoadResult plain = LoadConfigFromString(providers + "cluster: { redis: { url: \"redis://[::1]\" } }\n", "p.yaml");
  ASSERT_TRUE(plain.ok());
  EXPECT_EQ(plain.config->cluster.redis.host, "::1");
  EXPECT_EQ(plain.config->cluster.redis.port, 6379);
  EXPECT_FALSE(plain.config->cluster.redis.tls);
  // An empty URL is a single node: one file serves both (url: ${WARDEN_REDIS_URL:-}).
  LoadResult single = LoadConfigFromString(
      providers + "cluster: { redis: { url: \"${WARDEN_REDIS_URL:-}\", password: \"${WARDEN_REDIS_PASSWORD:-}\" } }\n",
      "s.yaml", Env({}));
  ASSERT_TRUE(single.ok());
  EXPECT_FALSE(single.config->cluster.enabled());
  for (const char* bad : {"cluster: { redis: { url: \"http://r:6379\" } }\n",
                          "cluster: { redis: { url: \"redis://user:pw@r:6379\" } }\n",  // a password in the URL
                          "cluster: { redis: { url: \"redis://r:99999\" } }\n", "cluster: { redis: { url: \"redis://r/16\" } }\n",
                          "cluster: { redis: { url: \"redis://r\", ca_file: /x.pem } }\n",  // CA without TLS
                          "cluster: { redis: { url: \"redis://r\", key_prefix: \"\" } }\n",
                          "cluster: { redis: { url: \"redis://r\", command_timeout: 1ms } }\n",
                          "cluster: { replica: \"a b\", redis: { url: \"redis://r\" } }\n", "cluster: { replica: x }\n",
                          "cluster: { redis: { url: \"redis://r\", port: 1 } }\n"}) {
    LoadResult r = LoadConfigFromString(providers + bad, "b.yaml");
    EXPECT_FALSE(r.ok()) << bad;
    for (const auto& p : r.problems) EXPECT_EQ(p.message.find("pw@"), std::string::npos) << p.message;
  }
}

TEST(ConfigTest, RoutingRulesAndFirstByteThresholds) {
  const std::string head = "providers:\n  - { name: e, kind: echo }\nrouting: { ttfb_probe_interval: 10s }\nmodels:\n"
                           "  - { alias: big, deployments: [ { provider: e, max_ttfb: 1500ms } ] }\n"
                           "  - { alias: small, deployments: [ { provider: e } ] }\n";
  LoadResult ok = LoadConfigFromString(
      head + "  - alias: auto\n    deployments: [ { provider: e } ]\n    rules:\n"
             "      - { name: long, use: big, when: { min_prompt_tokens: 4000 } }\n"
             "      - { name: quick, use: small, when: { max_prompt_tokens: 200, max_max_tokens: 256, tools: false } }\n"
             "      - { name: research, use: big, when: { tag: team=research, images: true } }\n",
      "r.yaml");
  ASSERT_TRUE(ok.ok());
  EXPECT_EQ(ok.config->routing.ttfb_probe_interval_ms, 10000);
  EXPECT_EQ(ok.config->FindModel("big")->deployments[0].max_ttfb_ms, 1500);
  const auto& rules = ok.config->FindModel("auto")->rules;
  ASSERT_EQ(rules.size(), 3u);
  EXPECT_EQ(rules[0].min_prompt_tokens, 4000);
  EXPECT_EQ(rules[0].max_prompt_tokens, -1);
  EXPECT_EQ(rules[1].max_max_tokens, 256);
  EXPECT_EQ(rules[1].tools, 0);
  EXPECT_EQ(rules[2].tag_name, "team");
  EXPECT_EQ(rules[2].tag_value, "research");
  EXPECT_EQ(rules[2].images, 1);
  for (const char* bad : {
           "      - { name: x, use: nowhere, when: { tools: true } }\n",  // not an alias
           "      - { name: x, use: auto, when: { tools: true } }\n",     // itself
           "      - { name: x, use: big, when: {} }\n",                   // no condition
           "      - { name: x, use: big, when: { colour: red } }\n",
           "      - { name: x, use: big, when: { tag: team } }\n",
           "      - { name: \"a b\", use: big, when: { tools: true } }\n",
           "      - { name: x, use: big, when: { tools: true } }\n      - { name: x, use: small, when: { tools: false } }\n"})
    EXPECT_FALSE(LoadConfigFromString(head + "  - alias: auto\n    deployments: [ { provider: e } ]\n    rules:\n" + bad,
                                      "b.yaml").ok())
        << bad;
  // A target with rules of its own (no chains).
  EXPECT_FALSE(LoadConfigFromString(head + "  - alias: a1\n    deployments: [ { provider: e } ]\n    rules: [ { name: x, use: a2, when: { tools: true } } ]\n"
                                           "  - alias: a2\n    deployments: [ { provider: e } ]\n    rules: [ { name: y, use: big, when: { tools: true } } ]\n",
                                    "c.yaml").ok());
}

TEST(ConfigTest, WebhookSignatureIsHmacSha256OfTimeDotBody) {
  // Recomputed with OpenSSL, as a receiver would: HMAC-SHA256(secret, "<t>.<body>"), hex.
  const std::string body = R"({"type":"budget_threshold","percent":80})";
  const std::string text = "1764930000." + body;
  unsigned char mac[32];
  unsigned int len = 0;
  HMAC(EVP_sha256(), "Jefe", 4, reinterpret_cast<const unsigned char*>(text.data()), text.size(), mac, &len);
  ASSERT_EQ(len, 32u);
  EXPECT_EQ(WebhookSignature(Secret(std::string("Jefe")), 1764930000, body),
            "t=1764930000,v1=" + ToHex(std::string_view(reinterpret_cast<const char*>(mac), len)));
  EXPECT_NE(WebhookSignature(Secret(std::string("Jefe")), 1764930000, body + " "),
            WebhookSignature(Secret(std::string("Jefe")), 1764930000, body));
}

TEST(ConfigTest, ReportsEveryProblemWithFileAndLine) {
  const char* bad = R"(server:
  listen: nonsense
  max_body_size: 12 parsecs
  colour: blue
providers:
  - name: p1
    kind: carrier-pigeon
  - name: p2
    kind: openai
    base_url: ftp://example.com
models:
  - alias: m
    deployments:
      - { provider: ghost, model: x }
)";
  LoadResult r = LoadConfigFromString(bad, "bad.yaml", Env({}));
  EXPECT_FALSE(r.ok());
  std::map<int, std::string> by_line;
  for (const auto& p : r.problems) {
    EXPECT_EQ(p.file, "bad.yaml");
    by_line[p.line] += p.message;
  }
  EXPECT_NE(by_line[2].find("listen"), std::string::npos);
  EXPECT_NE(by_line[3].find("max_body_size"), std::string::npos);
  EXPECT_NE(by_line[4].find("colour"), std::string::npos);
  EXPECT_NE(by_line[7].find("kind"), std::string::npos);
  EXPECT_NE(by_line[10].find("base_url"), std::string::npos);
  EXPECT_NE(by_line[14].find("ghost"), std::string::npos);
  EXPECT_GE(r.problems.size(), 6u);
  EXPECT_EQ(r.problems[0].ToString().rfind("bad.yaml:2:", 0), 0u) << r.problems[0].ToString();
}

TEST(ConfigTest, MissingEnvVariableIsAnErrorThatNamesOnlyTheVariable) {
  LoadResult r = LoadConfigFromString(kGood, "good.yaml", Env({}));
  ASSERT_FALSE(r.ok());
  ASSERT_EQ(r.problems.size(), 1u);
  EXPECT_EQ(r.problems[0].line, 12);
  EXPECT_NE(r.problems[0].message.find("OPENAI_KEY"), std::string::npos);
}

TEST(ConfigTest, LiteralKeyIsAWarningAndNeverQuoted) {
  std::string text = kGood;
  text.replace(text.find("${OPENAI_KEY}"), 13, "sk-literal-secret-value");
  LoadResult r = LoadConfigFromString(text, "lit.yaml", Env({}));
  ASSERT_TRUE(r.ok());
  ASSERT_EQ(r.problems.size(), 1u);
  EXPECT_EQ(r.problems[0].severity, ConfigProblem::Severity::kWarning);
  EXPECT_EQ(r.problems[0].ToString().find("sk-literal"), std::string::npos);
}

TEST(ConfigTest, SyntaxErrorHasALine) {
  LoadResult r = LoadConfigFromString("server:\n  listen: [oops\n", "syntax.yaml", Env({}));
  ASSERT_FALSE(r.ok());
  ASSERT_FALSE(r.problems.empty());
  EXPECT_GT(r.problems[0].line, 0);
}

TEST(ConfigTest, SubstituteEnv) {
  auto env = Env({{"A", "1"}, {"EMPTY", ""}});
  std::string missing;
  EXPECT_EQ(SubstituteEnv("x${A}y", env, &missing), "x1y");
  EXPECT_EQ(SubstituteEnv("${B:-dflt}", env, &missing), "dflt");
  EXPECT_EQ(SubstituteEnv("${A:-dflt}", env, &missing), "1");
  EXPECT_EQ(SubstituteEnv("cost $$5", env, &missing), "cost $5");
  EXPECT_EQ(SubstituteEnv("${EMPTY}", env, &missing), "");
  EXPECT_EQ(SubstituteEnv("${NOPE}", env, &missing), std::nullopt);
  EXPECT_EQ(missing, "NOPE");
}

}  // namespace
}  // namespace warden

namespace warden {
namespace {

// Found by tests/fuzz/config_fuzz: a section that is not a mapping where one is expected must be
// a reported problem, never an exception out of yaml-cpp.
TEST(ConfigFuzzRegressions, SectionsOfTheWrongShapeAreProblemsNotCrashes) {
  for (const char* yaml : {"upstream: 5\n", "upstream: [a, b]\n", "server: x\n", "admin: [1]\n", "routing: 3\n",
                           "audit: yes\n", "providers: {a: 1}\n", "models: 7\n", "providers:\n  - 5\n",
                           "models:\n  - alias: m\n    deployments: 3\n"}) {
    LoadResult r;
    ASSERT_NO_THROW(r = LoadConfigFromString(yaml, "t.yaml", [](const std::string&) { return std::nullopt; })) << yaml;
    EXPECT_FALSE(r.ok()) << yaml;
    EXPECT_FALSE(r.problems.empty()) << yaml;
  }
}

}  // namespace
}  // namespace warden
