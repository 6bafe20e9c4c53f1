// The admin listener: token required, key lifecycle over HTTP, immediate revocation, no secrets
// in its log lines.
#include <gtest/gtest.h>

#include <sys/wait.h>

#include <cstdio>

#include "audit/reader.h"
#include "support/fake_provider.h"
#include "support/harness.h"

namespace warden::testing {
namespace {

const std::string kToken = "admin-token-0123456789abcdef";

Json Chat() { return {{"model", "chat-alias"}, {"messages", {{{"role", "user"}, {"content", "hi"}}}}}; }

class AdminTest : public ::testing::Test {
 protected:
  AdminTest()
      : gw_(OneProviderYaml(fake_.base_url()) + "admin:\n  listen: 127.0.0.1:0\n  token: " + kToken + "\n",
            "", "", {{"limited", "rate_limits: { requests_per_minute: 100 }\nbudgets: { usd_per_day: 5 }\n"}}) {}
  HttpResult Admin(const std::string& method, const std::string& path, const Json& body = nullptr,
                   const std::string& token = kToken) {
    Headers h{{"Authorization", "Bearer " + token}};
    if (!body.is_null()) h["Content-Type"] = "application/json";
    return Http(gw_.app().admin_port(), method, path, body.is_null() ? "" : Dump(body), h);
  }
  FakeProvider fake_;
  GatewayUnderTest gw_;
};

TEST_F(AdminTest, TokenIsRequired) {
  ASSERT_NE(gw_.app().admin_port(), 0);
  EXPECT_EQ(Admin("GET", "/admin/keys", nullptr, "").status, 401);
  HttpResult wrong = Admin("GET", "/admin/keys", nullptr, kToken + "x");
  EXPECT_EQ(wrong.status, 401);
  EXPECT_EQ(wrong.json()["error"]["code"], "invalid_admin_token");
  // The client key does not open the admin API, and the admin token is not a client key.
  EXPECT_EQ(Admin("GET", "/admin/keys", nullptr, gw_.key()).status, 401);
  EXPECT_EQ(Http(gw_.port(), "GET", "/v1/models", "", GatewayUnderTest::AuthWith(kToken, "")).status, 401);
}

// Issue 16: nothing bounded guessing of the admin token. After 10 wrong tokens from an address
// within a minute, every attempt from it (the right token included: it is not even compared)
// gets 429 with Retry-After; the dashboard's sign-in form counts the same; logged and counted.
TEST_F(AdminTest, WrongAdminTokensAreThrottled) {
  for (int i = 0; i < 10; ++i) {
    HttpResult wrong = i % 2 ? Admin("GET", "/admin/keys", nullptr, kToken + std::to_string(i))
                             : Http(gw_.app().admin_port(), "POST", "/dashboard/login", "token=guess" + std::to_string(i),
                                    {{"Content-Type", "application/x-www-form-urlencoded"}});
    EXPECT_EQ(wrong.status, 401) << i << " " << wrong.body;
  }
  EXPECT_EQ(Admin("GET", "/admin/keys", nullptr, "").status, 401) << "no token is not a guess, and not throttled";
  HttpResult held = Admin("GET", "/admin/keys");  // the right token
  EXPECT_EQ(held.status, 429) << held.body;
  EXPECT_EQ(held.json()["error"]["code"], "too_many_auth_failures");
  const int retry = std::stoi(held.header("retry-after"));
  EXPECT_GE(retry, 1);
  EXPECT_LE(retry, 60);
  HttpResult login = Http(gw_.app().admin_port(), "POST", "/dashboard/login", "token=" + kToken,
                          {{"Content-Type", "application/x-www-form-urlencoded"}});
  EXPECT_EQ(login.status, 429);
  EXPECT_EQ(login.header("set-cookie"), "") << "no session while throttled";
  // The client listener is not affected.
  EXPECT_EQ(gw_.Post("/v1/chat/completions", Chat()).status, 200);
  const std::string log = gw_.ReadLog();
  EXPECT_NE(log.find("admin_auth_throttled"), std::string::npos);
  EXPECT_NE(log.find("admin_auth_failed"), std::string::npos);
  EXPECT_EQ(log.find(kToken), std::string::npos) << "the token reached the log";
}

TEST_F(AdminTest, KeyLifecycle) {
  HttpResult created = Admin("POST", "/admin/keys", {{"name", "svc"}, {"policy", "limited"}, {"env", "staging"}});
  ASSERT_EQ(created.status, 201) << created.body;
  std::string key = created.json()["key"];
  std::string id = created.json()["record"]["id"];
  EXPECT_EQ(key.rfind("wdn_stg_", 0), 0u);
  EXPECT_EQ(gw_.PostAs(key, "/v1/chat/completions", Chat()).status, 200);

  HttpResult list = Admin("GET", "/admin/keys");
  ASSERT_EQ(list.status, 200);
  EXPECT_EQ(list.body.find(key.substr(key.size() - 43)), std::string::npos);  // never the secret
  EXPECT_NE(list.body.find(id), std::string::npos);

  HttpResult detail = Admin("GET", "/admin/keys/" + id);
  ASSERT_EQ(detail.status, 200);
  EXPECT_EQ(detail.json()["policy_detail"]["rate_limits"]["requests_per_minute"], 100);
  EXPECT_EQ(detail.json()["usage"]["remaining_requests_this_minute"], 99);
  // The 'limited' policy's $5 a day, less what this key spent (the fake's answer costs $0 here).
  EXPECT_DOUBLE_EQ(detail.json()["usage"]["remaining_usd_today"].get<double>(),
                   5.0 - detail.json()["usage"]["spend_usd_today"].get<double>());
  EXPECT_FALSE(detail.json()["usage"].contains("remaining_usd_this_month"));  // no monthly budget

  HttpResult rotated = Admin("POST", "/admin/keys/" + id + "/rotate", {{"grace_seconds", 0}});
  ASSERT_EQ(rotated.status, 200) << rotated.body;
  std::string next = rotated.json()["key"];
  EXPECT_EQ(gw_.PostAs(key, "/v1/chat/completions", Chat()).json()["error"]["code"], "expired_api_key");
  EXPECT_EQ(gw_.PostAs(next, "/v1/chat/completions", Chat()).status, 200);

  std::string next_id = rotated.json()["record"]["id"];
  ASSERT_EQ(Admin("POST", "/admin/keys/" + next_id + "/revoke").status, 200);
  // Revocation is effective on the very next request.
  HttpResult after = gw_.PostAs(next, "/v1/chat/completions", Chat());
  EXPECT_EQ(after.status, 401);
  EXPECT_EQ(after.json()["error"]["code"], "revoked_api_key");

  EXPECT_EQ(Admin("POST", "/admin/keys", {{"name", "x"}, {"policy", "nope"}}).status, 400);
  EXPECT_EQ(Admin("GET", "/admin/keys/000000000000").status, 404);
  EXPECT_EQ(Admin("GET", "/admin/policies").json()["data"].size(), 2u);

  std::string log = gw_.ReadLog();
  EXPECT_NE(log.find("\"action\":\"key_created\""), std::string::npos);
  EXPECT_NE(log.find("\"action\":\"key_rotated\""), std::string::npos);
  EXPECT_NE(log.find("\"action\":\"key_revoked\""), std::string::npos);
  for (const std::string& secret : {kToken, key.substr(key.size() - 43), next.substr(next.size() - 43)})
    EXPECT_EQ(log.find(secret), std::string::npos);
}

// The output (stdout) and exit status of a shell command.
std::pair<std::string, int> Shell(const std::string& cmd) {
  std::string out;
  FILE* p = ::popen(cmd.c_str(), "r");
  if (!p) return {"", -1};
  char buf[512];
  while (std::fgets(buf, sizeof buf, p)) out += buf;
  const int status = ::pclose(p);
  return {out, WIFEXITED(status) ? WEXITSTATUS(status) : -1};
}


// A running single-node gateway holds the data directory (RocksDB's lock): `warden keys` goes
// through its admin API instead, and every change takes effect on the next request.
TEST(AdminCliTest, TheKeysCommandWorksBesideARunningGateway) {
  FakeProvider fake;
  GatewayUnderTest gw(OneProviderYaml(fake.base_url()) + "admin:\n  listen: 127.0.0.1:" + std::to_string(FreePort()) +
                      "\n  token: " + kToken + "\n");
  const std::string warden = std::string(WARDEN_BIN) + " keys ";
  const std::string config = " --config " + gw.dir().path() + "/warden.yaml";
  auto [created, status] = Shell(warden + "create --name beside" + config + " 2>/dev/null");
  ASSERT_EQ(status, 0);
  std::string key = created.substr(0, created.find('\n'));
  ASSERT_EQ(key.rfind("wdn_prod_", 0), 0u) << created;
  EXPECT_EQ(gw.PostAs(key, "/v1/chat/completions", Chat()).status, 200);
  auto [listed, list_status] = Shell(warden + "list" + config + " 2>/dev/null");
  EXPECT_EQ(list_status, 0);
  EXPECT_NE(listed.find(KeyId(key)), std::string::npos) << listed;
  EXPECT_NE(listed.find("beside"), std::string::npos);
  auto [rotated, rotate_status] = Shell(warden + "rotate beside --grace 0s" + config + " 2>/dev/null");
  ASSERT_EQ(rotate_status, 0);
  const std::string successor = rotated.substr(0, rotated.find('\n'));
  EXPECT_EQ(gw.PostAs(key, "/v1/chat/completions", Chat()).status, 401);  // no grace
  EXPECT_EQ(gw.PostAs(successor, "/v1/chat/completions", Chat()).status, 200);
  EXPECT_EQ(Shell(warden + "revoke " + KeyId(successor) + config + " 2>/dev/null").second, 0);
  EXPECT_EQ(gw.PostAs(successor, "/v1/chat/completions", Chat()).status, 401);
  // The gateway recorded each action itself.
  int admin_records = 0;
  for (const Json& r : AuditRecords(gw)) admin_records += r["type"] == "admin";
  EXPECT_GE(admin_records, 3);
  // Nothing printed the admin token.
  auto [errors, ignored] = Shell(warden + "list" + config + " 2>&1 >/dev/null");
  EXPECT_NE(errors.find("admin API"), std::string::npos) << errors;
  EXPECT_EQ(errors.find(kToken), std::string::npos);
  (void)ignored;
}

TEST(AdminOffTest, NoTokenNoListener) {
  FakeProvider fake;
  GatewayUnderTest gw(OneProviderYaml(fake.base_url()));
  EXPECT_EQ(gw.app().admin_port(), 0);
}

}  // namespace
}  // namespace warden::testing

