// Fleet erasure: `forget` (crypto-shredding a client key's audit records, GDPR Art. 17) must
// reach every replica's audit chain, including one that is down when it is asked for.
//
// The request is kept in Redis — the set "<prefix>forgotten" of key ids, never removed — and
// announced on "<prefix>forget". Each replica applies it to its own audit log: every id of the
// set before it serves (ApplyFleetErasures, at start), each announced id as it arrives, and the
// whole set again whenever its subscription restarts (an announcement may have been missed).
// Applying is idempotent: a replica that holds no data key for the id (no records of that key,
// or already forgotten) has nothing to do. Each erasure is the audit log's own (an erasure
// record, a checkpoint, the bytes shredded), so every chain still verifies.
#pragma once

#include <asio/thread_pool.hpp>

#include <memory>
#include <string>
#include <vector>

#include "audit/audit_log.h"
#include "cluster/redis.h"
#include "common/mutex.h"

namespace warden {

// Records the request in Redis and announces it (blocking). Nothing is erased by it: the caller
// erases its own replica's records, the others follow.
Status AnnounceErasure(Redis& redis, const std::string& key_prefix, const std::string& key_id);

class ErasureFollower {
 public:
  // `pool` runs the erasures (they compact the store: never on an event loop).
  ErasureFollower(Redis& redis, std::string key_prefix, audit::AuditLog& log, asio::thread_pool* pool);
  // Every id in the set (blocking): call before serving. An error when the set cannot be read
  // or an erasure fails: the replica must not serve records it was asked to forget.
  Status ApplyAll() EXCLUDES(mu_);
  // Subscribes to announcements (from then on, until the Redis client stops).
  void Follow();

 private:
  Status Apply(const std::string& key_id) EXCLUDES(mu_);
  Redis& redis_;
  const std::string prefix_;
  audit::AuditLog& log_;
  asio::thread_pool* pool_;
  Mutex mu_;  // one erasure at a time
};

}  // namespace warden
