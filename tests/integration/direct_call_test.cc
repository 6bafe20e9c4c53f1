// deploy/direct-call against fake providers on loopback: it reads the gateway's config and the
// shipped policies, calls only what the policy allows (hipaa: zero-retention only; eu-only: EU
// regions only) even when that means failing, redacts with `warden redact`, fails over on
// refused connections, 429 and 5xx, keeps the provider key off every command line, and logs
// without content.
#include <gtest/gtest.h>

#include <sys/wait.h>

#include <algorithm>
#include <cstdlib>
#include <fstream>
#include <sstream>
#include <string>

#include "support/fake_provider.h"
#include "support/harness.h"

namespace warden::testing {
namespace {

const std::string kKey = "sk-direct-PLANTED-7f3a9c";
const std::string kSsn = "123-45-6789";
const std::string kEmail = "jane.roe@example.org";

struct ScriptRun {
  int exit_code = -1;
  std::string out, err;
};

// A scratch copy of the script (so it cannot find the build tree's warden by itself), a
// config, and a `curl` wrapper on PATH that records every argument vector it is given.
class DirectCall {
 public:
  explicit DirectCall(const std::string& config_yaml) {
    script_ = dir_.Write("direct-call", ReadFile(std::string(WARDEN_SOURCE_DIR) + "/deploy/direct-call"));
    config_ = dir_.Write("warden.yaml", "data_dir: " + dir_.path() + "/data\npolicies_dir: " +
                                            std::string(WARDEN_SOURCE_DIR) + "/policies\n" + config_yaml);
    std::system(("mkdir -p " + dir_.path() + "/bin").c_str());
    dir_.Write("bin/curl", "#!/bin/sh\nprintf '%s\\n' \"$*\" >> " + dir_.path() +
                               "/curl-argv.log\nexec /usr/bin/curl \"$@\"\n");
    std::system(("chmod +x " + dir_.path() + "/bin/curl").c_str());
  }

  // Runs the script with `args`; `warden` says whether WARDEN_BIN points at the real binary.
  ScriptRun Call(const std::string& args, bool warden = true, const std::string& input = "") {
    std::string in = dir_.Write("stdin", input);
    std::string cmd = "cd " + dir_.path() + " && env TMPDIR=" + dir_.path() + " DC_KEY=" + kKey + " PATH=" + dir_.path() +
                      "/bin:/usr/bin:/bin WARDEN_BIN=" + (warden ? WARDEN_BIN : "") + " sh " + script_ +
                      " --config " + config_ + " " + args + " <" + in + " >out 2>err";
    ScriptRun r;
    int status = std::system(cmd.c_str());
    r.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
    r.out = ReadFile(dir_.path() + "/out");
    r.err = ReadFile(dir_.path() + "/err");
    return r;
  }
  std::string Log() const { return ReadFile(dir_.path() + "/data/direct-call.log"); }
  std::string CurlArgv() const { return ReadFile(dir_.path() + "/curl-argv.log"); }
  const std::string& path() const { return dir_.path(); }

 private:
  TempDir dir_;
  std::string script_, config_;
};

std::string Provider(const std::string& name, const std::string& kind, const std::string& base_url,
                     const std::string& region, bool zero_retention) {
  return "  - name: " + name + "\n    kind: " + kind + "\n    base_url: " + base_url +
         "\n    api_key: ${DC_KEY}\n    region: " + region +
         "\n    zero_retention: " + (zero_retention ? "true" : "false") + "\n";
}

FakeHandler Status(int status) {
  return [status](const FakeRequest&, Poco::Net::HTTPServerResponse& response) {
    ReplyJson(response, status, {{"error", {{"message", "injected"}}}}, {{"Retry-After", "1"}});
  };
}

size_t Lines(const std::string& s) { return static_cast<size_t>(std::count(s.begin(), s.end(), '\n')); }

TEST(DirectCall, HipaaSkipsNonZeroRetentionRedactsAndNeverLeaksTheKey) {
  FakeProvider cheap;                                   // first in the list, but not a BAA
  FakeProvider baa(FakeProvider::AnthropicHandler());   // zero retention
  DirectCall dc("providers:\n" + Provider("cheap-us", "openai", cheap.base_url(), "us", false) +
                Provider("baa", "anthropic", baa.base_url(), "us", true) +
                "models:\n  - alias: smart\n    deployments:\n      - { provider: cheap-us, model: gpt-x }\n"
                "      - provider: baa\n        model: claude-x\n");
  std::string prompt = "Patient SSN " + kSsn + ", write to " + kEmail + "\n";
  ScriptRun r = dc.Call("--policy hipaa --model smart --system 'You are terse.'", true, prompt);
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.out.find("fake answer"), std::string::npos) << r.out;

