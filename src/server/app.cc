#include "server/app.h"

#include <unistd.h>

#include <cctype>
#include <tuple>

#include "cluster/fleet_erasure.h"
#include "cluster/redis_key_records.h"
#include "cluster/redis_usage.h"
#include "cluster/shared_limits.h"
#include "common/log.h"
#include "common/util.h"

namespace warden {

namespace {

// The data store and the key store over it (a single node's keys).
Result<KeyStoreHandle> OpenDataStore(const Config& config) {
  auto store = Store::Open(config.data_dir);
  if (!store) return store.error();
  auto hash_key = KeyStore::LoadOrCreateHashKey(config.key_hash_key_file);
  if (!hash_key) return hash_key.error();
  KeyStoreHandle handle;
  handle.store = std::move(*store);
  handle.keys = std::make_unique<KeyStore>(handle.store.get(), std::move(*hash_key));
  return handle;
}

// The fleet's key store in Redis, once Redis answers and the hashing key is the fleet's.
Result<std::unique_ptr<KeyStore>> OpenFleetKeys(const Config& config, Redis* redis) {
  auto hash_key = KeyStore::LoadOrCreateHashKey(config.key_hash_key_file);
  if (!hash_key) return hash_key.error();
  auto pong = redis->Blocking({"PING"});
  if (!pong) return Error::ServiceUnavailable(pong.error().message + " (cluster.redis)", "shared_state_unavailable");
  if (pong->type == RedisValue::Type::kError)
    return Error::ServiceUnavailable("Redis at " + RedisDisplayName(config.cluster.redis) + " refused PING: " + pong->str,
                                     "shared_state_unavailable");
  const std::string& prefix = config.cluster.redis.key_prefix;
  auto keys = std::make_unique<KeyStore>(RedisKeyRecords(redis, prefix), std::move(*hash_key));
  if (Status s = CheckFleetHashKey(redis, prefix, *keys); !s) return s.error();
  keys->SetCacheTimes(config.cluster.key_cache_ttl_ms, config.cluster.key_cache_grace_ms);
  return keys;
}

}  // namespace

Result<KeyStoreHandle> OpenKeyStore(const Config& config) {
  if (!config.cluster.enabled()) return OpenDataStore(config);
  KeyStoreHandle handle;
  handle.redis = std::make_unique<StandaloneRedis>(config.cluster.redis);
  auto keys = OpenFleetKeys(config, &handle.redis->redis());
  if (!keys) return keys.error();
  handle.keys = std::move(*keys);
  return handle;
}

std::string ReplicaName(const Config& config) {
  if (!config.cluster.replica.empty()) return config.cluster.replica;
  char host[256] = {};
  if (gethostname(host, sizeof host - 1) != 0 || host[0] == '\0') return "warden";
  std::string name = host;
  for (char& ch : name)
    if (!std::isalnum(static_cast<unsigned char>(ch)) && ch != '-' && ch != '_' && ch != '.') ch = '_';
  return name;
}

Result<std::unique_ptr<audit::AuditLog>> OpenAuditLog(const Config& c, std::shared_ptr<rocksdb::Env> env) {
  audit::AuditOptions ao;
  ao.dir = c.audit.dir;
  ao.master_key_file = c.audit.master_key_file;
  ao.signing_key_file = c.audit.signing_key_file;
  ao.checkpoint_file = c.audit.checkpoint_file;
  ao.checkpoint_every_records = static_cast<uint64_t>(c.audit.checkpoint_every_records);
  ao.checkpoint_every_ms = c.audit.checkpoint_every_ms;
  if (c.cluster.enabled()) ao.replica = ReplicaName(c);
  ao.env = std::move(env);
  ao.warn = [](const std::string& message) { log::Warn("audit_key_created", {{"message", message}}); };
  return audit::AuditLog::Open(ao);
}

Result<std::unique_ptr<App>> App::Create(const Loaded& loaded, const AppOptions& options) {
  std::unique_ptr<App> app(new App());
  app->config_ = loaded.config;
  const Config& c = *app->config_;
  auto handle = OpenDataStore(c);
  if (!handle) return handle.error();
  app->handle_ = std::move(*handle);
  app->keys_ = app->handle_.keys.get();

  HttpUpstreamOptions o;
  o.connect_timeout_ms = c.upstream.connect_timeout_ms;
  o.first_byte_timeout_ms = c.upstream.first_byte_timeout_ms;
  o.idle_timeout_ms = c.upstream.idle_timeout_ms;
  o.max_idle_per_host = c.upstream.max_idle_connections_per_host;
  o.ca_file = c.upstream.ca_file;
  o.proxy_host = c.upstream.proxy_host;
  o.proxy_port = c.upstream.proxy_port;
  o.no_proxy = c.upstream.no_proxy;
  app->loops_ = std::make_unique<EventLoops>(c.server.event_loops);
  app->blocking_ = std::make_unique<asio::thread_pool>(static_cast<size_t>(std::max(1, c.server.worker_threads)));
  app->http_ = std::make_unique<HttpUpstream>(o);
  app->echo_ = std::make_unique<EchoUpstream>();
  app->rate_limiter_ = std::make_unique<RateLimiter>([] { return MonotonicNanos() / 1000000; });
  app->spend_ = std::make_unique<SpendLedger>(app->handle_.store.get(), UnixSeconds);
  if (c.cluster.enabled()) {
    // A fleet: keys, rate limits and budgets in Redis, driven by our own loops (started now,
    // so that the checks below can run; the listeners start later).
    app->loops_->Start();
    std::vector<asio::io_context*> loops;
    for (size_t i = 0; i < app->loops_->size(); ++i) loops.push_back(&app->loops_->Next());
    app->redis_ = std::make_unique<Redis>(c.cluster.redis, std::move(loops));
    auto keys = OpenFleetKeys(c, app->redis_.get());
    if (!keys) return keys.error();
    app->cluster_keys_ = std::move(*keys);
    app->keys_ = app->cluster_keys_.get();
    WatchKeyChanges(app->redis_.get(), c.cluster.redis.key_prefix, app->keys_);
    const std::string replica = ReplicaName(c);
    auto shared = std::make_unique<SharedLimits>(app->redis_.get(), c.cluster.redis.key_prefix, replica, UnixSeconds);
    if (Status s = shared->ClearOwnReservations(); !s) return s.error();
    shared->Heartbeat();
    app->shared_usage_ = RedisUsage(app->redis_.get(), c.cluster.redis.key_prefix);
    app->usage_ = std::make_unique<UsageLedger>(app->shared_usage_.get(), UnixSeconds);
    app->heartbeat_ = std::make_unique<Periodic>(kClusterHeartbeatInterval, [s = shared.get()] { s->Heartbeat(); });
    app->limits_ = std::move(shared);
    log::Info("cluster_joined", {{"redis", RedisDisplayName(c.cluster.redis)}, {"replica", replica}});
  } else {
    app->limits_ = std::make_unique<LocalLimits>(app->rate_limiter_.get(), app->spend_.get(), app->blocking_.get());
    app->usage_ = std::make_unique<UsageLedger>(app->handle_.store.get(), UnixSeconds);
  }
  // The ledgers count in memory; this writes them whatever the traffic (README: within a second).
  app->ledger_flusher_ = std::make_unique<Periodic>(kLedgerFlushInterval, [spend = app->spend_.get(), usage = app->usage_.get()] {
    spend->Flush();
    usage->Flush();
  });
  app->metrics_ = std::make_unique<metrics::GatewayMetrics>();
  if (auto* shared = dynamic_cast<SharedLimits*>(app->limits_.get())) {
    // A fleet: whether Redis answers, how many replicas it counts, and the decisions taken
    // without it (per replica, like every series here).
    metrics::Registry& r = app->metrics_->registry();
    metrics::Family& up = r.Add("warden_cluster_redis_up", "1 while the fleet's Redis answers this replica", metrics::Type::kGauge, {});
    metrics::Family& size = r.Add("warden_cluster_replicas", "Replicas of the fleet seen by the last heartbeat", metrics::Type::kGauge, {});
    metrics::Counter& fallbacks =
        r.Add("warden_cluster_fallbacks_total", "Limit and budget decisions taken without Redis (this replica's share or last known spend, or a refusal)",
              metrics::Type::kCounter, {})
            .counter({});
    r.OnRender([&up, &size, &fallbacks, shared, redis = app->redis_.get()] {
      up.Set({}, redis->up() ? 1 : 0);
      size.Set({}, shared->fleet_size());
      fallbacks.Add(static_cast<double>(shared->fallbacks()) - fallbacks.value());
    });
  }
  if (c.audit.enabled) {
    auto audit = OpenAuditLog(c, options.audit_env);
    if (!audit) return audit.error();
    app->audit_ = std::move(*audit);
    if (app->audit_->interrupted_at_open() > 0)
      log::Warn("audit_interrupted_requests",
                {{"count", app->audit_->interrupted_at_open()},
                 {"message", "requests in flight at the last stop were closed as interrupted"}});
  }
  if (app->redis_ && app->audit_) {
    // Erasures the fleet was asked for while this replica was away, before it serves a record.
    app->erasures_ = std::make_unique<ErasureFollower>(*app->redis_, c.cluster.redis.key_prefix, *app->audit_,
                                                       app->blocking_.get());
    if (Status s = app->erasures_->ApplyAll(); !s)
      return Error::ServiceUnavailable("the fleet's audit erasures could not be applied: " + s.error().message,
                                       "audit_erasure_pending");
    app->erasures_->Follow();
  }
  GatewayDeps deps;
  deps.audit = app->audit_.get();
  deps.blocking = app->blocking_.get();
  auto snapshot = MakeGatewaySnapshot(loaded.config, loaded.policies, loaded.rule_sets);
  if (!snapshot) return snapshot.error();
  deps.snapshot = *snapshot;
  deps.keys = app->keys_;
  deps.store = app->handle_.store.get();
  deps.http = app->http_.get();
  deps.echo = app->echo_.get();
  deps.limits = app->limits_.get();
  deps.usage = app->usage_.get();
  deps.metrics = app->metrics_.get();
  // Always there (it sends nothing while no webhook is configured), so a reload can add one.
  app->alerts_ = std::make_unique<AlertWebhook>(*app->http_, app->loops_->First().get_executor(), app->metrics_.get());
  deps.alerts = app->alerts_.get();
  app->gateway_ = std::make_unique<Gateway>(std::move(deps));
  // Breaker states are read from the gateway when the metrics page is rendered; the names come
  // from the configuration, so every deployment has a series from the start.
  app->metrics_->registry().OnRender([gateway = app->gateway_.get(), m = app->metrics_.get()] {
    const auto current = gateway->snapshot();
    const Config* config = current->config.get();
    for (const auto& alias : config->models) {
      for (const auto& d : alias.deployments) {
        const ProviderConfig* p = config->FindProvider(d.provider);
        if (!p) continue;
        const std::string name = DeploymentName(*p, d);
        auto st = gateway->health().state(name);
        m->SetBreakerState(name, st == DeploymentHealth::State::kClosed ? 0 : st == DeploymentHealth::State::kHalfOpen ? 1 : 2);
      }
    }
  });
  app->server_ = std::make_unique<Server>(c.server, app->loops_.get(), app->gateway_.get(), app->blocking_.get());
  if (c.admin.enabled()) {
    app->admin_ = std::make_unique<AdminApi>(app->config_, loaded.policies, app->keys_, app->limits_.get(),
                                             app->audit_.get(), app->usage_.get(), app->metrics_.get());
    if (c.cluster.enabled())
      app->admin_->SetFleet(ReplicaName(c), [redis = app->redis_.get(), prefix = c.cluster.redis.key_prefix](
                                                const std::string& key_id) { return AnnounceErasure(*redis, prefix, key_id); });
    ServerConfig admin = c.server;
    admin.host = c.admin.host;
    admin.port = c.admin.port;
    admin.tls = c.admin.tls;  // never the client listener's: the admin API has its own
    admin.worker_threads = 4;
    admin.max_connections = 256;
    app->admin_server_ = std::make_unique<Server>(admin, app->loops_.get(), app->admin_.get());
  }
  return app;
}

namespace {

// The settings a running process cannot change: listeners, threads, the data and audit stores,
// the admin listener and the upstream transport (its connection pools are built with them). A
// reload reports them; they apply at the next start. Routing, retries, circuit breaking and the
// stream timeout are read from each request's snapshot, so a reload changes them.
std::vector<std::string> SectionsNeedingRestart(const Config& a, const Config& b) {
  auto server = [](const Config& c) {
    const ServerConfig& s = c.server;
    return std::tie(s.host, s.port, s.event_loops, s.worker_threads, s.max_connections, s.read_timeout_ms,
                    s.header_timeout_ms, s.max_header_bytes, s.min_body_rate, s.drain_timeout_ms,
                    s.keep_alive_idle_ms, s.max_keep_alive_requests, s.access_log, s.log_level);
  };
  auto upstream = [](const Config& c) {
    const UpstreamConfig& u = c.upstream;
    return std::tie(u.connect_timeout_ms, u.first_byte_timeout_ms, u.idle_timeout_ms,
                    u.max_idle_connections_per_host, u.ca_file, u.proxy_host,
                    u.proxy_port, u.no_proxy);
  };
  auto admin = [](const Config& c) { return std::make_tuple(c.admin.host, c.admin.port, c.admin.token.Reveal()); };
  auto audit = [](const Config& c) {
    const AuditConfig& x = c.audit;
    return std::tie(x.enabled, x.dir, x.master_key_file, x.signing_key_file, x.checkpoint_file,
                    x.checkpoint_every_records, x.checkpoint_every_ms);
  };
  auto data = [](const Config& c) { return std::tie(c.data_dir, c.key_hash_key_file); };
  std::vector<std::string> out;
  if (server(a) != server(b)) out.push_back("server");
  if (upstream(a) != upstream(b)) out.push_back("upstream");
  if (admin(a) != admin(b)) out.push_back("admin");
  if (audit(a) != audit(b)) out.push_back("audit");
  if (data(a) != data(b)) out.push_back("data_dir");
  return out;
}

}  // namespace

Result<std::vector<std::string>> App::Reload(const Loaded& loaded) {
  if (!loaded.ok()) return Error::Internal("the new configuration has errors");
  auto snapshot = MakeGatewaySnapshot(loaded.config, loaded.policies, loaded.rule_sets);
  if (!snapshot) return snapshot.error();
  const std::vector<std::string> restart = SectionsNeedingRestart(*gateway_->snapshot()->config, *loaded.config);
  gateway_->Reload(*snapshot);
  if (admin_) admin_->SetPolicies(loaded.policies);
  return restart;
}

App::~App() { Stop(); }

Status App::Start() {
  if (Status s = server_->Start(); !s) return s;
  if (admin_server_) return admin_server_->Start();
  return Status::Ok();
}

void App::Stop() {
  if (admin_server_) admin_server_->Stop();
  if (server_) server_->Stop();
  if (blocking_) blocking_->join();  // the gateway's blocking work has finished
  ledger_flusher_.reset();
  if (redis_ && usage_) usage_->Flush();  // a fleet's ledger goes to Redis: while it still runs
  heartbeat_.reset();
  if (redis_) redis_->Stop();
  if (loops_) loops_->Stop();
  if (spend_) spend_->Flush();
  if (usage_) usage_->Flush();
}

}  // namespace warden
