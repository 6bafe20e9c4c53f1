// Secrets never leak: plant a provider key and a client key, run traffic including failures
// (some of which make the provider quote its key back), then search every log line, every
// response and the whole data directory for the planted values.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <sstream>

#include "support/fake_provider.h"
#include "support/harness.h"
#include "support/redis_server.h"

namespace warden::testing {
namespace {

const std::string kProviderKey = "sk-PLANTED-provider-7f3a9c1e5b2d4f60";

TEST(SecretsTest, PlantedKeysAppearNowhere) {
  int mode = 0;
  FakeProvider fake([&](const FakeRequest& r, Poco::Net::HTTPServerResponse& resp) {
    const std::string quoted = "Incorrect API key provided: " + r.headers.at("authorization");
    switch (mode) {
      case 1: ReplyJson(resp, 401, {{"error", {{"message", quoted}}}}); return;
      case 2: ReplyJson(resp, 400, {{"error", {{"message", quoted}, {"param", "messages"}}}}); return;
      case 3: ReplyJson(resp, 500, {{"error", {{"message", quoted}}}}); return;
      case 4: ReplyJson(resp, 429, {{"error", {{"message", quoted}}}}, {{"Retry-After", "1"}}); return;
      default: FakeProvider::DefaultHandler()(r, resp);
    }
  });
  TempDir secrets;
  std::string key_file = secrets.Write("provider.key", kProviderKey + "\n");
  GatewayUnderTest gw(OneProviderYaml(fake.base_url(), "chat-alias", "fake-model-1",
                                      "    api_key_file: " + key_file + "\n"));
  const std::string client_key = gw.key();
  // wdn_<env>_<id>_<secret>: the secret is everything after the third '_' — it is base64url and
  // may contain '_' itself (taking the text after the last '_' gave a 1-3 character "secret" that
  // any file contains, about one run in ten).
  size_t cut = 0;
  for (int i = 0; i < 3; ++i) cut = client_key.find('_', cut) + 1;
  const std::string client_secret_part = client_key.substr(cut);
  ASSERT_EQ(client_secret_part.size(), 43u) << client_key;
  std::string wrong_key = client_key;
  wrong_key.back() = wrong_key.back() == 'Q' ? 'R' : 'Q';

  Json chat = {{"model", "chat-alias"}, {"messages", {{{"role", "user"}, {"content", "hi"}}}}};
  Json stream = chat;
  stream["stream"] = true;
  std::vector<HttpResult> responses;
  for (mode = 0; mode <= 4; ++mode) {
    responses.push_back(gw.Post("/v1/chat/completions", chat));
    responses.push_back(gw.Post("/v1/chat/completions", stream));
  }
  mode = 0;
  responses.push_back(gw.Post("/v1/embeddings", {{"model", "chat-alias"}, {"input", "x"}}));
  responses.push_back(Http(gw.port(), "POST", "/v1/chat/completions", Dump(chat),
                           {{"Authorization", "Bearer " + wrong_key}, {"Content-Type", "application/json"}}));
  responses.push_back(Http(gw.port(), "POST", "/v1/chat/completions", "{broken",
                           gw.Auth()));
  responses.push_back(Http(gw.port(), "GET", "/v1/models", "", gw.Auth("")));

  // The plant is real: the provider did receive its key, and the failures happened.
  ASSERT_FALSE(fake.requests().empty());
  EXPECT_EQ(fake.requests()[0].headers.at("authorization"), "Bearer " + kProviderKey);
  EXPECT_EQ(responses[0].status, 200);
  EXPECT_EQ(responses[2].status, 502);
  EXPECT_EQ(responses[4].status, 400);
  EXPECT_EQ(responses[8].status, 429);

  for (const auto& r : responses) {
    EXPECT_EQ(r.body.find(kProviderKey), std::string::npos) << r.body;
    EXPECT_EQ(r.body.find("PLANTED"), std::string::npos) << r.body;
    for (const auto& [name, value] : r.headers) EXPECT_EQ(value.find("PLANTED"), std::string::npos) << name;
    EXPECT_EQ(r.body.find(client_secret_part), std::string::npos);
  }

  gw.app().Stop();
  std::string log = gw.ReadLog();
  ASSERT_NE(log.find("\"event\":\"access\""), std::string::npos);
  for (const std::string& planted : {kProviderKey, std::string("PLANTED"), client_key,
                                     client_secret_part, wrong_key}) {
    EXPECT_EQ(log.find(planted), std::string::npos) << "log contains a planted secret";
    EXPECT_EQ(FilesContaining(gw.dir().path() + "/data", planted), std::vector<std::string>());
  }
}

// A fleet's Redis password (and the client keys kept in Redis): not in logs, responses, error
// messages or the data directory, through a Redis outage and a refused password too; Redis
// itself holds key hashes, never a key.
TEST(SecretsTest, RedisCredentialsAndKeysInRedisAppearNowhere) {
  const std::string password = "redis-PLANTED-pw-3c9e1a7f";
  RedisServer redis({password, "", "", "", ""});
  FakeProvider fake;
  TempDir secrets;
  const std::string password_file = secrets.Write("redis.pw", password + "\n");
  GatewayUnderTest gw(OneProviderYaml(fake.base_url()) +
                      redis.ClusterYaml("s1", "    password_file: " + password_file + "\n"));
  const std::string client_key = gw.key();
  const std::string secret_part = client_key.substr(client_key.size() - 43);
  Json chat = {{"model", "chat-alias"}, {"messages", {{{"role", "user"}, {"content", "hi"}}}}};
  std::vector<HttpResult> responses;
  responses.push_back(gw.Post("/v1/chat/completions", chat));
  redis.Stop();  // the connection breaks; errors are logged
  responses.push_back(gw.Post("/v1/chat/completions", chat));
  responses.push_back(gw.PostAs("wdn_prod_0123456789ab_" + std::string(43, 'A'), "/v1/chat/completions", chat));
  redis.Start();
  EXPECT_EQ(responses[0].status, 200);
  for (const auto& r : responses) EXPECT_EQ(r.body.find("PLANTED"), std::string::npos) << r.body;
  // A replica given the wrong password: refused, without quoting either password.
  std::string refusal;
  try {
    GatewayUnderTest wrong(OneProviderYaml(fake.base_url()) +
                           redis.ClusterYaml("s2", "    password: wrong-PLANTED-pw\n"));
  } catch (const std::runtime_error& e) {
    refusal = e.what();
  }
  EXPECT_NE(refusal.find("WRONGPASS"), std::string::npos) << refusal;
  EXPECT_EQ(refusal.find("PLANTED"), std::string::npos) << refusal;
  // What Redis holds of the key: its record, with the keyed hash.
  auto records = redis.Command({"HGETALL", "warden:keys"});
  ASSERT_TRUE(records);
  for (const RedisValue& v : records->elements) EXPECT_EQ(v.str.find(secret_part), std::string::npos);
  const std::string log = gw.ReadLog();
  ASSERT_NE(log.find("redis_connection_lost"), std::string::npos);  // the outage was logged
  for (const std::string& planted : {password, std::string("PLANTED"), client_key, secret_part}) {
    EXPECT_EQ(log.find(planted), std::string::npos) << "log contains a planted secret";
    EXPECT_EQ(FilesContaining(gw.dir().path() + "/data", planted), std::vector<std::string>());
  }
}

}  // namespace
}  // namespace warden::testing