  EXPECT_EQ(cheap.requests().size(), 0u) << "hipaa traffic reached a non-zero-retention provider";
  ASSERT_EQ(baa.requests().size(), 1u);
  const FakeRequest sent = baa.requests()[0];
  EXPECT_EQ(sent.path, "/v1/messages");
  EXPECT_EQ(sent.headers.at("x-api-key"), kKey);
  EXPECT_EQ(sent.headers.at("anthropic-version"), "2023-06-01");
  Json body = sent.json();
  EXPECT_EQ(body["model"].get<std::string>(), "claude-x");
  EXPECT_EQ(body["system"].get<std::string>(), "You are terse.");
  std::string content = body["messages"][0]["content"].get<std::string>();
  EXPECT_EQ(sent.body.find(kSsn), std::string::npos) << content;
  EXPECT_EQ(sent.body.find(kEmail), std::string::npos) << content;
  EXPECT_NE(content.find("Patient SSN "), std::string::npos) << content;  // the rest goes as written

  // The key never sat on curl's command line; the log has the call but no content or key.
  std::string argv = dc.CurlArgv();
  EXPECT_NE(argv.find("--config -"), std::string::npos) << argv;
  EXPECT_EQ(argv.find(kKey), std::string::npos);
  std::string log = dc.Log();
  EXPECT_EQ(Lines(log), 1u) << log;
  Json line = Json::parse(log);
  EXPECT_EQ(line["outcome"].get<std::string>(), "ok");
  EXPECT_EQ(line["provider"].get<std::string>(), "baa");
  EXPECT_EQ(line["policy"].get<std::string>(), "hipaa");
  EXPECT_EQ(line["status"].get<int>(), 200);
  EXPECT_GE(line["redacted"]["US_SSN"].get<int>(), 1) << log;
  for (const std::string& planted : {kKey, kSsn, kEmail, std::string("fake answer"), std::string("terse")})
    EXPECT_TRUE(FilesContaining(dc.path() + "/data", planted).empty()) << planted;
  // Nothing of the call is left in the scratch directory either.
  EXPECT_EQ(std::system(("ls -d " + dc.path() + "/direct-call.* >/dev/null 2>&1").c_str()) == 0, false);
}

TEST(DirectCall, EuOnlyNeverFallsBackOutsideTheEuEvenWhenTheEuIsDown) {
  FakeProvider us;
  FakeProvider eu(Status(503));
  DirectCall dc("providers:\n" + Provider("openai-us", "openai", us.base_url(), "us", false) +
                Provider("mistral-eu", "openai", eu.base_url(), "eu-west", false) +
                "models:\n  - alias: chat\n    deployments:\n      - { provider: openai-us, model: a }\n"
                "      - { provider: mistral-eu, model: b }\n");
  ScriptRun r = dc.Call("--policy eu-only --model chat --message hello");
  EXPECT_EQ(r.exit_code, 4) << r.err;
  EXPECT_EQ(eu.requests().size(), 1u);
  EXPECT_EQ(us.requests().size(), 0u) << "eu-only traffic left the EU";
  EXPECT_NE(r.err.find("every deployment allowed by policy 'eu-only' failed"), std::string::npos) << r.err;
  std::string log = dc.Log();
  EXPECT_NE(log.find("\"outcome\":\"failed\""), std::string::npos) << log;
  EXPECT_EQ(log.find("hello"), std::string::npos);

  // The plan names what would be tried; a model with no EU deployment is refused outright.
  ScriptRun plan = dc.Call("--policy eu-only --model chat --plan");
  EXPECT_EQ(plan.exit_code, 0);
  EXPECT_EQ(plan.out, "mistral-eu\topenai\teu-west\tb\n");
  ScriptRun dflt = dc.Call("--policy default --model chat --plan");
  EXPECT_EQ(dflt.out, "openai-us\topenai\tus\ta\nmistral-eu\topenai\teu-west\tb\n");
}

TEST(DirectCall, FailsOverOnRefusedConnection429And5xxToTheNextAllowedDeployment) {
  FakeProvider limited(Status(429));
  FakeProvider gemini(FakeProvider::GeminiHandler());
  DirectCall dc("upstream:\n  connect_timeout: 2s\nproviders:\n" +
                Provider("gone", "openai", "http://127.0.0.1:" + std::to_string(UnusedPort()) + "/v1", "eu", false) +
                Provider("limited", "openai", limited.base_url(), "eu", false) +
                Provider("gem", "gemini", gemini.base_url(), "eu", false) +
                "models:\n  - alias: m\n    deployments:\n      - { provider: gone, model: g1 }\n"
                "      - { provider: limited, model: l1 }\n      - { provider: gem, model: gemini-x }\n");
  ScriptRun r = dc.Call("--policy eu-only --model m --max-tokens 7", true, "Say \"hi\"\tplease\n");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.out.find("fake answer"), std::string::npos) << r.out;
  ASSERT_EQ(limited.requests().size(), 1u);
  ASSERT_EQ(gemini.requests().size(), 1u);
  const FakeRequest sent = gemini.requests()[0];
  EXPECT_EQ(sent.path, "/v1/models/gemini-x:generateContent");
  EXPECT_EQ(sent.headers.at("x-goog-api-key"), kKey);
  EXPECT_EQ(sent.path.find(kKey), std::string::npos);  // never in the URL
  Json body = sent.json();
  EXPECT_EQ(body["contents"][0]["parts"][0]["text"].get<std::string>(), "Say \"hi\"\tplease\n");
  EXPECT_EQ(body["generationConfig"]["maxOutputTokens"].get<int>(), 7);
  // The OpenAI-kind attempt carried the key as a bearer token and the deployment's model.
  EXPECT_EQ(limited.requests()[0].headers.at("authorization"), "Bearer " + kKey);
  EXPECT_EQ(limited.requests()[0].json()["model"].get<std::string>(), "l1");

