// Integration: a fleet (issue 19). Two real gateways share one real redis-server: keys made on
// one work on the other and a revocation holds on both, rate limits and budgets hold for the
// fleet (not per replica), and when Redis goes away no limit is lifted and everything recovers
// when it returns. Also: TLS to Redis, credentials never logged, refusals at start.
#include <gtest/gtest.h>

#include <chrono>
#include <cstdio>
#include <future>
#include <set>
#include <thread>

#include "audit/reader.h"
#include "common/money.h"
#include "common/util.h"
#include "support/fake_provider.h"
#include "support/harness.h"
#include "support/redis_server.h"

namespace warden::testing {
namespace {

const std::string kToken = "admin-token-cluster-0123456789";
using Clock = std::chrono::steady_clock;

Json Chat(int max_tokens = 0) {
  Json j = {{"model", "chat-alias"}, {"messages", {{{"role", "user"}, {"content", "hi"}}}}};
  if (max_tokens > 0) j["max_tokens"] = max_tokens;
  return j;
}

// Two replicas of one fleet: the same providers, policies and key hashing key, one Redis.
class Fleet {
 public:
  Fleet(RedisServer& redis, const std::string& provider_url, const std::map<std::string, std::string>& policies = {},
        const std::string& cluster_extra = "", const std::string& price = "")
      : shared_(), hash_key_(shared_.path() + "/key-hash.key") {
    for (const char* name : {"a", "b"})
      replicas_.push_back(std::make_unique<GatewayUnderTest>(
          OneProviderYaml(provider_url, "chat-alias", "fake-model-1", price) + "key_hash_key_file: " + hash_key_ +
              "\nadmin:\n  listen: 127.0.0.1:0\n  token: " + kToken + "\n" +
              redis.ClusterYaml(std::string("replica-") + name, cluster_extra),
          "", "", policies));
  }
  GatewayUnderTest& a() { return *replicas_[0]; }
  GatewayUnderTest& b() { return *replicas_[1]; }
  static HttpResult Admin(GatewayUnderTest& gw, const std::string& method, const std::string& path,
                          const Json& body = nullptr) {
    Headers h{{"Authorization", "Bearer " + kToken}};
    if (!body.is_null()) h["Content-Type"] = "application/json";
    return Http(gw.app().admin_port(), method, path, body.is_null() ? "" : Dump(body), h);
  }

