// Crash safety of the audit log: the real `warden` binary under concurrent load is killed with
// SIGKILL several times. After every restart, each request whose client received a complete
// answer has its intent and a `completed` outcome; intents left open by the kill are closed as
// `interrupted`; the chain verifies (here and with the `warden-audit verify` binary).
#include <gtest/gtest.h>
#include <rocksdb/db.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <fstream>
#include <map>
#include <mutex>
#include <set>
#include <sstream>
#include <thread>

#include "audit/reader.h"
#include "common/util.h"
#include "support/fake_provider.h"
#include "support/harness.h"

namespace warden::testing {
namespace {

std::string ReadFile(const std::string& path) {
  std::ifstream in(path);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// Runs `argv`, stdout and stderr to `out_file`; returns the pid.
pid_t Spawn(const std::vector<std::string>& argv, const std::string& out_file) {
  std::fflush(stdout);  // the child must not flush our buffer a second time
  pid_t pid = fork();
  if (pid == 0) {
    FILE* f = freopen(out_file.c_str(), "a", stdout);
    (void)f;
    dup2(fileno(stdout), 2);
    std::vector<char*> args;
    for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
    args.push_back(nullptr);
    execv(args[0], args.data());
    _exit(127);
  }
  return pid;
}

int RunToEnd(const std::vector<std::string>& argv, const std::string& out_file) {
  pid_t pid = Spawn(argv, out_file);
  int status = 0;
  waitpid(pid, &status, 0);
  return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

class Gateway {
 public:
  Gateway(const std::string& config, const std::string& log) : log_(log) {
    const size_t before = ReadFile(log).size();
    pid_ = Spawn({WARDEN_BIN, "serve", "--config", config}, log + ".out");
    // The log line {"event":"listening",…,"port":N,…} written once the server listens.
    for (int i = 0; i < 200 && port_ == 0; ++i) {
      std::this_thread::sleep_for(std::chrono::milliseconds(25));
      std::string text = ReadFile(log);
      size_t at = text.size() > before ? text.find("\"event\":\"listening\"", before) : std::string::npos;
      size_t p = at == std::string::npos ? at : text.find("\"port\":", at);
      if (p != std::string::npos) port_ = static_cast<uint16_t>(std::atoi(text.c_str() + p + 7));
    }
  }
  ~Gateway() {
    if (pid_ > 0) Signal(SIGKILL);  // a failed assertion must not leave a server running
  }
  uint16_t port() const { return port_; }
  void Kill() { Signal(SIGKILL); }
  void Stop() { Signal(SIGTERM); }

 private:
  void Signal(int sig) {
    kill(pid_, sig);
    int status = 0;
    waitpid(pid_, &status, 0);
    pid_ = -1;
  }
  std::string log_;
  pid_t pid_ = -1;
  uint16_t port_ = 0;
};

TEST(AuditCrashTest, SigkillUnderLoadLosesNoAcknowledgedRecord) {
  InitCrypto();
  TempDir dir;
  FakeProvider fake;
  std::filesystem::create_directories(dir.path() + "/policies");
  std::filesystem::copy(std::string(WARDEN_SOURCE_DIR) + "/policies/redaction",
                        dir.path() + "/policies/redaction");
  dir.Write("policies/default.yaml", "name: default\naudit: required\n");
  const std::string log = dir.path() + "/warden.log";
  const std::string config = dir.Write(
      "warden.yaml", "server:\n  listen: 127.0.0.1:0\n  worker_threads: 16\n  access_log: " + log +
                         "\ndata_dir: " + dir.path() + "/data\npolicies_dir: " + dir.path() +
                         "/policies\n" + OneProviderYaml(fake.base_url()));
  std::string key;
  {
    const std::string out = dir.path() + "/key.out";
    ASSERT_EQ(RunToEnd({WARDEN_BIN, "keys", "create", "--name", "crash", "--config", config}, out), 0);
    std::istringstream lines(ReadFile(out));
    for (std::string line; std::getline(lines, line);)
      if (line.rfind("wdn_", 0) == 0) key = line;
    ASSERT_FALSE(key.empty());
  }

  std::mutex mu;
  std::set<std::string> acknowledged;  // request ids of complete 200 answers
  const Json body = {{"model", "chat-alias"},
                     {"messages", Json::array({Json{{"role", "user"}, {"content", "hi"}}})}};
  for (int round = 0; round < 4; ++round) {
    Gateway gw(config, log);
    ASSERT_NE(gw.port(), 0) << ReadFile(log + ".out");
    std::atomic<bool> stop{false};
    std::vector<std::thread> clients;
    for (int c = 0; c < 8; ++c)
      clients.emplace_back([&] {
        while (!stop) {
          try {
            HttpResult r = Http(gw.port(), "POST", "/v1/chat/completions", Dump(body),
                                GatewayUnderTest::AuthWith(key));
            auto j = ParseJson(r.body);
            if (r.status == 200 && j && j->contains("choices")) {
              std::lock_guard<std::mutex> lk(mu);
              acknowledged.insert(r.header("x-request-id"));
            }
          } catch (const std::exception&) {
            // the gateway was killed mid-request: not acknowledged
          }
        }
      });
    std::this_thread::sleep_for(std::chrono::milliseconds(400 + 150 * round));
    gw.Kill();
    stop = true;
    for (auto& t : clients) t.join();
  }
  ASSERT_GT(acknowledged.size(), 50u);
  {
    Gateway last(config, log);  // closes what the last kill left open, then stops cleanly
    ASSERT_NE(last.port(), 0);
    last.Stop();
  }

  auto reader = audit::AuditReader::OpenReadOnly(dir.path() + "/data/audit");
  ASSERT_TRUE(reader.ok()) << reader.error().message;
  auto master = audit::MasterKey::Load(dir.path() + "/data/audit-master.key");
  ASSERT_TRUE(master.ok());
  audit::Decryptor d(**reader, *master);
  std::map<std::string, std::set<std::string>> seen;  // request id → "intent" / outcome names
  uint64_t interrupted = 0;
  ASSERT_TRUE((*reader)->ForEachRaw(1, [&](uint64_t, std::string_view raw) {
    auto r = audit::Decode(raw);
    EXPECT_TRUE(r.ok());
    auto o = d.Open(*r);
    EXPECT_EQ(o.meta_state, audit::Decryptor::State::kOk);
    std::string id = o.meta.value("request_id", "");
    if (r->header.type == audit::RecordType::kIntent) seen[id].insert("intent");
    if (r->header.type == audit::RecordType::kOutcome) {
      std::string outcome = o.meta.value("outcome", "");
      seen[id].insert(outcome);
      interrupted += outcome == "interrupted";
    }
    return true;
  }).ok());
  for (const auto& id : acknowledged) {
    ASSERT_TRUE(seen.count(id)) << id << " was answered but has no audit record";
    EXPECT_TRUE(seen[id].count("intent")) << id;
    EXPECT_TRUE(seen[id].count("completed")) << id;
  }
  for (const auto& [id, kinds] : seen)
    EXPECT_EQ(kinds.size(), 2u) << id << " has an intent without exactly one outcome";
  std::printf("acknowledged %zu, audited requests %zu, closed as interrupted %llu\n",
              acknowledged.size(), seen.size(), (unsigned long long)interrupted);

  auto pk = audit::LoadPublicKey(dir.path() + "/data/audit-signing.key.pub");
  audit::VerifyReport v = audit::Verify(**reader, *pk);
  EXPECT_TRUE(v.ok()) << v.problems[0];
  reader->reset();
  // The auditor's binary agrees (store, public key and shipped checkpoint file from the config).
  EXPECT_EQ(RunToEnd({WARDEN_AUDIT_BIN, "verify", "--config", config}, dir.path() + "/verify.out"), 0)
      << ReadFile(dir.path() + "/verify.out");

  // The rest of the auditor's tool on what the crash test left.
  auto tool = [&](std::vector<std::string> args, const std::string& name) {
    args.insert(args.begin(), WARDEN_AUDIT_BIN);
    args.insert(args.end(), {"--config", config});
    int rc = RunToEnd(args, dir.path() + "/" + name);
    return std::pair<int, std::string>(rc, ReadFile(dir.path() + "/" + name));
  };
  auto [list_rc, list] = tool({"list", "--type", "outcome"}, "list.out");
  EXPECT_EQ(list_rc, 0);
  EXPECT_NE(list.find("interrupted"), std::string::npos);
  // seq 1 is the CLI's key_created record; seq 2 the first request's intent.
  auto [show_rc, show] = tool({"show", "2"}, "show.out");
  EXPECT_EQ(show_rc, 0);
  EXPECT_NE(show.find("\"type\": \"intent\""), std::string::npos) << show;
  auto [export_rc, exported] = tool({"export", "--format", "jsonl"}, "export.out");
  EXPECT_EQ(export_rc, 0);
  size_t lines = std::count(exported.begin(), exported.end(), '\n');
  EXPECT_EQ(lines, v.records) << exported.substr(0, 500);
  size_t a = key.find('_', 4);
  const std::string key_id = key.substr(a + 1, key.find('_', a + 1) - a - 1);
  EXPECT_EQ(tool({"forget", "--key", key_id}, "forget.out").first, 0);
  EXPECT_EQ(tool({"purge"}, "purge.out").first, 0);
  auto [rot_rc, rot] = tool({"keys", "rotate"}, "rotate.out");
  EXPECT_EQ(rot_rc, 0) << rot;
  auto [show2_rc, show2] = tool({"show", "2"}, "show2.out");
  EXPECT_NE(show2.find("erased"), std::string::npos) << show2;
  auto [verify2_rc, verify2] = tool({"verify"}, "verify2.out");
  EXPECT_EQ(verify2_rc, 0) << verify2;
  EXPECT_NE(verify2.find("1 key(s) forgotten"), std::string::npos) << verify2;
  EXPECT_EQ(tool({"verify", "--public-key", dir.path() + "/nope"}, "nokey.out").first, 3);
  EXPECT_EQ(tool({"frobnicate"}, "usage.out").first, 2);
  // A record deleted by hand: verify exits 1 and names it.
  {
    rocksdb::DB* db = nullptr;
    ASSERT_TRUE(rocksdb::DB::Open(rocksdb::Options(), dir.path() + "/data/audit", &db).ok());
    ASSERT_TRUE(db->Delete(rocksdb::WriteOptions(), audit::RecordKey(10)).ok());
    delete db;
  }
  auto [bad_rc, bad] = tool({"verify"}, "verify3.out");
  EXPECT_EQ(bad_rc, 1);
  EXPECT_NE(bad.find("first bad sequence 10"), std::string::npos) << bad;
}

}  // namespace
}  // namespace warden::testing
