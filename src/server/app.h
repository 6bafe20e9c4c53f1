// App: the whole gateway process wired together from one Config — data store, client keys,
// upstream clients, the Gateway pipeline and the listening Server. `warden serve` and the
// integration tests build exactly this object, so the tests exercise the real wiring.
//
// Contract: Create() opens the data directory (failing clearly if another warden holds it) and
// builds everything but does not listen; Start() binds; Stop() drains and is idempotent.
// Not thread-safe itself (call from one thread); what it owns is.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "audit/audit_log.h"
#include "common/periodic.h"
#include "common/result.h"
#include "config/config.h"
#include "admin/admin_api.h"
#include "gateway/gateway.h"
#include "keys/key_store.h"
#include "cluster/fleet_erasure.h"
#include "cluster/redis.h"
#include "limits/limits.h"
#include "limits/rate_limiter.h"
#include "limits/spend_ledger.h"
#include "limits/usage_ledger.h"
#include "metrics/gateway_metrics.h"
#include "policy/policy.h"
#include "providers/echo_upstream.h"
#include "providers/http_upstream.h"
#include "server/load.h"
#include <asio/thread_pool.hpp>

#include "server/event_loops.h"
#include "server/server.h"
#include "store/store.h"

namespace warden {

// How often the spend and usage ledgers reach the Store (they count in memory).
inline constexpr std::chrono::milliseconds kLedgerFlushInterval{1000};

// How often a replica of a fleet announces itself and settles what it counted without Redis.
inline constexpr std::chrono::milliseconds kClusterHeartbeatInterval{2000};

// The client keys, as `warden keys …` needs them: over the data store (single node; the
// gateway must be stopped, RocksDB locks it), or, with `cluster` configured, over the fleet's
// Redis through a loop of their own — beside running gateways, whose caches hear of each change.
struct KeyStoreHandle {
  std::unique_ptr<Store> store;             // single node only
  std::unique_ptr<StandaloneRedis> redis;   // cluster
  std::unique_ptr<KeyStore> keys;
};
Result<KeyStoreHandle> OpenKeyStore(const Config& config);
// `cluster.replica`, else the host name.
std::string ReplicaName(const Config& config);
// The audit log described by config.audit (`env`: a test seam for filesystem faults).
Result<std::unique_ptr<audit::AuditLog>> OpenAuditLog(const Config& config,
                                                       std::shared_ptr<rocksdb::Env> env = nullptr);

// Test seams; production passes none.
struct AppOptions {
  std::shared_ptr<rocksdb::Env> audit_env;  // filesystem for the audit store (fault injection)
};

class App {
 public:
  static Result<std::unique_ptr<App>> Create(const Loaded& loaded, const AppOptions& options = {});
  ~App();

  Status Start();
  uint16_t port() const { return server_->port(); }
  // 0 when the admin API is off (no token configured).
  uint16_t admin_port() const { return admin_server_ ? admin_server_->port() : 0; }
  void Stop();
  // SIGHUP: from the next request on, the gateway runs on `loaded`'s providers, models and
  // policies (with their redaction rules); requests in flight finish on what they started
  // with. Fails, changing nothing, if `loaded` has errors or a redactor cannot be built.
  // Returns the sections whose changes wait for a restart (see SectionsNeedingRestart).
  Result<std::vector<std::string>> Reload(const Loaded& loaded);

  KeyStore& keys() { return *keys_; }
  Redis* redis() { return redis_.get(); }  // null unless `cluster` is configured
  Store& store() { return *handle_.store; }  // the data store (keys, ledgers)
  HttpUpstream& http() { return *http_; }
  audit::AuditLog* audit() { return audit_.get(); }

 private:
  App() = default;
  // Declared first, destroyed last: every socket (listeners, connections, pooled upstream
  // connections) belongs to one of these loops; the pool runs blocking work for the gateway.
  std::unique_ptr<EventLoops> loops_;
  std::unique_ptr<asio::thread_pool> blocking_;
  std::shared_ptr<const Config> config_;
  KeyStoreHandle handle_;  // the data store (the ledgers; the keys on a single node)
  std::unique_ptr<Redis> redis_;             // cluster: the fleet's shared state
  std::unique_ptr<KeyStore> cluster_keys_;   // cluster: the keys, in Redis
  KeyStore* keys_ = nullptr;                 // the one the gateway and admin API use
  std::unique_ptr<Limits> limits_;           // LocalLimits, or SharedLimits in a fleet
  std::unique_ptr<UsageBackend> shared_usage_;  // cluster: the usage ledger's cells in Redis
  std::unique_ptr<Periodic> heartbeat_;      // cluster: SharedLimits::Heartbeat
  std::unique_ptr<HttpUpstream> http_;
  std::unique_ptr<EchoUpstream> echo_;
  std::unique_ptr<RateLimiter> rate_limiter_;
  std::unique_ptr<SpendLedger> spend_;
  std::unique_ptr<UsageLedger> usage_;
  std::unique_ptr<Periodic> ledger_flusher_;  // writes spend_ and usage_ every second; stops first
  std::unique_ptr<metrics::GatewayMetrics> metrics_;
  std::unique_ptr<AlertWebhook> alerts_;    // delivers on the first loop, through http_
  std::unique_ptr<audit::AuditLog> audit_;  // outlives the gateway and the servers
  std::unique_ptr<ErasureFollower> erasures_;  // cluster: the fleet's `forget`s, applied here
  std::unique_ptr<Gateway> gateway_;
  std::unique_ptr<Server> server_;
  std::unique_ptr<AdminApi> admin_;
  std::unique_ptr<Server> admin_server_;
};

}  // namespace warden
