// Crash safety of the audit log: the real `warden` binary under concurrent load is killed with
// SIGKILL several times. After every restart, each request whose client received a complete
// answer has its intent and a `completed` outcome; intents left open by the kill are closed as
// `interrupted`; the chain verifies (here and with the `warden-audit verify` binary).
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <fstream>
#include <map>
#include <mutex>
#include <regex>
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
    std::regex listening("\"event\":\"listening\".*?\"port\":(\\d+)");
    for (int i = 0; i < 200 && port_ == 0; ++i) {
      std::this_thread::sleep_for(std::chrono::milliseconds(25));
      std::string text = ReadFile(log);
      std::smatch m;
      std::string fresh = text.size() > before ? text.substr(before) : "";
      if (std::regex_search(fresh, m, listening)) port_ = static_cast<uint16_t>(std::stoi(m[1]));
    }
  }
  uint16_t port() const { return port_; }
  void Kill() { Signal(SIGKILL); }
  void Stop() { Signal(SIGTERM); }

 private:
  void Signal(int sig) {
    kill(pid_, sig);
    int status = 0;
    waitpid(pid_, &status, 0);
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
}

}  // namespace
}  // namespace warden::testing
