#include "cluster/redis_key_records.h"

namespace warden {
namespace {

Error Unexpected(const RedisValue& v) {
  return Error::ServiceUnavailable("Redis refused the key store's command: " + v.str.substr(0, 200),
                                   "shared_state_unavailable");
}

class Records : public KeyRecords {
 public:
  Records(Redis* redis, const std::string& prefix)
      : redis_(redis), hash_(prefix + "keys"), channel_(prefix + "keys:changed") {}

  Result<std::optional<std::string>> Get(const std::string& id) const override {
    auto v = redis_->Blocking({"HGET", hash_, id});
    if (!v) return v.error();
    if (v->nil()) return std::optional<std::string>();
    if (v->type != RedisValue::Type::kString) return Unexpected(*v);
    return std::optional<std::string>(std::move(v->str));
  }

  Status Put(const std::string& id, const std::string& text) override {
    // One round trip, atomically: the record and the notice of its change.
    auto v = redis_->Blocking({"EVAL", "redis.call('HSET', KEYS[1], ARGV[1], ARGV[2]) return redis.call('PUBLISH', KEYS[2], ARGV[1])",
                               "2", hash_, channel_, id, text});
    if (!v) return v.error();
    if (v->type == RedisValue::Type::kError) return Unexpected(*v);
    return Status::Ok();
  }

  Status ForEach(const std::function<void(std::string_view)>& fn) const override {
    std::string cursor = "0";
    do {
      auto page = redis_->Blocking({"HSCAN", hash_, cursor, "COUNT", "1000"});
      if (!page) return page.error();
      if (page->type != RedisValue::Type::kArray || page->elements.size() != 2) return Unexpected(*page);
      cursor = page->elements[0].str;
      const auto& fields = page->elements[1].elements;
      for (size_t i = 1; i < fields.size(); i += 2) fn(fields[i].str);
    } while (cursor != "0");
    return Status::Ok();
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
  auto v = redis->Blocking({"EVAL", "redis.call('SET', KEYS[1], ARGV[1], 'NX') return redis.call('GET', KEYS[1])", "1",
                            key_prefix + "key-hash-fingerprint", mine});
  if (!v) return v.error();
  if (v->type != RedisValue::Type::kString) return Unexpected(*v);
  if (v->str != mine)
    return Error::Internal(
        "this replica's key hashing key (key_hash_key_file) differs from the one the fleet's keys were made with: "
        "give every replica the same file (e.g. one Kubernetes Secret), or no key will work on every replica");
  return Status::Ok();
}

}  // namespace warden
