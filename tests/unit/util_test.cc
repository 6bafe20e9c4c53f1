#include "common/util.h"

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <fstream>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "common/json.h"
#include "common/log.h"
#include "common/periodic.h"
#include "common/secret.h"
#include "support/harness.h"

namespace warden {
namespace {

TEST(UtilTest, RequestIdsAreWellFormedAndDistinct) {
  InitCrypto();
  std::set<std::string> seen;
  for (int i = 0; i < 20000; ++i) {
    std::string id = NewRequestId();
    ASSERT_EQ(id.size(), 4u + 24u);
    ASSERT_EQ(id.rfind("req_", 0), 0u);
    ASSERT_TRUE(seen.insert(id).second) << "repeated request id " << id;
  }
}

TEST(UtilTest, Blake2bKeyedAndUnkeyedDiffer) {
  InitCrypto();
  EXPECT_EQ(Blake2b("abc").size(), 32u);
  EXPECT_EQ(Blake2b("abc"), Blake2b("abc"));
  EXPECT_NE(Blake2b("abc"), Blake2b("abd"));
  EXPECT_NE(Blake2b("abc", 32, std::string(32, 'k')), Blake2b("abc"));
  // Known answer: BLAKE2b-512("abc") from RFC 7693, appendix A.
  EXPECT_EQ(ToHex(Blake2b("abc", 64)).substr(0, 32), "ba80a53f981c4d0d6a2797b69f12f6e9");
}

}  // namespace
}  // namespace warden

namespace warden {

namespace {
// Locked memory of this process in kB (VmLck in /proc/self/status).
long LockedKb() {
  std::ifstream in("/proc/self/status");
  for (std::string line; std::getline(in, line);)
    if (line.rfind("VmLck:", 0) == 0) return std::stol(line.substr(6));
  return -1;
}
TEST(LogTest, OneJsonLinePerEventWithItsOwnKeysFirstAndNeverTwice) {
  testing::TempDir dir;
  const std::string path = dir.path() + "/log.jsonl";
  ASSERT_TRUE(log::SetSink(path));
  log::Info("access", {{"status", 200}, {"event", "spoofed"}, {"path", "/v1/\xff\"quoted\""}});
  log::Warn("bare");
  log::Debug("hidden");  // below the default level
  ASSERT_TRUE(log::SetSink("-"));
  std::ifstream in(path);
  std::string first, second, third;
  ASSERT_TRUE(std::getline(in, first));
  ASSERT_TRUE(std::getline(in, second));
  EXPECT_FALSE(std::getline(in, third));
  auto a = ParseJson(first);
  ASSERT_TRUE(a.has_value()) << first;
  std::vector<std::string> keys;
  for (auto& [k, v] : a->items()) keys.push_back(k);
  EXPECT_EQ(keys, (std::vector<std::string>{"ts", "level", "event", "status", "path"}));
  EXPECT_EQ((*a)["event"], "access");
  EXPECT_EQ((*a)["level"], "info");
  EXPECT_EQ((*a)["status"], 200);
  EXPECT_EQ((*a)["path"], "/v1/\xEF\xBF\xBD\"quoted\"");  // invalid UTF-8 replaced, quotes kept
  auto b = ParseJson(second);
  ASSERT_TRUE(b.has_value()) << second;
  EXPECT_EQ((*b)["event"], "bare");
  EXPECT_EQ(b->size(), 3u);
}

TEST(PeriodicTest, RunsEveryIntervalAndStopsWhenDestroyed) {
  std::atomic<int> runs{0};
  {
    Periodic p(std::chrono::milliseconds(10), [&] { ++runs; });
    for (int i = 0; i < 500 && runs < 3; ++i) std::this_thread::sleep_for(std::chrono::milliseconds(10));
    EXPECT_GE(runs.load(), 3);
  }
  const int after = runs.load();
  std::this_thread::sleep_for(std::chrono::milliseconds(50));
  EXPECT_EQ(runs.load(), after);  // no run once destroyed
  // A long interval does not hold up destruction.
  const auto t0 = std::chrono::steady_clock::now();
  { Periodic idle(std::chrono::hours(1), [] {}); }
  EXPECT_LT(std::chrono::steady_clock::now() - t0, std::chrono::seconds(5));
}

}  // namespace

TEST(SecretTest, ValuesLiveInLockedMemoryAndCopiesAreIndependent) {
  const long before = LockedKb();
  ASSERT_GE(before, 0);
  std::vector<Secret> secrets;
  for (int i = 0; i < 4; ++i) secrets.emplace_back("sk-locked-" + std::to_string(i) + std::string(40, 'x'));
  // Each value sits in its own sodium_malloc region, at least one locked page. (ASan replaces
  // mlock with a no-op, so only the other builds can see the pages locked.)
#if !defined(__SANITIZE_ADDRESS__)
  EXPECT_GE(LockedKb() - before, 4 * 4) << "secrets are not in locked memory (RLIMIT_MEMLOCK too low?)";
#endif
  EXPECT_EQ(secrets[2].Reveal(), "sk-locked-2" + std::string(40, 'x'));

  Secret copy = secrets[0];
  EXPECT_EQ(copy.Reveal(), secrets[0].Reveal());
  EXPECT_NE(copy.Reveal().data(), secrets[0].Reveal().data());  // its own region
  EXPECT_TRUE(copy == secrets[0]);
  EXPECT_FALSE(copy == secrets[1]);
  Secret moved = std::move(copy);
  EXPECT_TRUE(copy.empty());
  EXPECT_EQ(moved.Reveal(), secrets[0].Reveal());
  moved = secrets[3];
  EXPECT_EQ(moved.Reveal(), secrets[3].Reveal());
  secrets.clear();
#if !defined(__SANITIZE_ADDRESS__)
  EXPECT_LE(LockedKb(), before + 4);  // freed regions are unlocked again (copy still holds one)
#endif
  EXPECT_TRUE(Secret().empty());
  EXPECT_TRUE(Secret(std::string()).empty());
}

}  // namespace warden
