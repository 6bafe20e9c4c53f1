#include "cluster/fleet_erasure.h"

#include <asio/post.hpp>

#include "audit/maintenance.h"
#include "common/log.h"

namespace warden {

Status AnnounceErasure(Redis& redis, const std::string& key_prefix, const std::string& key_id) {
  auto r = redis.Call({"EVAL", "redis.call('SADD', KEYS[1], ARGV[1]) return redis.call('PUBLISH', KEYS[2], ARGV[1])",
                       "2", key_prefix + "forgotten", key_prefix + "forget", key_id},
                      "the erasure request");
  return r ? Status::Ok() : Status(r.error());
}

ErasureFollower::ErasureFollower(Redis& redis, std::string key_prefix, audit::AuditLog& log, asio::thread_pool* pool)
    : redis_(redis), prefix_(std::move(key_prefix)), log_(log), pool_(pool) {}

Status ErasureFollower::Apply(const std::string& key_id) {
  MutexLock lock(mu_);
  Status s = audit::AuditMaintenance(log_).Forget(key_id, "fleet");
  if (s) {
    log::Info("audit_key_forgotten", {{"key_id", key_id}, {"actor", "fleet"}});
    return s;
  }
  if (s.error().code == "audit_no_data_key") return Status::Ok();  // nothing of it here (any more)
  log::Error("audit_forget_failed", {{"key_id", key_id}, {"reason", s.error().message}});
  return s;
}

Status ErasureFollower::ApplyAll() {
  auto ids = redis_.Call({"SMEMBERS", prefix_ + "forgotten"}, "the list of erasures");
  if (!ids) return ids.error();
  for (const RedisValue& id : ids->elements)
    if (Status s = Apply(id.str); !s) return s;
  return Status::Ok();
}

void ErasureFollower::Follow() {
  redis_.Subscribe(
      prefix_ + "forget",
      [this](std::string_view id) { asio::post(*pool_, [this, key = std::string(id)] { (void)Apply(key); }); },
      [this] { asio::post(*pool_, [this] { (void)ApplyAll(); }); });
}

}  // namespace warden
