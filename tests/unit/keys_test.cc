#include "keys/key_store.h"

#include <gtest/gtest.h>
#include <sys/stat.h>

#include <filesystem>
#include <fstream>
#include <sstream>

#include "common/util.h"
#include "support/harness.h"

namespace warden {
namespace {

class KeyStoreTest : public ::testing::Test {
 protected:
  void SetUp() override {
    InitCrypto();
    auto s = Store::Open(dir_.path() + "/data");
    ASSERT_TRUE(s.ok()) << s.error().message;
    store_ = std::move(*s);
    auto hk = KeyStore::LoadOrCreateHashKey(dir_.path() + "/data/key-hash.key");
    ASSERT_TRUE(hk.ok());
    keys_ = std::make_unique<KeyStore>(store_.get(), std::move(*hk), [this] { return now_; });
  }
  testing::TempDir dir_;
  std::unique_ptr<Store> store_;
  std::unique_ptr<KeyStore> keys_;
  int64_t now_ = 1'800'000'000;
};

TEST_F(KeyStoreTest, CreateAuthenticateRevoke) {
  auto created = keys_->Create("ci", "default");
  ASSERT_TRUE(created.ok());
  const std::string key(created->key.Reveal());
  EXPECT_EQ(key.rfind("wdn_prod_", 0), 0u);
  EXPECT_EQ(key.size(), 9 + 12 + 1 + 43);
  EXPECT_EQ(key.substr(9, 12), created->record.id);

  auto ok = keys_->Authenticate(key);
  ASSERT_TRUE(ok.ok());
  EXPECT_EQ(ok->name, "ci");

  auto listed = keys_->List();
  ASSERT_TRUE(listed.ok());
  ASSERT_EQ(listed->size(), 1u);
  EXPECT_TRUE((*listed)[0].active());

  ASSERT_TRUE(keys_->Revoke("ci").ok());
  auto revoked = keys_->Authenticate(key);
  ASSERT_FALSE(revoked.ok());
  EXPECT_EQ(revoked.error().status(), 401);
  EXPECT_EQ(revoked.error().code, "revoked_api_key");
}

TEST_F(KeyStoreTest, WrongUnknownAndMalformedKeysAre401) {
  auto created = keys_->Create("a", "default");
  ASSERT_TRUE(created.ok());
  std::string key(created->key.Reveal());
  std::string wrong = key;
  wrong[wrong.size() - 1] = wrong.back() == 'x' ? 'y' : 'x';
  std::string unknown_id = key;
  unknown_id[10] = unknown_id[10] == 'a' ? 'b' : 'a';
  std::string wrong_env = "wdn_dev_" + key.substr(9);
  for (const std::string& k : {wrong, unknown_id, wrong_env, std::string("wdn_short"), std::string("sk-123"),
                               key.substr(0, key.size() - 1)}) {
    auto r = keys_->Authenticate(k);
    ASSERT_FALSE(r.ok()) << k;
    EXPECT_EQ(r.error().status(), 401);
    EXPECT_EQ(r.error().message.find(k), std::string::npos);
  }
  auto empty = keys_->Authenticate("");
  ASSERT_FALSE(empty.ok());
  EXPECT_EQ(empty.error().code, "missing_api_key");
}

TEST_F(KeyStoreTest, OnlyAKeyedHashIsStored) {
  auto created = keys_->Create("a", "default");
  ASSERT_TRUE(created.ok());
  const std::string key(created->key.Reveal());
  const std::string secret_part = key.substr(key.size() - 43);
  store_.reset();  // flush and close RocksDB
  for (const auto& entry : std::filesystem::recursive_directory_iterator(dir_.path())) {
    if (!entry.is_regular_file()) continue;
    std::ifstream in(entry.path(), std::ios::binary);
    std::stringstream ss;
    ss << in.rdbuf();
    EXPECT_EQ(ss.str().find(secret_part), std::string::npos) << entry.path();
  }
  struct stat st {};
  ASSERT_EQ(stat((dir_.path() + "/data/key-hash.key").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600);
}

TEST_F(KeyStoreTest, AnotherHashKeyCannotVerifyTheSameKey) {
  auto created = keys_->Create("a", "default");
  ASSERT_TRUE(created.ok());
  KeyStore other(store_.get(), Secret(std::string(32, 'k')));
  EXPECT_FALSE(other.Authenticate(created->key.Reveal()).ok());
}

TEST_F(KeyStoreTest, AmbiguousNameIsNotRevoked) {
  ASSERT_TRUE(keys_->Create("same", "default").ok());
  ASSERT_TRUE(keys_->Create("same", "default").ok());
  auto r = keys_->Revoke("same");
  EXPECT_FALSE(r.ok());
  auto list = keys_->List();
  ASSERT_TRUE(list.ok());
  for (const auto& k : *list) EXPECT_TRUE(k.active());
}

TEST_F(KeyStoreTest, EnvironmentLabelIsInThePrefix) {
  auto dev = keys_->Create("d", "default", {KeyEnv::kDevelopment, 0});
  auto stg = keys_->Create("s", "default", {KeyEnv::kStaging, 0});
  ASSERT_TRUE(dev.ok() && stg.ok());
  EXPECT_EQ(dev->key.Reveal().rfind("wdn_dev_", 0), 0u);
  EXPECT_EQ(stg->key.Reveal().rfind("wdn_stg_", 0), 0u);
  auto ok = keys_->Authenticate(dev->key.Reveal());
  ASSERT_TRUE(ok.ok());
  EXPECT_EQ(ok->env, KeyEnv::kDevelopment);
}

TEST_F(KeyStoreTest, ExpiryIsEnforcedByTheClock) {
  auto created = keys_->Create("temp", "default", {KeyEnv::kProduction, now_ + 60});
  ASSERT_TRUE(created.ok());
  EXPECT_TRUE(keys_->Authenticate(created->key.Reveal()).ok());
  now_ += 59;
  EXPECT_TRUE(keys_->Authenticate(created->key.Reveal()).ok());
  now_ += 1;
  auto r = keys_->Authenticate(created->key.Reveal());
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code, "expired_api_key");
}

TEST_F(KeyStoreTest, RotationKeepsTheOldKeyForTheGracePeriod) {
  auto old = keys_->Create("svc", "eu-only", {KeyEnv::kStaging, 0});
  ASSERT_TRUE(old.ok());
  auto next = keys_->Rotate("svc", 3600);
  ASSERT_TRUE(next.ok()) << next.error().message;
  EXPECT_EQ(next->record.name, "svc");
  EXPECT_EQ(next->record.policy, "eu-only");
  EXPECT_EQ(next->record.env, KeyEnv::kStaging);
  EXPECT_NE(next->record.id, old->record.id);
  EXPECT_TRUE(keys_->Authenticate(old->key.Reveal()).ok());
  EXPECT_TRUE(keys_->Authenticate(next->key.Reveal()).ok());
  now_ += 3600;
  auto expired = keys_->Authenticate(old->key.Reveal());
  ASSERT_FALSE(expired.ok());
  EXPECT_EQ(expired.error().code, "expired_api_key");
  EXPECT_NE(expired.error().message.find(next->record.id), std::string::npos);
  EXPECT_TRUE(keys_->Authenticate(next->key.Reveal()).ok());
  // By name, the rotated key is no longer a candidate: the name is unambiguous again.
  EXPECT_TRUE(keys_->Rotate("svc", 0).ok());
}

}  // namespace
}  // namespace warden
