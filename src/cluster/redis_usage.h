// RedisUsage: a fleet's usage ledger cells in Redis (UsageBackend), so usage and the dashboard's
// 30-day figures are the whole fleet's. One hash per UTC day ("<prefix>usage:<day>", kept 400
// days), one field per cell and figure ("<cell>\x1f<figure>"), added with HINCRBY — integers,
// exact, and summed correctly whatever number of replicas add to the same cell — plus the set of
// days ("<prefix>usage:days"). Blocking: the ledger's flusher and the admin views call it.
#pragma once

#include <memory>
#include <string>

#include "cluster/redis.h"
#include "limits/usage_ledger.h"

namespace warden {

std::unique_ptr<UsageBackend> RedisUsage(Redis* redis, const std::string& key_prefix);

}  // namespace warden