namespace warden::testing {
namespace {

// Admin actions are audit records; purge and forget run through the admin API while the
// gateway serves (the tool cannot open the store then).
TEST_F(AdminTest, AdminActionsAreAuditedAndAuditIsManagedOverTheApi) {
  HttpResult created = Admin("POST", "/admin/keys", {{"name", "svc"}});
  ASSERT_EQ(created.status, 201);
  const std::string id = created.json()["record"]["id"];
  // A key with no sealed record has nothing to erase: refused, and no erasure record is written.
  HttpResult nothing = Admin("POST", "/admin/keys/" + id + "/forget");
  EXPECT_EQ(nothing.status, 404) << nothing.body;
  EXPECT_EQ(nothing.json()["error"]["code"], "audit_no_data_key");
  ASSERT_EQ(gw_.PostAs(created.json()["key"], "/v1/chat/completions", Chat()).status, 200);
  ASSERT_EQ(Admin("POST", "/admin/keys/" + id + "/revoke").status, 200);
  HttpResult status = Admin("GET", "/admin/audit");
  ASSERT_EQ(status.status, 200);
  EXPECT_EQ(status.json()["healthy"], true);
  EXPECT_EQ(status.json()["public_key"].get<std::string>().size(), 64u);

  auto master = audit::MasterKey::Load(gw_.dir().path() + "/data/audit-master.key");
  ASSERT_TRUE(master.ok());
  audit::AuditReader& reader = gw_.app().audit()->reader();
  audit::Decryptor d(reader, *master);
  std::vector<std::string> actions;
  auto collect = [&] {
    actions.clear();
    (void)reader.ForEachRaw(1, [&](uint64_t, std::string_view raw) {
      auto r = audit::Decode(raw);
      auto o = d.Open(*r);
      if (o.meta.contains("action")) actions.push_back(o.meta["action"].get<std::string>() + ":" +
                                                       o.meta.value("key_id", ""));
      return true;
    });
  };
  collect();
  EXPECT_EQ(actions, (std::vector<std::string>{"key_created:" + id, "key_revoked:" + id}));

  HttpResult forgot = Admin("POST", "/admin/keys/" + id + "/forget");
  ASSERT_EQ(forgot.status, 200) << forgot.body;
  HttpResult purged = Admin("POST", "/admin/audit/purge", {{"before", "2020-01-01"}});
  ASSERT_EQ(purged.status, 200) << purged.body;
  EXPECT_EQ(purged.json()["content_removed"], 0);
  EXPECT_EQ(Admin("POST", "/admin/audit/purge", {{"before", "yesterday"}}).status, 400);
  collect();
  ASSERT_EQ(actions.size(), 4u);
  EXPECT_EQ(actions[2], "forget:" + id);
  EXPECT_EQ(actions[3], "purge:");
  auto pk = audit::LoadPublicKey(gw_.dir().path() + "/data/audit-signing.key.pub");
  EXPECT_TRUE(audit::Verify(reader, *pk).ok());
}

}  // namespace
}  // namespace warden::testing
