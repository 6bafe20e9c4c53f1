// Integration: money (issue 20). One request costs one figure — in pico-dollars, exactly — in
// its audit record, the access log, the usage and spend ledgers, /metrics, the admin API and the
// dashboard, and ten thousand cheap requests sum exactly on every one of them.
#include <gtest/gtest.h>

#include <Poco/Net/HTTPClientSession.h>
#include <Poco/Net/HTTPRequest.h>
#include <Poco/Net/HTTPResponse.h>
#include <Poco/StreamCopier.h>

#include <chrono>
#include <climits>
#include <sstream>
#include <thread>

#include "audit/maintenance.h"
#include "audit/usage_export.h"
#include "common/money.h"
#include "support/fake_provider.h"
#include "support/harness.h"

namespace warden::testing {
namespace {

const std::string kToken = "admin-token-cost-0123456789";

// Occurrences of `needle` in `text`.
size_t Count(const std::string& text, const std::string& needle) {
  size_t n = 0;
  for (size_t at = text.find(needle); at != std::string::npos; at = text.find(needle, at + 1)) ++n;
  return n;
}

TEST(CostTest, ManyCheapRequestsSumExactlyAndEverySurfaceShowsTheSameFigure) {
  FakeProvider fake;  // reports 5 prompt and 2 completion tokens per answer
  GatewayUnderTest gw(OneProviderYaml(fake.base_url(), "chat-alias", "fake-model-1",
                                      "    price: { input_per_million: 0.15, output_per_million: 0.6 }\n") +
                      "admin:\n  listen: 127.0.0.1:0\n  token: " + kToken + "\n");
  // $0.15 and $0.60 per million: 5 × 150,000 + 2 × 600,000 pico-dollars = $0.00000195 a
  // request. Ten thousand of them are exactly $0.0195; summed as doubles they are not, and rounded
  // to micro-dollars per request (the old ledger) they were $0.02.
  constexpr Picos kEach = 5 * 150'000 + 2 * 600'000;
  constexpr int kRequests = 10000;
  constexpr Picos kTotal = kEach * kRequests;
  ASSERT_EQ(FormatUsd(kTotal), "0.0195");
  {
    Poco::Net::HTTPClientSession session("127.0.0.1", gw.port());
    session.setKeepAlive(true);
    const std::string body = Dump(Json{{"model", "chat-alias"}, {"messages", {{{"role", "user"}, {"content", "Hi"}}}}});
    for (int i = 0; i < kRequests; ++i) {
      Poco::Net::HTTPRequest req(Poco::Net::HTTPRequest::HTTP_POST, "/v1/chat/completions",
                                 Poco::Net::HTTPMessage::HTTP_1_1);
      req.set("Authorization", "Bearer " + gw.key());
      req.setContentType("application/json");
      req.setContentLength(static_cast<std::streamsize>(body.size()));
      req.setKeepAlive(true);
      session.sendRequest(req) << body;
      Poco::Net::HTTPResponse resp;
      std::ostringstream answer;
      Poco::StreamCopier::copyStream(session.receiveResponse(resp), answer);
      ASSERT_EQ(resp.getStatus(), 200) << answer.str();
    }
  }
  const Headers admin = {{"Authorization", "Bearer " + kToken}};
  auto get = [&](const std::string& path) { return Http(gw.app().admin_port(), "GET", path, "", admin); };

  // /metrics: the exact decimal. The counter is updated just after each response goes out.
  const std::string line = "warden_cost_usd_total{model=\"chat-alias\",provider=\"fake\"} 0.0195\n";
  HttpResult metrics;
  for (int i = 0; i < 100 && metrics.body.find(line) == std::string::npos; ++i) {
    if (i > 0) std::this_thread::sleep_for(std::chrono::milliseconds(20));
    metrics = get("/metrics");
  }
  EXPECT_NE(metrics.body.find(line), std::string::npos) << metrics.body.substr(metrics.body.find("warden_cost_usd_total"), 200);

  // The usage ledger through the admin API: the integer and the number.
  const Json usage = get("/admin/usage?by=model").json();
  ASSERT_EQ(usage["data"].size(), 1u) << usage.dump();
  EXPECT_EQ(usage["data"][0]["requests"], kRequests);
  EXPECT_EQ(usage["data"][0]["cost_picos"], kTotal);
  EXPECT_EQ(usage["data"][0]["cost_usd"], 0.0195);
  // The spend ledger (budgets) through the key's detail.
  const Json key = get("/admin/keys/" + KeyId(gw.key())).json();
  EXPECT_EQ(key["usage"]["spend_usd_today"], 0.0195) << key.dump();
  // The dashboard: today's total, the 30-day series and the top keys.
  const Json dash = get("/dashboard/data").json();
  EXPECT_EQ(dash["totals"]["cost_usd_today"], 0.0195) << dash["totals"].dump();
  EXPECT_EQ(dash["daily"]["cost_by_model"]["chat-alias"].back(), 0.0195);
  EXPECT_EQ(dash["daily"]["cost_by_provider"]["fake"].back(), 0.0195);
  EXPECT_EQ(dash["top_keys"][0]["cost_usd"], 0.0195);
  Picos recent = 0;  // the live chart: per-minute points, each exact; summed here in picos
  for (const Json& v : dash["recent"]["cost_by_model"]["chat-alias"])
    recent += *ParseFixedDecimal(Dump(v), kPicoDecimals, kTotal);
  EXPECT_EQ(recent, kTotal);

  // Every audit outcome record and access-log line carries the request's exact cost.
  Picos audited = 0;
  int outcomes = 0;
  for (const Json& r : AuditRecords(gw)) {
    if (r["type"] != "outcome") continue;
    ++outcomes;
    EXPECT_EQ(r["meta"]["cost_picos"], kEach);
    EXPECT_EQ(r["meta"]["cost_usd"], 0.00000195);
    audited += r["meta"]["cost_picos"].get<Picos>();
  }
  EXPECT_EQ(outcomes, kRequests);
  EXPECT_EQ(audited, kTotal);
  EXPECT_EQ(Count(gw.ReadLog(), "\"cost_usd\":1.95e-06"), static_cast<size_t>(kRequests));
}

TEST(CostTest, TagsAttributeSpendAndATeamBudgetHoldsAcrossItsKeys) {
  FakeProvider fake;  // 5 prompt + 2 completion tokens at $1 per token: $7 a request
  GatewayUnderTest gw(OneProviderYaml(fake.base_url(), "chat-alias", "fake-model-1",
                                      "    price: { input_per_million: 1000000, output_per_million: 1000000 }\n") +
                          "admin:\n  listen: 127.0.0.1:0\n  token: " + kToken + "\n",
                      "", "",
                      {{"teams", "tags: [team, project]\nbudgets: { per_tag: { team: { usd_per_day: 10 } } }\n"}});
  const std::string a = gw.CreateKey("teams"), b = gw.CreateKey("teams"), c = gw.CreateKey("teams");
  const std::string body = Dump(Json{{"model", "chat-alias"}, {"messages", {{{"role", "user"}, {"content", "Hi"}}}}});
  auto post = [&](const std::string& key, const std::string& tags) {
    Headers h = GatewayUnderTest::AuthWith(key);
    if (!tags.empty()) h["x-warden-tags"] = tags;
    return Http(gw.port(), "POST", "/v1/chat/completions", body, h);
  };
  // Refused, not silently dropped: a tag the policy does not list, a malformed header, a bad value.
  for (const char* bad : {"cost_centre=42", "team", "team=a b", "team=x, team=y"}) {
    HttpResult r = post(a, bad);
    EXPECT_EQ(r.status, 400) << bad;
    EXPECT_EQ(r.json()["error"]["code"], "invalid_tags") << r.body;
  }
  // Keys of the default policy may attach no tags at all.
  EXPECT_EQ(Http(gw.port(), "POST", "/v1/chat/completions", body,
                 [&] { Headers h = gw.Auth(); h["x-warden-tags"] = "team=payments"; return h; }()).status, 400);

  // The payments team's $10 a day, across keys a and b: $7, then $14, then refused — for either key.
  EXPECT_EQ(post(a, "team=payments, project=checkout").status, 200);
  EXPECT_EQ(post(b, "team=payments").status, 200);
  HttpResult refused = post(a, "project=checkout,team=payments");
  EXPECT_EQ(refused.status, 429) << refused.body;
  EXPECT_EQ(refused.json()["error"]["code"], "budget_exceeded");
  EXPECT_NE(refused.json()["error"]["message"].get<std::string>().find("team 'payments'"), std::string::npos);
  EXPECT_EQ(post(b, "team=payments").status, 429);
  // Another team, and an untagged request (no team budget applies to it), still pass.
  EXPECT_EQ(post(c, "team=search").status, 200);
  EXPECT_EQ(post(a, "").status, 200);

  // Usage grouped by a tag's values through the admin API; untagged requests under "".
  const Headers admin = {{"Authorization", "Bearer " + kToken}};
  const Json by_team = Http(gw.app().admin_port(), "GET", "/admin/usage?by=tag:team", "", admin).json();
  std::map<std::string, Json> rows;
  for (const Json& r : by_team["data"]) rows[r["tag:team"].get<std::string>()] = r;
  ASSERT_EQ(rows.size(), 3u) << by_team.dump();
  EXPECT_EQ(rows["payments"]["requests"], 2);
  EXPECT_EQ(rows["payments"]["cost_usd"], 14);
  EXPECT_EQ(rows["search"]["requests"], 1);
  EXPECT_EQ(rows[""]["requests"], 1);
  const Json by_project = Http(gw.app().admin_port(), "GET", "/admin/usage?by=tag:project", "", admin).json();
  ASSERT_EQ(by_project["data"].size(), 2u) << by_project.dump();  // by cost: the 3 untagged, then checkout
  EXPECT_EQ(by_project["data"][1]["tag:project"], "checkout");
  EXPECT_EQ(by_project["data"][1]["requests"], 1);
  EXPECT_EQ(Http(gw.app().admin_port(), "GET", "/admin/usage?by=tag:", "", admin).status, 400);

  // The team's budget is visible: spent $14 of $10 today, nothing left; the alert thresholds too.
  const Json budgets = Http(gw.app().admin_port(), "GET", "/admin/budgets", "", admin).json();
  auto row = [&](const std::string& id) -> const Json* {
    for (const Json& r : budgets["data"])
      if (r["id"] == id && r["period"] == "day") return &r;
    return nullptr;
  };
  const Json* team = row("team=payments");
  ASSERT_NE(team, nullptr) << budgets.dump();
  EXPECT_EQ((*team)["kind"], "tag");
  EXPECT_EQ((*team)["policy"], "teams");
  EXPECT_EQ((*team)["limit_usd"], 10);
  EXPECT_EQ((*team)["spent_usd"], 14);
  EXPECT_EQ((*team)["remaining_usd"], 0);
  EXPECT_EQ((*team)["alert_at"], (Json{50, 80, 100}));
  ASSERT_NE(row("team=search"), nullptr);  // every value of a budgeted tag has its own budget
  EXPECT_EQ((*row("team=search"))["spent_usd"], 7);
  EXPECT_EQ((*row("team=search"))["remaining_usd"], 3);

  // The audit record carries the tags (labels, never content); so does the access log.
  bool audited = false;
  for (const Json& r : AuditRecords(gw))
    if (r["type"] == "outcome" && r["meta"].contains("tags"))
      audited = audited || r["meta"]["tags"] == Json{{"project", "checkout"}, {"team", "payments"}};
  EXPECT_TRUE(audited);
  EXPECT_NE(gw.ReadLog().find("\"tags\":\"project=checkout;team=payments\""), std::string::npos);
}

TEST(CostTest, TheUsageExportIsOneContentFreeRowPerRequestAndForgetsWhatForgetErases) {
  FakeProvider fake;  // 5 + 2 tokens at $0.15 / $0.60 per million
  const std::string canary = "CANARY-export-9d2-diagnosis";
  GatewayUnderTest gw(OneProviderYaml(fake.base_url(), "chat-alias", "fake-model-1",
                                      "    price: { input_per_million: 0.15, output_per_million: 0.6 }\n") +
                          "admin:\n  listen: 127.0.0.1:0\n  token: " + kToken + "\n",
                      "", "", {{"full", "content_logging: full\nretention: { content_days: 30 }\ntags: [team]\n"}});
  const std::string a = gw.CreateKey("full"), b = gw.CreateKey("full");
  auto chat = [&](const std::string& key, const std::string& model, const std::string& tags) {
    Headers h = GatewayUnderTest::AuthWith(key);
    if (!tags.empty()) h["x-warden-tags"] = tags;
    return Http(gw.port(), "POST", "/v1/chat/completions",
                Dump(Json{{"model", model}, {"messages", {{{"role", "user"}, {"content", canary}}}}}), h);
  };
  ASSERT_EQ(chat(a, "chat-alias", "team=payments").status, 200);
  ASSERT_EQ(chat(b, "chat-alias", "").status, 200);
  ASSERT_EQ(chat(b, "no-such-model", "").status, 404);  // refused: a row with its status, no cost
  const Json ledger = Http(gw.app().admin_port(), "GET", "/admin/usage?by=model", "",
                           {{"Authorization", "Bearer " + kToken}}).json();
  gw.ReadLog();  // stopped: every record written

  auto master = audit::MasterKey::Load(gw.dir().path() + "/data/audit-master.key");
  ASSERT_TRUE(master.ok());
  auto export_rows = [&](audit::ExportFormat format, audit::ExportCounts* counts) {
    audit::Decryptor d(gw.app().audit()->reader(), *master);
    std::ostringstream out;
    auto c = audit::ExportUsage(gw.app().audit()->reader(), d, 0, INT64_MAX, format, out);
    EXPECT_TRUE(c.ok());
    if (c.ok()) *counts = *c;
    return out.str();
  };
  audit::ExportCounts counts;
  const std::string jsonl = export_rows(audit::ExportFormat::kJsonl, &counts);
  EXPECT_EQ(counts.rows, 3u);
  EXPECT_EQ(jsonl.find(canary), std::string::npos) << "the export holds content";
  std::vector<Json> rows;
  std::istringstream lines(jsonl);
  for (std::string line; std::getline(lines, line);) rows.push_back(*ParseJson(line));
  ASSERT_EQ(rows.size(), 3u) << jsonl;
  EXPECT_EQ(rows[0]["key_id"], KeyId(a));
  EXPECT_EQ(rows[0]["tags"], (Json{{"team", "payments"}}));
  EXPECT_EQ(rows[0]["model"], "chat-alias");
  EXPECT_EQ(rows[0]["deployment"], "fake/fake-model-1");
  EXPECT_EQ(rows[0]["provider"], "fake");
  EXPECT_EQ(rows[0]["status"], 200);
  EXPECT_EQ(rows[0]["outcome"], "completed");
  EXPECT_EQ(rows[0]["prompt_tokens"], 5);
  EXPECT_EQ(rows[0]["completion_tokens"], 2);
  EXPECT_EQ(rows[0]["cost_picos"], 5 * 150'000 + 2 * 600'000);
  EXPECT_EQ(rows[0]["usage_estimated"], false);
  EXPECT_EQ(rows[0]["request_id"].get<std::string>().size() > 8, true);
  EXPECT_EQ(rows[1]["tags"], Json::object());
  EXPECT_EQ(rows[2]["status"], 404);
  EXPECT_EQ(rows[2]["outcome"], "rejected");
  EXPECT_EQ(rows[2]["cost_picos"], 0);
  // The same requests in the usage ledger cost the same.
  Picos exported = 0;
  for (const Json& r : rows) exported += r["cost_picos"].get<Picos>();
  EXPECT_EQ(exported, ledger["data"][0]["cost_picos"]) << ledger.dump();

  const std::string csv = export_rows(audit::ExportFormat::kCsv, &counts);
  std::istringstream csv_lines(csv);
  std::string header, first;
  std::getline(csv_lines, header);
  std::getline(csv_lines, first);
  EXPECT_EQ(header.rfind("request_id,time,key_id,policy,tags,", 0), 0u) << header;
  EXPECT_NE(first.find(",team=payments,"), std::string::npos) << first;
  EXPECT_NE(first.find(",0.00000195,1950000,false"), std::string::npos) << first;  // exact decimal, picos

  // After `forget`, the key's rows cannot be exported any more: erasure reaches the export.
  ASSERT_TRUE(audit::AuditMaintenance(*gw.app().audit()).Forget(KeyId(a), "test").ok());
  const std::string after = export_rows(audit::ExportFormat::kJsonl, &counts);
  EXPECT_EQ(counts.rows, 2u);
  EXPECT_EQ(counts.unreadable, 1u);
  EXPECT_EQ(after.find(KeyId(a)), std::string::npos);
}

}  // namespace
}  // namespace warden::testing