  std::string log = dc.Log();
  ASSERT_EQ(Lines(log), 3u) << log;
  EXPECT_NE(log.find("\"provider\":\"gone\",\"deployment_model\":\"g1\",\"status\":0,\"outcome\":\"failed\","
                     "\"reason\":\"unreachable\""),
            std::string::npos)
      << log;
  EXPECT_NE(log.find("\"status\":429,\"outcome\":\"failed\",\"reason\":\"retryable\""), std::string::npos) << log;
  EXPECT_NE(log.find("\"provider\":\"gem\",\"deployment_model\":\"gemini-x\",\"status\":200,\"outcome\":\"ok\""),
            std::string::npos)
      << log;
}

TEST(DirectCall, RefusesWhatThePolicyRefusesWithoutCallingAnything) {
  FakeProvider fake;
  DirectCall dc("providers:\n" + Provider("p", "openai", fake.base_url(), "us", true) +
                "models:\n  - alias: m\n    deployments:\n      - { provider: p, model: x }\n");
  // hipaa redacts: without the warden binary the prompt is not sent unredacted.
  ScriptRun no_binary = dc.Call("--policy hipaa --model m --message " + kSsn, false);
  EXPECT_EQ(no_binary.exit_code, 3);
  EXPECT_NE(no_binary.err.find("warden binary is not available"), std::string::npos) << no_binary.err;
  // eu-only: the only deployment is in the US.
  ScriptRun region = dc.Call("--policy eu-only --model m --message hi");
  EXPECT_EQ(region.exit_code, 3);
  EXPECT_NE(region.err.find("p:region"), std::string::npos) << region.err;
  // Unknown alias (a configuration error, not a policy refusal), unknown policy, bad usage.
  EXPECT_EQ(dc.Call("--policy default --model nope --message hi").exit_code, 1);
  EXPECT_EQ(dc.Call("--policy no-such-policy --model m --message hi").exit_code, 1);
  EXPECT_EQ(dc.Call("--policy '../etc' --model m").exit_code, 2);
  EXPECT_EQ(dc.Call("--model m").exit_code, 2);
  EXPECT_EQ(fake.requests().size(), 0u);

  std::string log = dc.Log();
  EXPECT_GE(Lines(log), 3u) << log;
  EXPECT_NE(log.find("\"outcome\":\"refused\""), std::string::npos);
  EXPECT_EQ(log.find(kSsn), std::string::npos);

  // The same deployment is fine for the default policy, and answers.
  ScriptRun ok = dc.Call("--policy default --model m --message hi");
  EXPECT_EQ(ok.exit_code, 0) << ok.err;
  EXPECT_EQ(fake.requests().size(), 1u);
}

