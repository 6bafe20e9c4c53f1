#include "keys/key_store.h"

#include <fcntl.h>
#include <sodium.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <fstream>

#include "common/json.h"
#include "common/log.h"
#include "common/util.h"

namespace warden {
namespace {
constexpr std::string_view kPrefix = "wdn_";
constexpr size_t kIdHexLen = 12;
constexpr size_t kSecretBytes = 32;
constexpr size_t kSecretB64Len = 43;  // base64url of 32 bytes, no padding
constexpr std::string_view kRecordPrefix = "key/";

std::string EncodeRecord(const KeyRecord& r) {
  Json j;
  j["id"] = r.id;
  j["name"] = r.name;
  j["policy"] = r.policy;
  j["env"] = KeyEnvName(r.env);
  j["created_at"] = r.created_at;
  j["revoked_at"] = r.revoked_at;
  j["expires_at"] = r.expires_at;
  j["replaced_by"] = r.replaced_by;
  j["hash"] = ToHex(r.hash);
  return Dump(j);
}

std::optional<KeyRecord> DecodeRecord(std::string_view text) {
  auto j = ParseJson(text);
  if (!j || !j->is_object()) return std::nullopt;
  KeyRecord r;
  try {
    r.id = j->at("id").get<std::string>();
    r.name = j->at("name").get<std::string>();
    r.policy = j->at("policy").get<std::string>();
    r.created_at = j->at("created_at").get<int64_t>();
    r.revoked_at = j->at("revoked_at").get<int64_t>();
    r.expires_at = j->value("expires_at", int64_t{0});
    r.replaced_by = j->value("replaced_by", "");
    auto env = ParseKeyEnv(j->value("env", "production"));
    if (!env) return std::nullopt;
    r.env = *env;
    auto hash = FromHex(j->at("hash").get<std::string>());
    if (!hash || hash->size() != crypto_generichash_BYTES) return std::nullopt;
    r.hash = std::move(*hash);
  } catch (const nlohmann::json::exception&) {
    return std::nullopt;
  }
  return r;
}

bool IsHex(std::string_view s) {
  for (char c : s)
    if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) return false;
  return true;
}

Error BadKey() {
  return Error::Unauthorized(
      "Incorrect API key provided. Create a key with 'warden keys create' and send it as "
      "'Authorization: Bearer <key>'.");
}
// Splits "wdn_<label>_<id>_<secret>" into its parts; false if malformed. The secret part may
// itself contain '_' (base64url), so it is taken by length from the end.
bool SplitKey(std::string_view key, std::string_view* label, std::string_view* id) {
  if (key.size() < kPrefix.size() || key.substr(0, kPrefix.size()) != kPrefix) return false;
  std::string_view rest = key.substr(kPrefix.size());
  size_t us = rest.find('_');
  if (us == std::string_view::npos || us == 0 || us > 8) return false;
  *label = rest.substr(0, us);
  rest.remove_prefix(us + 1);
  if (rest.size() != kIdHexLen + 1 + kSecretB64Len || rest[kIdHexLen] != '_') return false;
  *id = rest.substr(0, kIdHexLen);
  return IsHex(*id) && ParseKeyEnv(*label).has_value();
}
}  // namespace

const char* KeyEnvName(KeyEnv env) {
  switch (env) {
    case KeyEnv::kDevelopment: return "development";
    case KeyEnv::kStaging: return "staging";
    case KeyEnv::kProduction: return "production";
  }
  return "production";
}

const char* KeyEnvLabel(KeyEnv env) {
  switch (env) {
    case KeyEnv::kDevelopment: return "dev";
    case KeyEnv::kStaging: return "stg";
    case KeyEnv::kProduction: return "prod";
  }
  return "prod";
}

std::optional<KeyEnv> ParseKeyEnv(std::string_view name) {
  if (name == "development" || name == "dev") return KeyEnv::kDevelopment;
  if (name == "staging" || name == "stg") return KeyEnv::kStaging;
  if (name == "production" || name == "prod") return KeyEnv::kProduction;
  return std::nullopt;
}

Result<Secret> KeyStore::LoadOrCreateHashKey(const std::string& path) {
  return LoadOrCreateKeyFile(path, crypto_generichash_KEYBYTES, "the key hashing key");
}

namespace {
class StoreRecords : public KeyRecords {
 public:
  explicit StoreRecords(Store* store) : store_(store) {}
  Result<std::optional<std::string>> Get(const std::string& id) const override {
    return store_->Get(std::string(kRecordPrefix) + id);
  }
  Status Put(const std::string& id, const std::string& text) override {
    return store_->Put(std::string(kRecordPrefix) + id, text);
  }
  Status ForEach(const std::function<void(std::string_view)>& fn) const override {
    return store_->Scan(kRecordPrefix, [&](std::string_view, std::string_view value) {
      fn(value);
      return true;
    });
  }

