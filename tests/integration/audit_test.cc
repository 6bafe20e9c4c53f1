// The audit log through the real gateway: records for served, streamed and refused requests,
// fail-closed under `audit: required` with a failing disk, zero retention, and erasure.
#include <gtest/gtest.h>

#include <fcntl.h>
#include <sched.h>
#include <sys/mount.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <thread>

#include "audit/maintenance.h"
#include "audit/reader.h"
#include "support/failing_fs.h"
#include "support/fake_provider.h"
#include "support/harness.h"

namespace warden::testing {
namespace {

const std::string kCanary = "CANARY-7f3e-private-diagnosis";

Json Chat(const std::string& content, bool stream = false, const std::string& model = "chat-alias") {
  return Json{{"model", model}, {"stream", stream},
              {"messages", Json::array({Json{{"role", "user"}, {"content", content}}})}};
}



audit::VerifyReport VerifyGateway(GatewayUnderTest& gw) {
  auto pk = audit::LoadPublicKey(gw.dir().path() + "/data/audit-signing.key.pub");
  EXPECT_TRUE(pk.ok());
  return audit::Verify(gw.app().audit()->reader(), *pk);
}

TEST(AuditIntegrationTest, ServedStreamedAndRefusedRequestsAreRecorded) {
  FakeProvider fake;
  GatewayUnderTest gw(OneProviderYaml(fake.base_url()), "", "",
                      {{"narrow", "models: [\"other-*\"]\n"}});
  HttpResult r = gw.Post("/v1/chat/completions", Chat("hello"));
  ASSERT_EQ(r.status, 200) << r.body;
  StreamingCall s(gw.port(), "/v1/chat/completions", Dump(Chat("hello", true)), gw.Auth());
  ASSERT_NE(s.ReadAll().find("[DONE]"), std::string::npos);
  std::string narrow = gw.CreateKey("narrow");
  EXPECT_EQ(gw.PostAs(narrow, "/v1/chat/completions", Chat("hello")).status, 403);

  std::vector<Json> recs = AuditRecords(gw);
  ASSERT_EQ(recs.size(), 5u) << Json(recs).dump(1);
  EXPECT_EQ(recs[0]["type"], "intent");
  EXPECT_EQ(recs[0]["key_id"], KeyId(gw.key()));
  EXPECT_EQ(recs[0]["meta"]["model"], "chat-alias");
  EXPECT_EQ(recs[0]["meta"]["request_id"], r.header("x-request-id"));
  EXPECT_EQ(recs[0]["meta"]["route"][0]["deployment"], "fake/fake-model-1");
  const Json& out = recs[1]["meta"];
  EXPECT_EQ(recs[1]["type"], "outcome");
  EXPECT_EQ(out["intent_seq"], 1);
  EXPECT_EQ(out["status"], 200);
  EXPECT_EQ(out["outcome"], "completed");
  EXPECT_EQ(out["deployment"], "fake/fake-model-1");
  EXPECT_EQ(out["attempts"].size(), 1u);
  EXPECT_EQ(out["attempts"][0]["status"], 200);
  EXPECT_EQ(out["prompt_tokens"], 5);  // what the fake reported
  EXPECT_EQ(out["completion_tokens"], 2);
  EXPECT_EQ(out["usage_estimated"], false);
  EXPECT_TRUE(recs[1]["content"].is_null());  // content_logging: none
  EXPECT_EQ(recs[3]["type"], "outcome");
  EXPECT_EQ(recs[3]["meta"]["outcome"], "completed");
  EXPECT_EQ(recs[4]["type"], "rejected");
  EXPECT_EQ(recs[4]["key_id"], KeyId(narrow));
  EXPECT_EQ(recs[4]["meta"]["status"], 403);
  EXPECT_EQ(recs[4]["meta"]["error"], "model_not_allowed");
  // No key, no content: the prompt "hello" appears in no record.
  for (const auto& rec : recs) EXPECT_EQ(rec.dump().find("hello"), std::string::npos);
  audit::VerifyReport v = VerifyGateway(gw);
  EXPECT_TRUE(v.ok()) << v.problems[0];
}

// Requests on the Anthropic Messages endpoint are closed like any other: an intent left open
// would read as `interrupted` after the next restart.
TEST(AuditIntegrationTest, MessagesRequestsGetTheirOutcomeRecorded) {
  FakeProvider fake;
  GatewayUnderTest gw(OneProviderYaml(fake.base_url()));
  const Json body{{"model", "chat-alias"}, {"max_tokens", 16},
                  {"messages", Json::array({Json{{"role", "user"}, {"content", "hello"}}})}};
  HttpResult r = gw.Post("/v1/messages", body);
  ASSERT_EQ(r.status, 200) << r.body;
  Json streamed = body;
  streamed["stream"] = true;
  StreamingCall s(gw.port(), "/v1/messages", Dump(streamed), gw.Auth());
  ASSERT_NE(s.ReadAll().find("message_stop"), std::string::npos);

  std::vector<Json> recs = AuditRecords(gw);
  ASSERT_EQ(recs.size(), 4u) << Json(recs).dump(1);
  for (int i : {0, 2}) {
    EXPECT_EQ(recs[i]["type"], "intent");
    EXPECT_EQ(recs[i]["meta"]["endpoint"], "messages");
    EXPECT_EQ(recs[i + 1]["type"], "outcome");
    EXPECT_EQ(recs[i + 1]["meta"]["intent_seq"], i + 1);
    EXPECT_EQ(recs[i + 1]["meta"]["outcome"], "completed");
    EXPECT_EQ(recs[i + 1]["meta"]["status"], 200);
  }
  audit::VerifyReport v = VerifyGateway(gw);
  EXPECT_TRUE(v.ok()) << v.problems[0];
}

TEST(AuditIntegrationTest, RequiredAuditFailsClosedOnAFailingDisk) {
  FakeProvider fake;
  auto [fs, env] = FailingFileSystem::Make();
  AppOptions options;
  options.audit_env = env;
  GatewayUnderTest gw(OneProviderYaml(fake.base_url()), "", "", {{"audited", "audit: required\n"}},
                      options);
  std::string audited = gw.CreateKey("audited");
  ASSERT_EQ(gw.PostAs(audited, "/v1/chat/completions", Chat("hi")).status, 200);
  ASSERT_EQ(fake.requests().size(), 1u);

  fs->failing = true;
  HttpResult refused = gw.PostAs(audited, "/v1/chat/completions", Chat("hi"));
  EXPECT_EQ(refused.status, 503);
  EXPECT_EQ(refused.json()["error"]["code"], "audit_unavailable");
  StreamingCall stream(gw.port(), "/v1/chat/completions", Dump(Chat("hi", true)),
                       GatewayUnderTest::AuthWith(audited));
  EXPECT_EQ(stream.status(), 503);
  EXPECT_EQ(fake.requests().size(), 1u);  // nothing was sent upstream
  EXPECT_EQ(Http(gw.port(), "GET", "/readyz").status, 503);
  // best_effort keeps serving (and says so in the log).
  EXPECT_EQ(gw.Post("/v1/chat/completions", Chat("hi")).status, 200);
  EXPECT_EQ(fake.requests().size(), 2u);

  fs->failing = false;
  HttpResult ready = Http(gw.port(), "GET", "/readyz");
  EXPECT_EQ(ready.status, 200) << ready.body;
  Status recovered = gw.app().audit()->Recover();
  EXPECT_TRUE(recovered.ok()) << recovered.error().message;
  EXPECT_EQ(gw.PostAs(audited, "/v1/chat/completions", Chat("hi")).status, 200);
  EXPECT_EQ(fake.requests().size(), 3u);
  audit::VerifyReport v = VerifyGateway(gw);
  EXPECT_TRUE(v.ok()) << v.problems[0];
  EXPECT_NE(gw.ReadLog().find("audit_write_failed"), std::string::npos);
}

// A tmpfs of `bytes` at `dir`, in a mount namespace private to this test process (ctest runs
// every test in a process of its own), so it vanishes with the process. Must run before any
// thread exists: a mount namespace is per thread once threads are made. As root (CI) a plain
// unshare; otherwise a user namespace that maps us to root. Returns why it could not.
std::string MountSmallFs(const std::string& dir, size_t bytes) {
  const uid_t uid = getuid();
  const gid_t gid = getgid();
  if (unshare(CLONE_NEWNS) != 0) {
    if (unshare(CLONE_NEWUSER | CLONE_NEWNS) != 0) return std::string("unshare: ") + std::strerror(errno);
    auto write = [](const char* file, const std::string& text) {
      int fd = open(file, O_WRONLY | O_CLOEXEC);
      bool ok = fd >= 0 && ::write(fd, text.data(), text.size()) == static_cast<ssize_t>(text.size());
      if (fd >= 0) close(fd);
      return ok;
    };
    if (!write("/proc/self/setgroups", "deny") || !write("/proc/self/uid_map", "0 " + std::to_string(uid) + " 1") ||
        !write("/proc/self/gid_map", "0 " + std::to_string(gid) + " 1"))
      return "cannot map a user namespace";
  }
  if (mount(nullptr, "/", nullptr, MS_REC | MS_PRIVATE, nullptr) != 0)
    return std::string("make mounts private: ") + std::strerror(errno);
  std::filesystem::create_directories(dir);
  const std::string opts = "size=" + std::to_string(bytes) + ",mode=0700";
  if (mount("tmpfs", dir.c_str(), "tmpfs", MS_NOSUID | MS_NODEV, opts.c_str()) != 0)
    return std::string("mount tmpfs: ") + std::strerror(errno);
  return "";
}

// Writes to `path` until the file system says ENOSPC; returns the bytes written.
size_t FillUp(const std::string& path) {
  int fd = open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (fd < 0) return 0;
  const std::string chunk(4096, 'f');
  size_t total = 0;
  for (;;) {
    ssize_t n = ::write(fd, chunk.data(), chunk.size());
    if (n <= 0) break;
    total += static_cast<size_t>(n);
  }
  close(fd);
  return total;
}

// The audit directory on a really full file system (not a fault-injecting Env): RocksDB used to
// abort the process on its own LOG file (`sync_without_flush_called_`). Now `required` is refused
// without reaching the provider, `best_effort` keeps being served, /readyz says why, and the store
// comes back without a restart once space is freed; the chain verifies.
TEST(AuditIntegrationTest, AFullAuditDiskRefusesRequiredServesBestEffortAndRecovers) {
  TempDir mnt;
  const std::string audit_dir = mnt.path() + "/audit-fs";
  const std::string why = MountSmallFs(audit_dir, 2 << 20);
  ASSERT_EQ(why, "") << "this test needs a real small file system (root, or user namespaces)";
  struct Unmount {
    std::string dir;
    ~Unmount() { umount2(dir.c_str(), MNT_DETACH); }
  } unmount{audit_dir};
  {
    FakeProvider fake;
    GatewayUnderTest gw(OneProviderYaml(fake.base_url()) + "audit:\n  dir: " + audit_dir + "/db\n", "", "",
                        {{"audited", "audit: required\n"}});
    std::string audited = gw.CreateKey("audited");
    ASSERT_EQ(gw.PostAs(audited, "/v1/chat/completions", Chat("hi")).status, 200);

    const std::string filler = audit_dir + "/filler";
    ASSERT_GT(FillUp(filler), 0u);
    // The WAL's last page may still hold a few records; the store fails within a few requests.
    int refused_at = -1;
    for (int i = 0; i < 200 && refused_at < 0; ++i) {
      const size_t sent_before = fake.requests().size();
      HttpResult r = gw.PostAs(audited, "/v1/chat/completions", Chat("hi"));
      if (r.status == 200) continue;
      ASSERT_EQ(r.status, 503) << r.body;
      EXPECT_EQ(r.json()["error"]["code"], "audit_unavailable");
      // Refused at the intent (nothing sent) or at the outcome (answer replaced by the 503).
      EXPECT_LE(fake.requests().size(), sent_before + 1);
      refused_at = i;
    }
    ASSERT_GE(refused_at, 0) << "the full disk never failed an audit write";
    const size_t sent = fake.requests().size();
    HttpResult again = gw.PostAs(audited, "/v1/chat/completions", Chat("hi"));
    EXPECT_EQ(again.status, 503);
    EXPECT_EQ(again.json()["error"]["code"], "audit_unavailable");
    EXPECT_EQ(fake.requests().size(), sent) << "an audit: required request reached the provider";
    HttpResult ready = Http(gw.port(), "GET", "/readyz");
    EXPECT_EQ(ready.status, 503);
    EXPECT_NE(ready.body.find("no space left"), std::string::npos) << ready.body;
    // best_effort keeps being served.
    EXPECT_EQ(gw.Post("/v1/chat/completions", Chat("hi")).status, 200);
    EXPECT_EQ(gw.Post("/v1/chat/completions", Chat("hi", true)).status, 200);

    // Space comes back: readiness (which retries the store) turns 200 without a restart.
    std::filesystem::remove(filler);
    int ready_status = 0;
    for (int i = 0; i < 50 && ready_status != 200; ++i) {
      ready_status = Http(gw.port(), "GET", "/readyz").status;
      if (ready_status != 200) std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
    EXPECT_EQ(ready_status, 200);
    EXPECT_EQ(gw.PostAs(audited, "/v1/chat/completions", Chat("hi")).status, 200);
    audit::VerifyReport v = VerifyGateway(gw);
    EXPECT_TRUE(v.ok()) << (v.problems.empty() ? "" : v.problems[0]);
    const std::string log = gw.ReadLog();
    EXPECT_NE(log.find("audit_write_failed"), std::string::npos);
    EXPECT_NE(log.find("audit_store_recovered"), std::string::npos);
  }
  EXPECT_FALSE(std::filesystem::exists(audit_dir + "/db/LOG")) << "RocksDB's info log is in-process";
}

TEST(AuditIntegrationTest, ContentIsLoggedOnlyWhenThePolicySaysAndNeverUnderZeroRetention) {
  FakeProvider fake;
  GatewayUnderTest gw(OneProviderYaml(fake.base_url(), "chat-alias", "fake-model-1",
                                      "    zero_retention: true\n"),
                      "", "",
                      {{"zr", "zero_retention: true\n"},
                       {"full", "content_logging: full\nretention: { content_days: 30 }\n"}});
  std::string zr = gw.CreateKey("zr"), full = gw.CreateKey("full");
  ASSERT_EQ(gw.PostAs(zr, "/v1/chat/completions", Chat("zr " + kCanary)).status, 200);
  StreamingCall s(gw.port(), "/v1/chat/completions", Dump(Chat("zr " + kCanary, true)),
                  GatewayUnderTest::AuthWith(zr));
  s.ReadAll();
  ASSERT_EQ(fake.requests().size(), 2u);
  // Zero retention: the canary is in no record, decrypted or not, and in no file.
  for (const auto& rec : AuditRecords(gw)) EXPECT_EQ(rec.dump().find(kCanary), std::string::npos) << rec.dump();
  // The positive control: the same prompt under content_logging: full is in the decrypted
  // record (request and answer), and still in no file as plaintext.
  ASSERT_EQ(gw.PostAs(full, "/v1/chat/completions", Chat("full " + kCanary)).status, 200);
  std::vector<Json> recs = AuditRecords(gw);
  const Json& intent = recs[recs.size() - 2];
  EXPECT_EQ(intent["content"]["request"]["messages"][0]["content"], "full " + kCanary);
  EXPECT_EQ(recs.back()["content"]["response"]["choices"][0]["message"]["content"], "fake answer");
  // The same on the Anthropic Messages endpoint (its answer recorded in the canonical form).
  const Json messages{{"model", "chat-alias"}, {"max_tokens", 16},
                      {"messages", Json::array({Json{{"role", "user"}, {"content", "full " + kCanary}}})}};
  ASSERT_EQ(gw.PostAs(full, "/v1/messages", messages).status, 200);
  recs = AuditRecords(gw);
  EXPECT_EQ(recs[recs.size() - 2]["content"]["request"]["messages"][0]["content"], "full " + kCanary);
  EXPECT_EQ(recs.back()["content"]["response"]["choices"][0]["message"]["content"], "fake answer");
  gw.ReadLog();  // stops the server; the access log is part of what is searched
  EXPECT_TRUE(FilesContaining(gw.dir().path(), kCanary).empty());
}

TEST(AuditIntegrationTest, ForgetShredsAKeysRecordsAndLeavesTheChainVerifiable) {
  FakeProvider fake;
  GatewayUnderTest gw(OneProviderYaml(fake.base_url()), "", "",
                      {{"full", "content_logging: full\nretention: { content_days: 30 }\n"}});
  std::string full = gw.CreateKey("full");
  ASSERT_EQ(gw.PostAs(full, "/v1/chat/completions", Chat(kCanary)).status, 200);
  ASSERT_EQ(gw.Post("/v1/chat/completions", Chat("someone else")).status, 200);
  auto master = audit::MasterKey::Load(gw.dir().path() + "/data/audit-master.key");
  audit::Decryptor d(gw.app().audit()->reader(), *master);
  auto raw_key = d.UnwrapDataKey(KeyId(full));
  ASSERT_TRUE(raw_key.ok());
  const std::string key_bytes(raw_key->Reveal());
  gw.ReadLog();
  ASSERT_TRUE(audit::AuditMaintenance(*gw.app().audit()).Forget(KeyId(full), "test").ok());

  EXPECT_TRUE(FilesContaining(gw.dir().path(), key_bytes).empty());
  EXPECT_TRUE(FilesContaining(gw.dir().path(), kCanary).empty());
  std::vector<Json> recs = AuditRecords(gw);
  size_t erased = 0, readable = 0;
  for (const auto& rec : recs) {
    if (rec["key_id"] == KeyId(full)) {
      EXPECT_EQ(rec["meta_state"], "erased (key forgotten)");
      ++erased;
    } else if (rec["type"] != "erasure") {
      EXPECT_EQ(rec["meta_state"], "ok");
      ++readable;
    }
  }
  EXPECT_EQ(erased, 2u);
  EXPECT_EQ(readable, 2u);
  EXPECT_EQ(recs.back()["type"], "erasure");
  audit::VerifyReport v = VerifyGateway(gw);
  EXPECT_TRUE(v.ok()) << v.problems[0];
  EXPECT_EQ(v.erasures, 1u);
}

}  // namespace
}  // namespace warden::testing