// Issue 16: with the key's variable unset, the prompt went out with no credential and only the
// provider's 401 showed; and zero retention never sent store:false.
TEST(DirectCall, AnUnsetCredentialVariableIsRefusedBeforeAnythingIsSent) {
  FakeProvider fake;
  DirectCall dc("providers:\n  - { name: p, kind: openai, base_url: \"" + fake.base_url() +
                "\", api_key: \"${DC_UNSET_KEY_VAR}\", region: us, zero_retention: true }\n"
                "models:\n  - alias: m\n    deployments:\n      - { provider: p, model: x }\n");
  ScriptRun r = dc.Call("--policy default --model m --message hi");
  EXPECT_EQ(r.exit_code, 1) << r.err;
  EXPECT_NE(r.err.find("$DC_UNSET_KEY_VAR, which is not set"), std::string::npos) << r.err;
  EXPECT_EQ(fake.requests().size(), 0u) << "the prompt was sent without a credential";
}

TEST(DirectCall, ZeroRetentionSendsStoreFalseWhereTheGatewayWould) {
  FakeProvider told, not_told;
  DirectCall dc("providers:\n" + Provider("told", "openai", told.base_url(), "us", true) +
                "    store_field: true\n" + Provider("plain", "openai", not_told.base_url(), "us", true) +
                "models:\n  - alias: a\n    deployments:\n      - { provider: told, model: x }\n"
                "  - alias: b\n    deployments:\n      - { provider: plain, model: y }\n");
  ASSERT_EQ(dc.Call("--policy hipaa --model a --message hi").exit_code, 0);
  ASSERT_EQ(told.requests().size(), 1u);
  EXPECT_EQ(told.requests()[0].json()["store"], false) << told.requests()[0].body;
  ASSERT_EQ(dc.Call("--policy default --model a --message hi").exit_code, 0);  // not zero-retention
  EXPECT_FALSE(told.requests()[1].json().contains("store")) << told.requests()[1].body;
  ASSERT_EQ(dc.Call("--policy hipaa --model b --message hi").exit_code, 0);  // store_field off
  EXPECT_FALSE(not_told.requests()[0].json().contains("store")) << not_told.requests()[0].body;
}

TEST(DirectCall, ReadsTheShippedExampleConfig) {
  DirectCall dc("");
  std::string example = std::string(WARDEN_SOURCE_DIR) + "/config/examples/failover.yaml";
  std::string base = "cd " + dc.path() + " && sh " + std::string(WARDEN_SOURCE_DIR) + "/deploy/direct-call --config " +
                     example + " --plan ";
  auto plan = [&](const std::string& args) {
    std::string out = dc.path() + "/plan.out";
    int st = std::system((base + args + " >" + out + " 2>/dev/null").c_str());
    return std::make_pair(WIFEXITED(st) ? WEXITSTATUS(st) : -1, ReadFile(out));
  };
  // failover.yaml has no policies_dir: the script runs from a directory without policies.
  EXPECT_EQ(plan("--policy eu-only --model smart-eu").first, 1);
  std::string with_policies = "cd " + std::string(WARDEN_SOURCE_DIR) + " && sh deploy/direct-call --config " +
                              example + " --log " + dc.path() + "/log --plan ";
  auto plan2 = [&](const std::string& args) {
    std::string out = dc.path() + "/plan.out";
    int st = std::system((with_policies + args + " >" + out + " 2>/dev/null").c_str());
    return std::make_pair(WIFEXITED(st) ? WEXITSTATUS(st) : -1, ReadFile(out));
  };
  EXPECT_EQ(plan2("--policy eu-only --model smart-eu"), std::make_pair(0, std::string("azure-eu\tazure\teu\tgpt-4o-eu\n")));
  EXPECT_EQ(plan2("--policy eu-only --model smart").first, 3);
  EXPECT_EQ(plan2("--policy default --model smart").second,
            "openai\topenai\tus\tgpt-4o\nanthropic\tanthropic\tus\tclaude-sonnet-4-5\ngemini\tgemini\tus\tgemini-2.5-flash\n");
}

}  // namespace
}  // namespace warden::testing
