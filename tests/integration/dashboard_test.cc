// Integration: the dashboard's HTTP contract on the admin listener — login for a session
// cookie, what the cookie does and does not authorise, security headers, the data document
// after real traffic (figures from the fake provider's usage), audit of logins, and no token or
// prompt in the log. The browser test (tests/sdk/dashboard.test.mjs) drives the page itself.
#include <gtest/gtest.h>

#include <chrono>
#include <thread>

#include "audit/reader.h"
#include "common/util.h"
#include "support/fake_provider.h"
#include "support/harness.h"

namespace warden::testing {
namespace {

const std::string kToken = "admin-token-dashboard-0123456789";

class DashboardTest : public ::testing::Test {
 protected:
  DashboardTest()
      : gw_(OneProviderYaml(fake_.base_url(), "chat-alias", "fake-model-1",
                            "    price: { input_per_million: 2, output_per_million: 8 }\n") +
            "admin:\n  listen: 127.0.0.1:0\n  token: " + kToken + "\n") {}
  HttpResult Get(const std::string& path, const Headers& h = {}) { return Http(gw_.app().admin_port(), "GET", path, "", h); }
  HttpResult Login(const std::string& form) {
    return Http(gw_.app().admin_port(), "POST", "/dashboard/login", form,
                {{"Content-Type", "application/x-www-form-urlencoded"}});
  }
  // The cookie value from a login's Set-Cookie header.
  static std::string Session(const HttpResult& login) {
    const std::string c = login.header("set-cookie");
    const size_t eq = c.find('='), end = c.find(';');
    return c.substr(eq + 1, end - eq - 1);
  }
  FakeProvider fake_;
  GatewayUnderTest gw_;
};

TEST_F(DashboardTest, LoginGivesACookieThatOpensTheDashboardOnly) {
  HttpResult page = Get("/dashboard");
  EXPECT_EQ(page.status, 401);
  EXPECT_NE(page.body.find("action=\"/dashboard/login\""), std::string::npos);
  EXPECT_NE(page.header("content-security-policy").find("script-src 'self'"), std::string::npos);
  EXPECT_EQ(page.header("x-frame-options"), "DENY");
  EXPECT_EQ(page.header("cache-control"), "no-store");
  EXPECT_EQ(Get("/dashboard/data").status, 401);

  HttpResult wrong = Login("token=" + kToken + "x");
  EXPECT_EQ(wrong.status, 401);
  EXPECT_NE(wrong.body.find("not valid"), std::string::npos);
  EXPECT_EQ(wrong.header("set-cookie"), "");
  EXPECT_EQ(Login("").status, 401);
  EXPECT_EQ(Login("token=%zz").status, 401);  // a bad escape is just a wrong token

  HttpResult ok = Login("other=1&token=" + UrlEncode(kToken));
  ASSERT_EQ(ok.status, 303) << ok.body;
  EXPECT_EQ(ok.header("location"), "/dashboard");
  const std::string cookie = ok.header("set-cookie");
  for (const char* attr : {"Path=/dashboard", "HttpOnly", "SameSite=Strict", "Max-Age=28800"})
    EXPECT_NE(cookie.find(attr), std::string::npos) << cookie;
  const std::string session = Session(ok);
  ASSERT_EQ(session.size(), 64u);
  const Headers with_cookie{{"Cookie", "theme=dark; warden_dashboard=" + session}};

  HttpResult app = Get("/dashboard", with_cookie);
  EXPECT_EQ(app.status, 200);
  EXPECT_NE(app.body.find("/dashboard/app.js"), std::string::npos);
  EXPECT_EQ(Get("/dashboard/data", with_cookie).status, 200);
  // Never the admin API, the metrics or anything that changes state.
  EXPECT_EQ(Get("/admin/keys", with_cookie).status, 401);
  EXPECT_EQ(Get("/metrics", with_cookie).status, 401);
  EXPECT_EQ(Http(gw_.app().admin_port(), "POST", "/admin/keys", "{\"name\":\"x\"}", with_cookie).status, 401);
  // A made-up or altered session is nothing.
  std::string altered = session;
  altered[0] = altered[0] == 'a' ? 'b' : 'a';
  EXPECT_EQ(Get("/dashboard/data", {{"Cookie", "warden_dashboard=" + altered}}).status, 401);
  EXPECT_EQ(Get("/dashboard/data", {{"Cookie", "warden_dashboard="}}).status, 401);

  // The bearer token works for the data too (scripts), and the static files need nothing.
  EXPECT_EQ(Get("/dashboard/data", {{"Authorization", "Bearer " + kToken}}).status, 200);
  HttpResult js = Get("/dashboard/app.js");
  EXPECT_EQ(js.status, 200);
  EXPECT_EQ(js.header("content-type"), "text/javascript; charset=utf-8");
  EXPECT_EQ(Get("/dashboard/app.css").header("content-type"), "text/css; charset=utf-8");
  EXPECT_EQ(Get("/dashboard/secrets.txt").status, 404);
  EXPECT_EQ(Get("/dashboard/login").status, 405);

  // Logout ends the session on the server.
  HttpResult out = Http(gw_.app().admin_port(), "POST", "/dashboard/logout", "", with_cookie);
  EXPECT_EQ(out.status, 303);
  EXPECT_NE(out.header("set-cookie").find("Max-Age=0"), std::string::npos);
  EXPECT_EQ(Get("/dashboard/data", with_cookie).status, 401);
  EXPECT_EQ(Get("/dashboard", with_cookie).status, 401);

  // The login is an audited admin action; the token is in no log line.
  auto master = audit::MasterKey::Load(gw_.dir().path() + "/data/audit-master.key");
  ASSERT_TRUE(master.ok());
  audit::AuditReader& reader = gw_.app().audit()->reader();
  audit::Decryptor d(reader, *master);
  int logins = 0;
  (void)reader.ForEachRaw(1, [&](uint64_t, std::string_view raw) {
    auto o = d.Open(*audit::Decode(raw));
    if (o.meta.value("action", "") == "dashboard_login") ++logins;
    return true;
  });
  EXPECT_EQ(logins, 1);
  const std::string log = gw_.ReadLog();
  EXPECT_EQ(log.find(kToken), std::string::npos);
  EXPECT_EQ(log.find(session), std::string::npos);
}

TEST_F(DashboardTest, DataReflectsTheRun) {
  const std::string planted = "planted-prompt-text-5d2e";
  for (int i = 0; i < 3; ++i) {
    HttpResult r = gw_.Post("/v1/chat/completions",
                            {{"model", "chat-alias"}, {"messages", {{{"role", "user"}, {"content", planted}}}}});
    ASSERT_EQ(r.status, 200) << r.body;
  }
  EXPECT_EQ(gw_.Post("/v1/chat/completions", {{"model", "nope"}, {"messages", {{{"role", "user"}, {"content", "x"}}}}}).status, 404);

  const Headers auth{{"Authorization", "Bearer " + kToken}};
  // Metrics are recorded just after each response goes out: wait for the last one.
  for (int i = 0; i < 100 && Get("/dashboard/data", auth).json()["totals"]["requests"] != 4; ++i)
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  EXPECT_EQ(Get("/dashboard/data?window=2h", auth).status, 400);
  EXPECT_EQ(Get("/dashboard/data?since=1", auth).status, 400);
  for (const char* w : {"1h", "6h", "24h"}) {
    HttpResult r = Get(std::string("/dashboard/data?window=") + w, auth);
    ASSERT_EQ(r.status, 200) << r.body;
    Json d = r.json();
    EXPECT_EQ(d["totals"]["requests"], 4) << w;
    EXPECT_EQ(d["totals"]["client_errors"], 1) << w;
    const size_t points = d["recent"]["t"].size();
    EXPECT_GE(points, 60u) << w;
    EXPECT_LE(points, 73u) << w;
    EXPECT_EQ(d["recent"]["requests"].size(), points);
    EXPECT_EQ(d["recent"]["tokens_by_model"]["chat-alias"].size(), points);
  }
  Json d = Get("/dashboard/data", auth).json();
  // The fake reports usage 5 prompt + 2 completion tokens per call (fake_provider.h).
  const int64_t prompt = 5, completion = 2;
  ASSERT_EQ(fake_.requests().size(), 3u);
  double tokens = 0, cost = 0, day_cost = 0;
  for (const auto& v : d["recent"]["tokens_by_model"]["chat-alias"]) tokens += v.get<double>();
  for (const auto& v : d["recent"]["cost_by_provider"]["fake"]) cost += v.get<double>();
  for (const auto& v : d["daily"]["cost_by_model"]["chat-alias"]) day_cost += v.get<double>();
  EXPECT_EQ(tokens, 3.0 * static_cast<double>(prompt + completion));
  EXPECT_EQ(d["totals"]["tokens_today"], 3 * (prompt + completion));
  const double expected = 3 * (static_cast<double>(prompt) * 2 + static_cast<double>(completion) * 8) / 1e6;
  EXPECT_NEAR(cost, expected, 1e-12);
  EXPECT_NEAR(day_cost, expected, 1e-6);  // the ledger counts micro-dollars
  EXPECT_EQ(d["daily"]["days"].size(), 30u);
  ASSERT_EQ(d["top_keys"].size(), 1u);
  EXPECT_EQ(d["top_keys"][0]["requests"], 3);
  EXPECT_GT(d["totals"]["overhead_p99_ms"].get<double>(), 0);
  const std::string text = Dump(d);
  EXPECT_EQ(text.find(planted), std::string::npos);
  EXPECT_EQ(text.find(gw_.key()), std::string::npos);
}

}  // namespace
}  // namespace warden::testing
