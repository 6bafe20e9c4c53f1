// KeyStore: client API keys. A key is printed once at creation; only its keyed hash is stored.
//
// Key format: "wdn_" + 12 hex chars of key id + "_" + 43 base64url chars (256 random bits).
// The id is not secret (it appears in logs and audit records); the rest is. The stored hash is
// BLAKE2b-256 keyed with a 256-bit hashing key kept in a file outside RocksDB (0600), so a copy
// of the database alone cannot be used to test guesses. Comparison is constant-time
// (sodium_memcmp), and an unknown id costs the same hash computation as a known one.
//
// Thread-safety: all methods are thread-safe (state lives in the Store).
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "common/result.h"
#include "common/secret.h"
#include "store/store.h"

namespace warden {

struct KeyRecord {
  std::string id;
  std::string name;
  std::string policy = "default";
  int64_t created_at = 0;  // unix seconds
  int64_t revoked_at = 0;  // 0 = active
  std::string hash;        // raw 32 bytes; never printed
  bool active() const { return revoked_at == 0; }
};

class KeyStore {
 public:
  // Reads the hashing key from `path`, or creates it (32 random bytes, mode 0600) if absent.
  static Result<Secret> LoadOrCreateHashKey(const std::string& path);

  KeyStore(Store* store, Secret hash_key);

  struct Created {
    KeyRecord record;
    Secret key;  // the full key, shown to the operator once
  };
  Result<Created> Create(const std::string& name, const std::string& policy);
  Result<std::vector<KeyRecord>> List() const;
  // Revokes by id or by name (a name must be unambiguous among active keys).
  Result<KeyRecord> Revoke(const std::string& id_or_name);
  // Checks a presented key. 401 errors for malformed, unknown, wrong and revoked keys.
  Result<KeyRecord> Authenticate(std::string_view presented) const;

 private:
  std::string Hash(std::string_view key) const;
  Status Save(const KeyRecord& record);

  Store* store_;
  Secret hash_key_;
};

}  // namespace warden