 private:
  Store* store_;
};

int64_t NowMs() { return MonotonicNanos() / 1000000; }
}  // namespace

std::unique_ptr<KeyRecords> StoreKeyRecords(Store* store) { return std::make_unique<StoreRecords>(store); }

KeyStore::KeyStore(Store* store, Secret hash_key, std::function<int64_t()> now)
    : KeyStore(StoreKeyRecords(store), std::move(hash_key), std::move(now)) {}

KeyStore::KeyStore(std::unique_ptr<KeyRecords> records, Secret hash_key, std::function<int64_t()> now)
    : records_(std::move(records)), hash_key_(std::move(hash_key)), now_(now ? std::move(now) : UnixSeconds) {}

void KeyStore::SetCacheTimes(int64_t ttl_ms, int64_t grace_ms) {
  cache_ttl_ms_ = ttl_ms;
  cache_grace_ms_ = grace_ms;
}

void KeyStore::Forget(const std::string& id) {
  MutexLock lock(cache_mu_);
  cache_.erase(id);
}

void KeyStore::ForgetAll() {
  MutexLock lock(cache_mu_);
  cache_.clear();
}

std::string KeyStore::HashKeyFingerprint() const { return ToHex(Hash("warden key hashing key fingerprint v1")); }

std::string KeyStore::Hash(std::string_view key) const {
  return Blake2b(key, crypto_generichash_BYTES, hash_key_.Reveal());
}

Status KeyStore::Save(const KeyRecord& record) {
  Status s = records_->Put(record.id, EncodeRecord(record));
  // Every change of a record goes through here: the cache follows it at once, so a revocation
  // or rotation holds on the next request. (On a failed write the stored record is unknown:
  // forget it, the next request reads the store.)
  if (s) Remember(record);
  else {
    MutexLock lock(cache_mu_);
    cache_.erase(record.id);
  }
  return s;
}

Result<KeyStore::Created> KeyStore::Create(const std::string& name, const std::string& policy,
                                           const KeyOptions& options) {
  if (name.empty() || name.size() > 128)
    return Error::BadRequest("a key name must have 1 to 128 characters", "name");
  Created created;
  created.record.id = ToHex(RandomBytes(kIdHexLen / 2));
  created.record.name = name;
  created.record.policy = policy.empty() ? "default" : policy;
  created.record.env = options.env;
  created.record.created_at = now_();
  created.record.expires_at = options.expires_at;
  std::string secret = RandomBytes(kSecretBytes);
  std::string b64(sodium_base64_ENCODED_LEN(kSecretBytes, sodium_base64_VARIANT_URLSAFE_NO_PADDING), '\0');
  sodium_bin2base64(b64.data(), b64.size(), reinterpret_cast<const unsigned char*>(secret.data()),
                    secret.size(), sodium_base64_VARIANT_URLSAFE_NO_PADDING);
  b64.resize(kSecretB64Len);
  std::string full =
      std::string(kPrefix) + KeyEnvLabel(options.env) + "_" + created.record.id + "_" + b64;
  WipeString(secret);
  WipeString(b64);
  created.record.hash = Hash(full);
  created.key = Secret(std::move(full));
  if (Status s = Save(created.record); !s) return s.error();
  return created;
}

Result<std::vector<KeyRecord>> KeyStore::List() const {
  std::vector<KeyRecord> out;
  Status s = records_->ForEach([&](std::string_view text) {
    if (auto r = DecodeRecord(text)) out.push_back(std::move(*r));
  });
  if (!s) return s.error();
  return out;
}

Result<std::vector<KeyRecord>> KeyStore::ListIn(const Store& store) {
  // (Read-only: the Store is only scanned.)
  return KeyStore(StoreKeyRecords(const_cast<Store*>(&store)), Secret()).List();
}

Result<KeyRecord> KeyStore::Get(const std::string& id) const {
  auto stored = records_->Get(id);
  if (!stored.ok()) return stored.error();
  std::optional<KeyRecord> record;
  if (stored->has_value()) record = DecodeRecord(**stored);
  if (!record) return Error::NotFound("no key with that id", "key_not_found");
  return *record;
}

