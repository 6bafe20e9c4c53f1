// KeyStore: client API keys. A key is printed once at creation; only its keyed hash is stored.
//
// Key format: "wdn_" + environment label ("dev", "stg", "prod") + "_" + 12 hex chars of key id +
// "_" + 43 base64url chars (256 random bits). The label and id are not secret (they appear in
// logs and audit records); the rest is. The label is visible so a production key pasted into a
// development tool is noticed. The stored hash is
// BLAKE2b-256 keyed with a 256-bit hashing key kept in a file outside RocksDB (0600), so a copy
// of the database alone cannot be used to test guesses. Comparison is constant-time
// (sodium_memcmp), and an unknown id costs the same hash computation as a known one.
//
// Records live in a KeyRecords table: the data Store (single node), or Redis shared by a fleet
// (cluster/redis_key_records.h). They are cached in memory once read or written (at most
// 100,000, then the cache starts over), so authenticating a known key reads no storage; every
// change made through this KeyStore (create, revoke, rotate) updates the cache as it is
// written. A change made elsewhere — another replica — reaches this cache through Forget() /
// ForgetAll() (the fleet's notifications) and, should a notification be lost, through the
// cache's time to live (SetCacheTimes): a record older than it is read again. With a time to
// live, a record that cannot be read again (the table is unreachable) still serves until the
// grace time; a key never seen gets 503 key_store_unavailable.
//
// Thread-safety: all methods are thread-safe.
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "common/mutex.h"
#include "common/result.h"
#include "common/secret.h"
#include "store/store.h"

namespace warden {

enum class KeyEnv { kDevelopment, kStaging, kProduction };
const char* KeyEnvName(KeyEnv env);   // "development", "staging", "production"
const char* KeyEnvLabel(KeyEnv env);  // the prefix label: "dev", "stg", "prod"
std::optional<KeyEnv> ParseKeyEnv(std::string_view name);  // accepts names and labels

struct KeyRecord {
  std::string id;
  std::string name;
  std::string policy = "default";
  KeyEnv env = KeyEnv::kProduction;
  int64_t created_at = 0;  // unix seconds
  int64_t revoked_at = 0;  // 0 = not revoked
  int64_t expires_at = 0;  // 0 = never
  std::string replaced_by;  // id of the successor after a rotation
  std::string hash;         // raw 32 bytes; never printed
  bool active() const { return revoked_at == 0; }
  bool expired(int64_t now) const { return expires_at != 0 && now >= expires_at; }
};

struct KeyOptions {
  KeyEnv env = KeyEnv::kProduction;
  int64_t expires_at = 0;  // unix seconds; 0 = never
};

// Where key records are kept, as text (one record per key id). Put() is durable when it returns.
class KeyRecords {
 public:
  virtual ~KeyRecords() = default;
  virtual Result<std::optional<std::string>> Get(const std::string& id) const = 0;
  virtual Status Put(const std::string& id, const std::string& text) = 0;
  virtual Status ForEach(const std::function<void(std::string_view text)>& fn) const = 0;
};
// The records in the data store ("key/<id>").
std::unique_ptr<KeyRecords> StoreKeyRecords(Store* store);

struct KeyCreated {
  KeyRecord record;
  Secret key;  // the full key, shown to the operator once
};

// What an operator does with keys (`warden keys`): KeyStore does it on the store; the CLI's
// admin-API client (server/admin_client.h) through a running gateway.
class KeyAdmin {
 public:
  virtual ~KeyAdmin() = default;
  virtual Result<KeyCreated> Create(const std::string& name, const std::string& policy, const KeyOptions& options) = 0;
  virtual Result<std::vector<KeyRecord>> List() const = 0;
  // By id or by name (a name must be unambiguous among active keys).
  virtual Result<KeyRecord> Revoke(const std::string& id_or_name) = 0;
  virtual Result<KeyCreated> Rotate(const std::string& id_or_name, int64_t grace_seconds) = 0;
};

class KeyStore : public KeyAdmin {
 public:
  // Reads the hashing key from `path`, or creates it (32 random bytes, mode 0600) if absent.
  static Result<Secret> LoadOrCreateHashKey(const std::string& path);

  // `now` returns unix seconds (injectable for tests); defaults to the system clock.
  KeyStore(Store* store, Secret hash_key, std::function<int64_t()> now = {});
  KeyStore(std::unique_ptr<KeyRecords> records, Secret hash_key, std::function<int64_t()> now = {});
  // 0 = cached records never go stale (the single node sees every change as it is made).
  void SetCacheTimes(int64_t ttl_ms, int64_t grace_ms);
  // Drop a cached record (it changed elsewhere), or all of them (changes may have been missed).
  void Forget(const std::string& id) EXCLUDES(cache_mu_);
  void ForgetAll() EXCLUDES(cache_mu_);
  // A keyed hash of a constant under the hashing key: equal on two replicas exactly when their
  // hashing keys are equal (a fleet must share one), and it reveals nothing of the key.
  std::string HashKeyFingerprint() const;

  using Created = KeyCreated;
  Result<Created> Create(const std::string& name, const std::string& policy,
                         const KeyOptions& options = {}) override;
  Result<std::vector<KeyRecord>> List() const override;
  // Every key record in `store` (read-only use, e.g. warden-audit resolving a key's name).
  static Result<std::vector<KeyRecord>> ListIn(const Store& store);
  // Revokes by id or by name (a name must be unambiguous among active keys).
  Result<KeyRecord> Revoke(const std::string& id_or_name) override;
  // Issues a successor with the same name, policy and environment; the old key stays valid for
  // `grace_seconds` (0 = it stops now) and records its successor.
  Result<Created> Rotate(const std::string& id_or_name, int64_t grace_seconds) override;
  Result<KeyRecord> Get(const std::string& id) const;
  // Checks a presented key. 401 errors for malformed, unknown, wrong, revoked and expired keys.
  Result<KeyRecord> Authenticate(std::string_view presented) const;
  // The same without storage: nullopt when the key's record is not in the cache (call
  // Authenticate, which reads the store, off the event loop).
  std::optional<Result<KeyRecord>> AuthenticateCached(std::string_view presented) const;

 private:
  std::string Hash(std::string_view key) const;
  Result<KeyRecord> FindOne(const std::string& id_or_name) const;
  Status Save(const KeyRecord& record);
  // The verdict on a presented key (its keyed hash and label) given its stored record, if any.
  Result<KeyRecord> Check(const std::string& hash, std::string_view label, const std::optional<KeyRecord>& record) const;
  void Remember(const KeyRecord& record) const EXCLUDES(cache_mu_);
  // The cached record of `id`, if any, with its age in milliseconds.
  std::optional<std::pair<KeyRecord, int64_t>> Cached(const std::string& id) const EXCLUDES(cache_mu_);
  static constexpr size_t kMaxCachedKeys = 100000;
  struct CachedRecord {
    KeyRecord record;
    int64_t read_ms = 0;  // monotonic
  };

  std::unique_ptr<KeyRecords> records_;
  Secret hash_key_;
  std::function<int64_t()> now_;
  mutable Mutex cache_mu_;
  mutable std::unordered_map<std::string, CachedRecord> cache_ GUARDED_BY(cache_mu_);
  std::atomic<int64_t> cache_ttl_ms_{0};
  std::atomic<int64_t> cache_grace_ms_{0};
};

}  // namespace warden
