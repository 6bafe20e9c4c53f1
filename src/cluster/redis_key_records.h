// RedisKeyRecords: client key records shared by a fleet, in one Redis hash ("<prefix>keys", field
// = key id, value = the record's text; only keyed hashes, never a key). Put() writes the record,
// then publishes its id on "<prefix>keys:changed", so every replica's KeyStore forgets its cached
// copy at once (WatchKeyChanges). Blocking: called on the worker pool, the admin API's threads
// and the CLI, never on an event loop.
#pragma once

#include <memory>
#include <string>

#include "cluster/redis.h"
#include "keys/key_store.h"

namespace warden {

std::unique_ptr<KeyRecords> RedisKeyRecords(Redis* redis, const std::string& key_prefix);

// Subscribes `keys` to the fleet's key changes: a changed id is forgotten; when the subscription
// (re)starts, everything cached is (notifications sent meanwhile are lost).
void WatchKeyChanges(Redis* redis, const std::string& key_prefix, KeyStore* keys);

// A fleet must hash keys with one hashing key, or a key made on one replica fails on the others.
// Records this replica's fingerprint when the fleet has none; an error when it differs.
Status CheckFleetHashKey(Redis* redis, const std::string& key_prefix, const KeyStore& keys);

}  // namespace warden
