// Integration: App::Reload (what SIGHUP does). New requests run on the new providers, models
// and policies; a stream in flight finishes on the config it started with; a bad file changes
// nothing; settings that need a restart are named.
#include <gtest/gtest.h>

#include <chrono>
#include <fstream>
#include <sstream>
#include <thread>

#include "server/load.h"
#include "support/fake_provider.h"
#include "support/harness.h"

namespace warden::testing {
namespace {

std::string Replace(std::string text, const std::string& from, const std::string& to) {
  size_t at = text.find(from);
  if (at == std::string::npos) throw std::runtime_error("no '" + from + "' in the config");
  return text.replace(at, from.size(), to);
}

// A provider that streams `chunks` chunks 100 ms apart, then [DONE].
FakeHandler SlowStream(int chunks) {
  return [=](const FakeRequest& r, Poco::Net::HTTPServerResponse& resp) {
    std::ostream& out = StartEventStream(resp);
    for (int i = 0; i < chunks && out.good(); ++i) {
      SendEvent(out, Dump(ChatChunk(r.json()["model"], "part" + std::to_string(i) + " ")));
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
    SendEvent(out, Dump(ChatChunk(r.json()["model"], "", true)));
    SendEvent(out, "[DONE]");
  };
}

Json Chat(const std::string& model, bool stream = false) {
  Json body{{"model", model}, {"messages", {{{"role", "user"}, {"content", "hi"}}}}};
  if (stream) body["stream"] = true;
  return body;
}

TEST(ReloadTest, NewRequestsUseTheNewConfigWhileAStreamFinishesOnTheOld) {
  FakeProvider old_provider(SlowStream(6));
  FakeProvider new_provider;
  GatewayUnderTest gw(OneProviderYaml(old_provider.base_url()));
  const std::string path = gw.dir().path() + "/warden.yaml";
  const std::string original = ReadFile(path);

  StreamingCall stream(gw.port(), "/v1/chat/completions", Dump(Chat("chat-alias", true)), gw.Auth());
  ASSERT_EQ(stream.status(), 200);
  ASSERT_NE(stream.ReadUntil("part0").find("part0"), std::string::npos);

  // The alias moves to another provider, a second alias appears.
  std::string changed = Replace(original, old_provider.base_url(), new_provider.base_url()) +
                        "  - alias: added-alias\n    deployments:\n      - { provider: fake, model: m2 }\n";
  gw.dir().Write("warden.yaml", changed);
  Loaded loaded = LoadAll(path);
  ASSERT_TRUE(loaded.ok()) << (loaded.problems.empty() ? "" : loaded.problems[0].ToString());
  auto restart = gw.app().Reload(loaded);
  ASSERT_TRUE(restart.ok()) << restart.error().message;
  EXPECT_TRUE(restart->empty());

  HttpResult moved = gw.Post("/v1/chat/completions", Chat("chat-alias"));
  EXPECT_EQ(moved.status, 200) << moved.body;
  HttpResult added = gw.Post("/v1/chat/completions", Chat("added-alias"));
  EXPECT_EQ(added.status, 200) << added.body;
  EXPECT_EQ(new_provider.requests().size(), 2u);
  EXPECT_EQ(old_provider.requests().size(), 1u);  // only the stream

  // The stream that started before the reload completes, whole, from the old provider.
  const std::string rest = stream.ReadAll();
  EXPECT_NE(rest.find("part5"), std::string::npos) << rest;
  EXPECT_NE(rest.find("data: [DONE]"), std::string::npos) << rest;
}

TEST(ReloadTest, APolicyChangeAppliesToTheNextRequestAndABadFileChangesNothing) {
  FakeProvider fake;
  GatewayUnderTest gw(OneProviderYaml(fake.base_url()), "", "", {{"team", "models: [\"*\"]\n"}});
  const std::string key = gw.CreateKey("team");
  const std::string path = gw.dir().path() + "/warden.yaml";
  ASSERT_EQ(gw.PostAs(key, "/v1/chat/completions", Chat("chat-alias")).status, 200);

  // The team policy no longer allows the alias.
  gw.dir().Write("policies/team.yaml", "name: team\nmodels: [\"other-*\"]\n");
  auto restart = gw.app().Reload(LoadAll(path));
  ASSERT_TRUE(restart.ok());
  HttpResult refused = gw.PostAs(key, "/v1/chat/completions", Chat("chat-alias"));
  EXPECT_EQ(refused.status, 403) << refused.body;
  EXPECT_EQ(gw.Post("/v1/chat/completions", Chat("chat-alias")).status, 200);  // default unchanged

  // A broken policy file: the load fails, the running config stays (team still refused,
  // default still served), and nothing else moved.
  gw.dir().Write("policies/team.yaml", "name: team\nmodels: [\"*\"\n");
  Loaded broken = LoadAll(path);
  EXPECT_FALSE(broken.ok());
  EXPECT_FALSE(gw.app().Reload(broken).ok());
  EXPECT_EQ(gw.PostAs(key, "/v1/chat/completions", Chat("chat-alias")).status, 403);
  EXPECT_EQ(gw.Post("/v1/chat/completions", Chat("chat-alias")).status, 200);

  // A policy naming a rule set that does not exist is an error of the load, too.
  gw.dir().Write("policies/team.yaml", "name: team\nredaction:\n  rule_sets: [no-such-rules]\n");
  EXPECT_FALSE(LoadAll(path).ok());
}

TEST(ReloadTest, SettingsThatNeedARestartAreNamedAndKept) {
  FakeProvider fake;
  GatewayUnderTest gw(OneProviderYaml(fake.base_url()));
  const std::string path = gw.dir().path() + "/warden.yaml";
  const uint16_t port = gw.port();
  std::string changed = Replace(ReadFile(path), "  worker_threads: 16\n", "  worker_threads: 3\n");
  changed = Replace(changed, "  connect_timeout: 2s\n", "  connect_timeout: 3s\n");
  gw.dir().Write("warden.yaml", changed);
  auto restart = gw.app().Reload(LoadAll(path));
  ASSERT_TRUE(restart.ok());
  EXPECT_EQ(*restart, (std::vector<std::string>{"server", "upstream"}));
  EXPECT_EQ(gw.port(), port);
  EXPECT_EQ(gw.Post("/v1/chat/completions", Chat("chat-alias")).status, 200);
}

// Issue 17: routing and retry settings come from the same snapshot as everything else. A
// provider that always fails: one upstream request per client request, then (after a reload
// raising retries_per_deployment to 2) three — with nothing named as waiting for a restart.
TEST(ReloadTest, RoutingAndRetriesChangeWithoutARestart) {
  FakeProvider fake([](const FakeRequest&, Poco::Net::HTTPServerResponse& resp) {
    ReplyJson(resp, 500, Json{{"error", {{"message", "down"}}}});
  });
  const std::string routing = "routing: { retries_per_deployment: 0, backoff_initial: 1ms, backoff_max: 2ms, "
                              "circuit_breaker: { failures: 0 } }\n";
  GatewayUnderTest gw(OneProviderYaml(fake.base_url()) + routing);
  const std::string path = gw.dir().path() + "/warden.yaml";
  EXPECT_EQ(gw.Post("/v1/chat/completions", Chat("chat-alias")).status, 502);
  ASSERT_EQ(fake.requests().size(), 1u);

  gw.dir().Write("warden.yaml", Replace(ReadFile(path), "retries_per_deployment: 0", "retries_per_deployment: 2"));
  auto restart = gw.app().Reload(LoadAll(path));
  ASSERT_TRUE(restart.ok());
  EXPECT_TRUE(restart->empty()) << (*restart)[0];
  HttpResult r = gw.Post("/v1/chat/completions", Chat("chat-alias"));
  EXPECT_EQ(r.status, 502);
  EXPECT_EQ(fake.requests().size(), 4u);
  EXPECT_EQ(r.header("x-warden-attempts"), "3");
}

}  // namespace
}  // namespace warden::testing
