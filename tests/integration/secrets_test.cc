// Secrets never leak: plant a provider key and a client key, run traffic including failures
// (some of which make the provider quote its key back), then search every log line, every
// response and the whole data directory for the planted values.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <sstream>

#include "support/fake_provider.h"
#include "support/harness.h"

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

}  // namespace
}  // namespace warden::testing
