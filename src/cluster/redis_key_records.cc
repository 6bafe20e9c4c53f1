#include "cluster/redis_key_records.h"

namespace warden {
namespace {

constexpr std::string_view kWhat = "the key store's command";

Error Unexpected(const RedisValue& v) {
  return Error::ServiceUnavailable("Redis answered the key store with a " +
                                       std::string(v.type == RedisValue::Type::kArray ? "list" : "value") +
                                       " it did not expect",
                                   "shared_state_unavailable");
}

class Records : public KeyRecords {
 public:
  Records(Redis* redis, const std::string& prefix)
      : redis_(redis), hash_(prefix + "keys"), channel_(prefix + "keys:changed") {}

  Result<std::optional<std::string>> Get(const std::string& id) const override {
    auto v = redis_->Call({"HGET", hash_, id}, kWhat);
    if (!v) return v.error();
    if (v->nil()) return std::optional<std::string>();
    if (v->type != RedisValue::Type::kString) return Unexpected(*v);
    return std::optional<std::string>(std::move(v->str));
  }

  Status Put(const std::string& id, const std::string& text) override {
    // One round trip, atomically: the record and the notice of its change.
    auto v = redis_->Call({"EVAL", "redis.call('HSET', KEYS[1], ARGV[1], ARGV[2]) return redis.call('PUBLISH', KEYS[2], ARGV[1])",
                           "2", hash_, channel_, id, text},
                          kWhat);
    return v ? Status::Ok() : Status(v.error());
  }

  Status ForEach(const std::function<void(std::string_view)>& fn) const override {
    return redis_->Scan({"HSCAN", hash_, "0", "COUNT", "1000"}, 2, [&](const std::vector<RedisValue>& fields) {
      for (size_t i = 1; i < fields.size(); i += 2) fn(fields[i].str);  // field, value, field, value…
      return Status::Ok();
    });
  }

 private:
  Redis* redis_;
  const std::string hash_, channel_;
};

}  // namespace

std::unique_ptr<KeyRecords> RedisKeyRecords(Redis* redis, const std::string& key_prefix) {
  return std::make_unique<Records>(redis, key_prefix);
}

void WatchKeyChanges(Redis* redis, const std::string& key_prefix, KeyStore* keys) {
  redis->Subscribe(
      key_prefix + "keys:changed", [keys](std::string_view id) { keys->Forget(std::string(id)); },
      [keys] { keys->ForgetAll(); });
}

Status CheckFleetHashKey(Redis* redis, const std::string& key_prefix, const KeyStore& keys) {
  const std::string mine = keys.HashKeyFingerprint();
  auto v = redis->Call({"EVAL", "redis.call('SET', KEYS[1], ARGV[1], 'NX') return redis.call('GET', KEYS[1])", "1",
                        key_prefix + "key-hash-fingerprint", mine},
                       "the hashing key's fingerprint");
  if (!v) return v.error();
  if (v->type != RedisValue::Type::kString) return Unexpected(*v);
  if (v->str != mine)
    return Error::Internal(
        "this replica's key hashing key (key_hash_key_file) differs from the one the fleet's keys were made with: "
        "give every replica the same file (e.g. one Kubernetes Secret), or no key will work on every replica");
  return Status::Ok();
}

}  // namespace warden