 private:
  TempDir shared_;
  std::string hash_key_;
  std::vector<std::unique_ptr<GatewayUnderTest>> replicas_;
};

// Polls `f` until it is true or `limit` passes; returns the time it took (or nullopt).
template <typename F>
std::optional<std::chrono::milliseconds> Within(std::chrono::milliseconds limit, F f) {
  const auto start = Clock::now();
  while (Clock::now() - start < limit) {
    if (f()) return std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - start);
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  return std::nullopt;
}

TEST(ClusterTest, KeysMadeOnOneReplicaWorkOnTheOthersAndARevocationHoldsEverywhere) {
  RedisServer redis;
  FakeProvider fake;
  Fleet fleet(redis, fake.base_url());
  // The harness made a key through replica a (App::keys(), in Redis); b has never seen it.
  EXPECT_EQ(fleet.b().PostAs(fleet.a().key(), "/v1/chat/completions", Chat()).status, 200);
  // Made through b's admin API, used on a.
  const Json made = Fleet::Admin(fleet.b(), "POST", "/admin/keys", {{"name", "made-on-b"}}).json();
  const std::string key = made.value("key", "");
  ASSERT_FALSE(key.empty()) << made.dump();
  EXPECT_EQ(fleet.a().PostAs(key, "/v1/chat/completions", Chat()).status, 200);
  EXPECT_EQ(fleet.b().PostAs(key, "/v1/chat/completions", Chat()).status, 200);
  // Both replicas now hold it in their caches. Revoked through a: refused by b too, as soon as
  // the notification has crossed (loopback: well under the poll's first step, usually).
  ASSERT_EQ(Fleet::Admin(fleet.a(), "POST", "/admin/keys/" + KeyId(key) + "/revoke").status, 200);
  const auto refused = Within(std::chrono::milliseconds(1000), [&] {
    return fleet.b().PostAs(key, "/v1/chat/completions", Chat()).status == 401;
  });
  ASSERT_TRUE(refused) << "b kept accepting a key revoked through a";
  EXPECT_EQ(fleet.a().PostAs(key, "/v1/chat/completions", Chat()).status, 401);
  // The list is the fleet's on either replica.
  const Json listed = Fleet::Admin(fleet.a(), "GET", "/admin/keys").json();
  int names = 0;
  for (const Json& k : listed["data"]) names += k.value("name", "") == "made-on-b";
  EXPECT_EQ(names, 1) << listed.dump();
}

TEST(ClusterTest, ALostNotificationIsBoundedByTheCacheTimeToLive) {
  RedisServer redis;
  FakeProvider fake;
  Fleet fleet(redis, fake.base_url(), {}, "  key_cache_ttl: 1s\n");
  const std::string key = fleet.a().key();
  ASSERT_EQ(fleet.b().PostAs(key, "/v1/chat/completions", Chat()).status, 200);  // cached on b
  // Revoke behind the fleet's back: the record changes, no notification is published.
  auto record = redis.Command({"HGET", "warden:keys", KeyId(key)});
  ASSERT_TRUE(record && record->type == RedisValue::Type::kString);
  Json r = *ParseJson(record->str);
  r["revoked_at"] = UnixSeconds();
  ASSERT_TRUE(redis.Command({"HSET", "warden:keys", KeyId(key), Dump(r)}));
  const auto start = Clock::now();
  const auto refused = Within(std::chrono::milliseconds(3000), [&] {
    return fleet.b().PostAs(key, "/v1/chat/completions", Chat()).status == 401;
  });
  ASSERT_TRUE(refused) << "a stale cached key outlived key_cache_ttl";
  EXPECT_LE(Clock::now() - start, std::chrono::milliseconds(1500));
}

TEST(ClusterTest, ARateLimitHoldsForTheFleetNotPerReplica) {
  RedisServer redis;
  FakeProvider fake;
  Fleet fleet(redis, fake.base_url(), {{"default", "models: [\"*\"]\nrate_limits:\n  requests_per_minute: 6\n"}});
  const std::string key = fleet.a().key();
  int ok = 0, limited = 0;
  for (int i = 0; i < 12; ++i) {
    const HttpResult r = (i % 2 ? fleet.b() : fleet.a()).PostAs(key, "/v1/chat/completions", Chat());
    if (r.status == 200) ++ok;
    if (r.status == 429) {
      ++limited;
      EXPECT_EQ(r.json()["error"]["code"], "rate_limit_exceeded");
      EXPECT_FALSE(r.header("retry-after").empty());
    }
  }
  EXPECT_EQ(ok, 6) << "6 a minute for the fleet, not 6 per replica";
  EXPECT_EQ(limited, 6);
}

// Each answer costs exactly its 2 completion tokens at $1 per million (input is free), which is
// also the estimate of a request with max_tokens 2: $0.000002.
const std::string kPrice = "    price: { input_per_million: 0, output_per_million: 1 }\n";
constexpr Picos kEach = 2 * 1'000'000;

TEST(ClusterTest, ABudgetHoldsForTheFleetAndRequestsInFlightReserveTheirCost) {
  RedisServer redis;
  FakeProvider fake;
  // A slow provider: every request is in flight at once when the budget is checked.
  fake.set_handler([inner = FakeProvider::DefaultHandler()](const FakeRequest& req, Poco::Net::HTTPServerResponse& resp) {
    std::this_thread::sleep_for(std::chrono::milliseconds(600));
    inner(req, resp);
  });
  Fleet fleet(redis, fake.base_url(), {{"default", "models: [\"*\"]\nbudgets:\n  usd_per_day: 0.000006\n"}}, "", kPrice);
  const std::string key = fleet.a().key();
  std::vector<std::future<int>> calls;
  for (int i = 0; i < 10; ++i)
    calls.push_back(std::async(std::launch::async, [&, i] {
      return (i % 2 ? fleet.b() : fleet.a()).PostAs(key, "/v1/chat/completions", Chat(2)).status;
    }));
  int ok = 0, refused = 0;
  for (auto& c : calls) {
    const int status = c.get();
    ok += status == 200;
    refused += status == 429;
  }
  // Without reservations all ten would have passed the check (nothing was spent yet).
  EXPECT_EQ(ok, 3);
  EXPECT_EQ(refused, 7);
  // The fleet's spend, exactly, on either replica, and nothing left reserved.
  for (GatewayUnderTest* gw : {&fleet.a(), &fleet.b()}) {
    const Json k = Fleet::Admin(*gw, "GET", "/admin/keys/" + KeyId(key)).json();
    EXPECT_EQ(k["usage"]["spend_usd_today"], UsdNumber(3 * kEach)) << k.dump();
  }
  auto held = redis.Command({"HVALS", "warden:held:" + KeyId(key) + ":d:" + UtcDate(UnixSeconds())});
  ASSERT_TRUE(held);
  EXPECT_TRUE(held->elements.empty()) << "a settled request left its reservation";
  // And the next request is refused on both.
  EXPECT_EQ(fleet.a().PostAs(key, "/v1/chat/completions", Chat(2)).status, 429);
  EXPECT_EQ(fleet.b().PostAs(key, "/v1/chat/completions", Chat(2)).status, 429);
}

TEST(ClusterTest, UsageIsTheWholeFleetsOnEveryReplica) {
  RedisServer redis;
  FakeProvider fake;
  Fleet fleet(redis, fake.base_url(), {}, "", kPrice);
  for (int i = 0; i < 5; ++i)
    ASSERT_EQ((i < 3 ? fleet.a() : fleet.b()).PostAs(fleet.a().key(), "/v1/chat/completions", Chat()).status, 200);
  // Each replica's ledger reaches Redis within a flush (a second); either one reads the sum.
  for (GatewayUnderTest* gw : {&fleet.a(), &fleet.b()}) {
    Json rows;
    EXPECT_TRUE(Within(std::chrono::milliseconds(4000), [&] {
      rows = Fleet::Admin(*gw, "GET", "/admin/usage?by=key").json()["data"];
      return rows.size() == 1 && rows[0].value("requests", 0) == 5;
    })) << rows.dump();
    if (rows.size() != 1) continue;
    EXPECT_EQ(rows[0]["cost_picos"], 5 * kEach);
    EXPECT_EQ(rows[0]["completion_tokens"], 10);
  }
  // So does `warden usage`, from any machine with the fleet's config.
  FILE* p = ::popen((std::string(WARDEN_BIN) + " usage --by key --format json --config " + fleet.b().dir().path() +
                     "/warden.yaml 2>/dev/null").c_str(), "r");
  ASSERT_NE(p, nullptr);
  std::string text;
  char buf[512];
  while (std::fgets(buf, sizeof buf, p)) text += buf;
  EXPECT_EQ(::pclose(p), 0);
  auto cli = ParseJson(text);
  ASSERT_TRUE(cli && (*cli)["data"].size() == 1) << text;
  EXPECT_EQ((*cli)["data"][0]["requests"], 5);
  EXPECT_EQ((*cli)["data"][0]["cost_picos"], 5 * kEach);
  // The dashboard says whose live figures it shows; its 30 days are the fleet's.
  const Json page = Fleet::Admin(fleet.b(), "GET", "/dashboard/data").json();
  EXPECT_EQ(page["replica"], "replica-b");
  int64_t requests = 0;
  for (const Json& k : page["top_keys"])
    if (k.value("id", "") == KeyId(fleet.a().key())) requests = k.value("requests", int64_t{0});
  EXPECT_EQ(requests, 5) << page["top_keys"].dump();
}

TEST(ClusterTest, WithoutRedisNoLimitIsLiftedAndEverythingRecoversWhenItReturns) {
  RedisServer redis;
  FakeProvider fake;
  Fleet fleet(redis, fake.base_url(),
              {{"default", "models: [\"*\"]\nrate_limits:\n  requests_per_minute: 4\n"},
               {"strict", "models: [\"*\"]\nbudgets:\n  usd_per_day: 1\n  strict: true\n"},
               {"lenient", "models: [\"*\"]\nbudgets:\n  usd_per_day: 0.000004\n"}},
              "", kPrice);
  const std::string limited = fleet.a().key();
  const std::string strict = fleet.a().CreateKey("strict");
  const std::string lenient = fleet.a().CreateKey("lenient");
  // Wait for a's heartbeat to have counted both replicas (the share of a limit is by fleet size).
  auto metric = [&](const std::string& line) {
    return Fleet::Admin(fleet.a(), "GET", "/metrics").body.find("\n" + line + "\n") != std::string::npos;
  };
  ASSERT_TRUE(Within(std::chrono::milliseconds(6000), [&] { return metric("warden_cluster_replicas 2"); }));
  EXPECT_TRUE(metric("warden_cluster_redis_up 1"));
  // Seen once by a while Redis is up: cached (and the lenient key's spend last seen: $0.000002).
  ASSERT_EQ(fleet.a().PostAs(limited, "/v1/chat/completions", Chat()).status, 200);
  ASSERT_EQ(fleet.a().PostAs(strict, "/v1/chat/completions", Chat(2)).status, 200);
  ASSERT_EQ(fleet.a().PostAs(lenient, "/v1/chat/completions", Chat(2)).status, 200);
  redis.Stop();

  // Cached keys keep authenticating; a rate limit of 4 a minute becomes a's share, 2.
  std::vector<int> statuses;
  for (int i = 0; i < 3; ++i) statuses.push_back(fleet.a().PostAs(limited, "/v1/chat/completions", Chat()).status);
  EXPECT_EQ(statuses, (std::vector<int>{200, 200, 429}));
  EXPECT_TRUE(metric("warden_cluster_redis_up 0"));
  // A strict budget cannot be checked: refused, clearly.
  const HttpResult s = fleet.a().PostAs(strict, "/v1/chat/completions", Chat(2));
  EXPECT_EQ(s.status, 503);
  EXPECT_EQ(s.json()["error"]["code"], "budget_unavailable") << s.body;
  // A lenient one is held to what a knows: $0.000002 spent of $0.000004, one more, then no.
  EXPECT_EQ(fleet.a().PostAs(lenient, "/v1/chat/completions", Chat(2)).status, 200);
  EXPECT_EQ(fleet.a().PostAs(lenient, "/v1/chat/completions", Chat(2)).status, 429);
  // A key never seen cannot be checked; nor can a key be made.
  const HttpResult unknown =
      fleet.a().PostAs("wdn_prod_0123456789ab_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA", "/v1/chat/completions", Chat());
  EXPECT_EQ(unknown.status, 503) << unknown.body;
  EXPECT_EQ(unknown.json()["error"]["code"], "key_store_unavailable");
  const HttpResult create = Fleet::Admin(fleet.a(), "POST", "/admin/keys", {{"name", "while-down"}});
  EXPECT_GE(create.status, 500) << create.body;

  redis.Start();  // empty: a crash without persistence lost everything but what replicas re-send
  // Recovery without a restart: the spend a counted while Redis was down reaches it (the
  // heartbeat), and a strict budget is checked again.
  const std::string day_key = "warden:spend:" + KeyId(lenient) + ":d:" + UtcDate(UnixSeconds());
  EXPECT_TRUE(Within(std::chrono::milliseconds(8000), [&] {
    auto v = redis.Command({"GET", day_key});
    return v && v->AsInt() == kEach;
  })) << "the spend counted without Redis was not handed over";
  // (Redis lost the key records with its data: they are re-made here, as a restore would.)
  const std::string again = fleet.a().CreateKey("strict");
  EXPECT_TRUE(Within(std::chrono::milliseconds(8000), [&] {
    return fleet.a().PostAs(again, "/v1/chat/completions", Chat(2)).status == 200;
  }));
  // (The process's log goes to the last replica's file.)
  const std::string log = ReadFile(fleet.b().log_path());
  EXPECT_NE(log.find("redis_connection_lost"), std::string::npos);
  EXPECT_NE(log.find("shared_state_fallback"), std::string::npos);
}

// The erasure of a key's audit records (forget) reaches every replica's chain: the one asked,
// a running one, and one that was down, which applies it before it serves again.
TEST(ClusterTest, ForgetReachesEveryReplicasAuditChainEvenOneThatWasDown) {
  RedisServer redis;
  FakeProvider fake;
  TempDir shared;
  // One key hashing key and one pair of audit keys for the fleet (one Secret, as deployed).
  const std::string hash_key = "key_hash_key_file: " + shared.path() + "/key-hash.key\naudit:\n  master_key_file: " +
                               shared.path() + "/audit-master.key\n  signing_key_file: " + shared.path() +
                               "/audit-signing.key\n";
  auto replica = [&](const std::string& name) {
    return std::make_unique<GatewayUnderTest>(OneProviderYaml(fake.base_url()) + hash_key + "admin:\n  listen: 127.0.0.1:0\n  token: " +
                                              kToken + "\n" + redis.ClusterYaml(name));
  };
  auto a = replica("fa"), b = replica("fb"), c = replica("fc");
  const std::string key = a->key(), kept = b->key();
  for (GatewayUnderTest* gw : {a.get(), b.get(), c.get()}) {
    ASSERT_EQ(gw->PostAs(key, "/v1/chat/completions", Chat()).status, 200);
    ASSERT_EQ(gw->PostAs(kept, "/v1/chat/completions", Chat()).status, 200);
  }
  // What a replica's chain still opens of a key: meta states of its records.
  auto states = [&](GatewayUnderTest& gw, const std::string& id) {
    std::set<std::string> out;
    for (const Json& r : AuditRecords(gw))
      if (r["key_id"] == id) out.insert(r["meta_state"].get<std::string>());
    return out;
  };
  ASSERT_EQ(states(*c, KeyId(key)), (std::set<std::string>{"ok"}));
  c->Close();  // down during the erasure

  const HttpResult forgot = Fleet::Admin(*a, "POST", "/admin/keys/" + KeyId(key) + "/forget");
  ASSERT_EQ(forgot.status, 200) << forgot.body;
  EXPECT_EQ(forgot.json()["fleet"], true);
  EXPECT_EQ(states(*a, KeyId(key)), (std::set<std::string>{"erased (key forgotten)"}));
  // b, running, follows the announcement.
  EXPECT_TRUE(Within(std::chrono::milliseconds(5000), [&] { return states(*b, KeyId(key)) == std::set<std::string>{"erased (key forgotten)"}; }));
  // c applies it as it starts, before serving.
  c->Restart();
  EXPECT_EQ(states(*c, KeyId(key)), (std::set<std::string>{"erased (key forgotten)"}));
  // Other keys are untouched, and every chain still verifies.
  for (GatewayUnderTest* gw : {a.get(), b.get(), c.get()}) {
    EXPECT_EQ(states(*gw, KeyId(kept)), (std::set<std::string>{"ok"}));
    auto pk = audit::LoadPublicKey(shared.path() + "/audit-signing.key.pub");
    ASSERT_TRUE(pk.ok());
    const audit::VerifyReport report = audit::Verify(gw->app().audit()->reader(), *pk);
    EXPECT_TRUE(report.ok()) << (report.problems.empty() ? "" : report.problems[0]);
    EXPECT_GE(report.erasures, 1u);
  }
  // Forgetting a key this replica never saw records of still reaches the fleet.
  const std::string elsewhere = a->CreateKey("default");
  ASSERT_EQ(b->PostAs(elsewhere, "/v1/chat/completions", Chat()).status, 200);
  ASSERT_EQ(Fleet::Admin(*c, "POST", "/admin/keys/" + KeyId(elsewhere) + "/forget").status, 200);
  EXPECT_TRUE(Within(std::chrono::milliseconds(5000), [&] { return states(*b, KeyId(elsewhere)) == std::set<std::string>{"erased (key forgotten)"}; }));
  // warden-audit forget on a stopped replica reaches the running ones too.
  const std::string third = a->CreateKey("default");
  ASSERT_EQ(a->PostAs(third, "/v1/chat/completions", Chat()).status, 200);
  ASSERT_EQ(c->PostAs(third, "/v1/chat/completions", Chat()).status, 200);
  c->Close();  // the tool needs the store
  const std::string cmd = std::string(WARDEN_AUDIT_BIN) + " forget --key " + KeyId(third) + " --config " +
                          c->dir().path() + "/warden.yaml >/dev/null 2>&1";
  EXPECT_EQ(std::system(cmd.c_str()), 0) << cmd;
  EXPECT_TRUE(Within(std::chrono::milliseconds(5000), [&] { return states(*a, KeyId(third)) == std::set<std::string>{"erased (key forgotten)"}; }));
  // An auditor checks the fleet's chains in one go — each names its replica in its signed
  // checkpoints — and reads them merged in time order.
  const std::string dirs = a->dir().path() + "/data/audit," + b->dir().path() + "/data/audit," + c->dir().path() +
                           "/data/audit";
  FILE* out = ::popen((std::string(WARDEN_AUDIT_BIN) + " verify --dir " + dirs + " --public-key " + shared.path() +
                       "/audit-signing.key.pub 2>&1").c_str(), "r");
  ASSERT_NE(out, nullptr);
  std::string report;
  char buf[512];
  while (std::fgets(buf, sizeof buf, out)) report += buf;
  EXPECT_EQ(::pclose(out), 0) << report;
  for (const char* name : {"replica:        fa", "replica:        fb", "replica:        fc", "3 chain(s): all intact"})
    EXPECT_NE(report.find(name), std::string::npos) << report;
  out = ::popen((std::string(WARDEN_AUDIT_BIN) + " export --format jsonl --dir " + dirs + " --master-key " +
                 shared.path() + "/audit-master.key 2>/dev/null").c_str(), "r");
  ASSERT_NE(out, nullptr);
  std::string line;
  std::set<std::string> replicas;
  int64_t last = 0;
  size_t records = 0;
  bool ordered = true;
  while (std::fgets(buf, sizeof buf, out)) {
    line += buf;
    if (line.empty() || line.back() != '\n') continue;
    auto j = ParseJson(line);
    line.clear();
    if (!j) continue;
    ++records;
    replicas.insert(j->value("replica", ""));
    ordered = ordered && (*j)["time_ms"].get<int64_t>() >= last;
    last = (*j)["time_ms"].get<int64_t>();
  }
  EXPECT_EQ(::pclose(out), 0);
  EXPECT_GT(records, 12u);
  EXPECT_TRUE(ordered);
  EXPECT_EQ(replicas, (std::set<std::string>{"fa", "fb", "fc"}));
  // Each record's own metadata names its replica too.
  int named = 0;
  for (const Json& r : AuditRecords(*a))
    if (r["meta_state"] == "ok") {
      EXPECT_EQ(r["meta"].value("replica", ""), "fa") << r.dump();
      ++named;
    }
  EXPECT_GE(named, 4);
}

TEST(ClusterTest, ServeRefusesToStartWhenRedisIsUnreachableOrTheHashingKeyDiffers) {
  RedisServer redis;
  FakeProvider fake;
  {
    const uint16_t closed = redis.port();
    redis.Stop();
    try {
      GatewayUnderTest gw(OneProviderYaml(fake.base_url()) + "cluster:\n  redis:\n    url: redis://127.0.0.1:" +
                          std::to_string(closed) + "\n    connect_timeout: 500ms\n");
      FAIL() << "started without its Redis";
    } catch (const std::runtime_error& e) {
      EXPECT_NE(std::string(e.what()).find("cluster.redis"), std::string::npos) << e.what();
      EXPECT_NE(std::string(e.what()).find("connection refused"), std::string::npos) << e.what();
    }
    redis.Start();
  }
  GatewayUnderTest first(OneProviderYaml(fake.base_url()) + redis.ClusterYaml("one"));
  try {
    // Its own data directory, so its own fresh hashing key: not the fleet's.
    GatewayUnderTest second(OneProviderYaml(fake.base_url()) + redis.ClusterYaml("two"));
    FAIL() << "joined a fleet with a different key hashing key";
  } catch (const std::runtime_error& e) {
    EXPECT_NE(std::string(e.what()).find("key_hash_key_file"), std::string::npos) << e.what();
  }
}

TEST(ClusterTest, TlsAndAclCredentialsWorkAndNeverReachTheLogsOrTheDataDirectory) {
  TempDir certs;
  const std::string cert = certs.path() + "/redis.crt", key = certs.path() + "/redis.key";
  ASSERT_EQ(std::system(("openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj /CN=127.0.0.1 "
                         "-addext subjectAltName=IP:127.0.0.1 -keyout " + key + " -out " + cert + " >/dev/null 2>&1")
                            .c_str()),
            0);
  const std::string password = "redis-pw-canary-5f1e2d3c4b5a";
  RedisServer redis({"", "warden-gw", password, cert, key});
  FakeProvider fake;
  const std::string password_file = certs.Write("redis.pw", password + "\n");
  {
    GatewayUnderTest gw(OneProviderYaml(fake.base_url()) +
                        redis.ClusterYaml("tls", "    username: warden-gw\n    password_file: " + password_file +
                                                     "\n    ca_file: " + cert + "\n"));
    EXPECT_EQ(gw.Post("/v1/chat/completions", Chat()).status, 200);
    auto stored = redis.Command({"HLEN", "warden:keys"});
    ASSERT_TRUE(stored) << stored.error().message;
    EXPECT_EQ(stored->integer, 1);
    const std::string log = gw.ReadLog();
    EXPECT_EQ(log.find(password), std::string::npos);
    EXPECT_TRUE(FilesContaining(gw.dir().path(), password).empty());
  }
  // The wrong password: a clear refusal that does not quote it.
  const std::string wrong = "wrong-pw-canary-9a8b7c6d5e";
  try {
    GatewayUnderTest gw(OneProviderYaml(fake.base_url()) +
                        redis.ClusterYaml("tls", "    username: warden-gw\n    password: " + wrong + "\n    ca_file: " +
                                                     cert + "\n"));
    FAIL() << "started with a wrong Redis password";
  } catch (const std::runtime_error& e) {
    EXPECT_NE(std::string(e.what()).find("WRONGPASS"), std::string::npos) << e.what();
    EXPECT_EQ(std::string(e.what()).find(wrong), std::string::npos);
  }
  // A server certificate the CA file does not vouch for: refused.
  TempDir other;
  const std::string other_cert = other.path() + "/other.crt";
  ASSERT_EQ(std::system(("openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj /CN=127.0.0.1 -keyout " +
                         other.path() + "/other.key -out " + other_cert + " >/dev/null 2>&1")
                            .c_str()),
            0);
  try {
    GatewayUnderTest gw(OneProviderYaml(fake.base_url()) +
                        redis.ClusterYaml("tls", "    username: warden-gw\n    password_file: " + password_file +
                                                     "\n    ca_file: " + other_cert + "\n"));
    FAIL() << "trusted a Redis whose certificate was not verified";
  } catch (const std::runtime_error& e) {
    EXPECT_NE(std::string(e.what()).find("certificate could not be verified"), std::string::npos) << e.what();
  }
}

TEST(ClusterTest, TheKeysCommandWorksBesideRunningReplicas) {
  RedisServer redis;
  FakeProvider fake;
  Fleet fleet(redis, fake.base_url());
  // The CLI with the fleet's config: no data directory lock in the way, the key works at once.
  const std::string config = fleet.a().dir().path() + "/warden.yaml";
  FILE* p = ::popen((std::string(WARDEN_BIN) + " keys create --name from-cli --config " + config + " 2>/dev/null").c_str(), "r");
  ASSERT_NE(p, nullptr);
  char line[512] = {};
  const bool read = std::fgets(line, sizeof line, p) != nullptr;
  EXPECT_EQ(::pclose(p), 0);
  ASSERT_TRUE(read);
  std::string key = line;
  while (!key.empty() && (key.back() == '\n' || key.back() == '\r')) key.pop_back();
  ASSERT_EQ(key.rfind("wdn_", 0), 0u) << key;
  EXPECT_EQ(fleet.a().PostAs(key, "/v1/chat/completions", Chat()).status, 200);
  EXPECT_EQ(fleet.b().PostAs(key, "/v1/chat/completions", Chat()).status, 200);
  p = ::popen((std::string(WARDEN_BIN) + " keys revoke " + KeyId(key) + " --config " + config + " 2>/dev/null").c_str(), "r");
  ASSERT_NE(p, nullptr);
  EXPECT_EQ(::pclose(p), 0);
  EXPECT_TRUE(Within(std::chrono::milliseconds(1000), [&] {
    return fleet.b().PostAs(key, "/v1/chat/completions", Chat()).status == 401;
  }));
}

}  // namespace
}  // namespace warden::testing