Result<KeyRecord> KeyStore::FindOne(const std::string& id_or_name) const {
  auto all = List();
  if (!all.ok()) return all.error();
  const KeyRecord* match = nullptr;
  int by_name = 0;
  for (const auto& r : *all) {
    if (r.id == id_or_name) return r;
    if (r.name == id_or_name && r.active() && !r.expired(now_())) {
      match = &r;
      ++by_name;
    }
  }
  if (!match) return Error::NotFound("no active key with that id or name", "key_not_found");
  if (by_name > 1)
    return Error::BadRequest("several active keys have that name; use the id", "key",
                             "ambiguous_key_name");
  return *match;
}

Result<KeyRecord> KeyStore::Revoke(const std::string& id_or_name) {
  auto found = FindOne(id_or_name);
  if (!found) return found.error();
  KeyRecord r = *found;
  if (!r.active()) return r;
  r.revoked_at = now_();
  if (Status s = Save(r); !s) return s.error();
  return r;
}

Result<KeyStore::Created> KeyStore::Rotate(const std::string& id_or_name, int64_t grace_seconds) {
  auto found = FindOne(id_or_name);
  if (!found) return found.error();
  KeyRecord old = *found;
  if (!old.active() || old.expired(now_()))
    return Error::BadRequest("only an active key can be rotated", "key", "key_not_active");
  auto created = Create(old.name, old.policy, KeyOptions{old.env, old.expires_at});
  if (!created) return created.error();
  int64_t end = now_() + std::max<int64_t>(grace_seconds, 0);
  if (old.expires_at == 0 || end < old.expires_at) old.expires_at = end;
  old.replaced_by = created->record.id;
  if (Status s = Save(old); !s) return s.error();
  return created;
}

Result<KeyRecord> KeyStore::Check(const std::string& hash, std::string_view label,
                                  const std::optional<KeyRecord>& record) const {
  // Compare against a dummy when the id is unknown, to keep timing uniform.
  const std::string expected = record ? record->hash : std::string(crypto_generichash_BYTES, '\0');
  const bool match = sodium_memcmp(hash.data(), expected.data(), crypto_generichash_BYTES) == 0;
  if (!record || !match) return BadKey();
  if (!record->active())
    return Error::Unauthorized("This API key has been revoked.", "revoked_api_key");
  if (record->expired(now_()))
    return Error::Unauthorized(record->replaced_by.empty()
                                   ? "This API key has expired."
                                   : "This API key has expired; it was rotated to key " +
                                         record->replaced_by + ".",
                               "expired_api_key");
  if (label != KeyEnvLabel(record->env)) return BadKey();
  return *record;
}

std::optional<Result<KeyRecord>> KeyStore::AuthenticateCached(std::string_view presented) const {
  std::string_view label, id_view;
  if (presented.empty() || !SplitKey(presented, &label, &id_view)) return Authenticate(presented);  // no storage read
  auto cached = Cached(std::string(id_view));
  const int64_t ttl = cache_ttl_ms_;
  if (!cached || (ttl > 0 && cached->second >= ttl)) return std::nullopt;  // read it (again)
  return Check(Hash(presented), label, cached->first);
}

std::optional<std::pair<KeyRecord, int64_t>> KeyStore::Cached(const std::string& id) const {
  MutexLock lock(cache_mu_);
  auto it = cache_.find(id);
  if (it == cache_.end()) return std::nullopt;
  return std::make_pair(it->second.record, NowMs() - it->second.read_ms);
}

Result<KeyRecord> KeyStore::Authenticate(std::string_view presented) const {
  if (presented.empty())
    return Error::Unauthorized(
        "You didn't provide an API key. Send it as 'Authorization: Bearer <key>'.",
        "missing_api_key");
  // Always hash, so malformed, unknown and wrong keys cost about the same time.
  std::string hash = Hash(presented);
  std::string_view label, id_view;
  if (!SplitKey(presented, &label, &id_view)) return BadKey();
  std::string id(id_view);
  auto stored = records_->Get(id);
  if (!stored.ok()) {
    // Unreachable (a fleet's Redis): a record read within the grace time still serves.
    auto cached = Cached(id);
    if (cached && cache_ttl_ms_ > 0 && cached->second < cache_grace_ms_) return Check(hash, label, cached->first);
    log::Warn("key_store_unavailable", {{"key_id", id}, {"reason", stored.error().message}});
    return Error::ServiceUnavailable("API keys cannot be checked right now; retry shortly.", "key_store_unavailable");
  }
  std::optional<KeyRecord> record;
  if (stored->has_value()) record = DecodeRecord(**stored);
  if (record) Remember(*record);
  return Check(hash, label, record);
}

void KeyStore::Remember(const KeyRecord& record) const {
  MutexLock lock(cache_mu_);
  if (cache_.size() >= kMaxCachedKeys) cache_.clear();  // bounded; refilled from the store on demand
  cache_[record.id] = CachedRecord{record, NowMs()};
}

}  // namespace warden
