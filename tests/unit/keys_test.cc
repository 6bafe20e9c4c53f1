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
    keys_ = std::make_unique<KeyStore>(store_.get(), std::move(*hk));
  }
  testing::TempDir dir_;
  std::unique_ptr<Store> store_;
  std::unique_ptr<KeyStore> keys_;
};

TEST_F(KeyStoreTest, CreateAuthenticateRevoke) {
  auto created = keys_->Create("ci", "default");
  ASSERT_TRUE(created.ok());
  const std::string key = created->key.Reveal();
  EXPECT_EQ(key.rfind("wdn_", 0), 0u);
  EXPECT_EQ(key.size(), 4 + 12 + 1 + 43);
  EXPECT_EQ(key.substr(4, 12), created->record.id);

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
  EXPECT_EQ(revoked.error().status, 401);
  EXPECT_EQ(revoked.error().code, "revoked_api_key");
}

TEST_F(KeyStoreTest, WrongUnknownAndMalformedKeysAre401) {
  auto created = keys_->Create("a", "default");
  ASSERT_TRUE(created.ok());
  std::string key = created->key.Reveal();
  std::string wrong = key;
  wrong[wrong.size() - 1] = wrong.back() == 'x' ? 'y' : 'x';
  std::string unknown_id = key;
  unknown_id[5] = unknown_id[5] == 'a' ? 'b' : 'a';
  for (const std::string& k : {wrong, unknown_id, std::string("wdn_short"), std::string("sk-123"),
                               key.substr(0, key.size() - 1)}) {
    auto r = keys_->Authenticate(k);
    ASSERT_FALSE(r.ok()) << k;
    EXPECT_EQ(r.error().status, 401);
    EXPECT_EQ(r.error().message.find(k), std::string::npos);
  }
  auto empty = keys_->Authenticate("");
  ASSERT_FALSE(empty.ok());
  EXPECT_EQ(empty.error().code, "missing_api_key");
}

TEST_F(KeyStoreTest, OnlyAKeyedHashIsStored) {
  auto created = keys_->Create("a", "default");
  ASSERT_TRUE(created.ok());
  const std::string key = created->key.Reveal();
  const std::string secret_part = key.substr(17);
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

}  // namespace
}  // namespace warden
