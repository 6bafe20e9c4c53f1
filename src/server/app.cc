#include "server/app.h"

#include "common/log.h"
#include "common/util.h"

namespace warden {

Result<KeyStoreHandle> OpenKeyStore(const Config& config) {
  auto store = Store::Open(config.data_dir);
  if (!store) return store.error();
  auto hash_key = KeyStore::LoadOrCreateHashKey(config.key_hash_key_file);
  if (!hash_key) return hash_key.error();
  KeyStoreHandle handle;
  handle.store = std::move(*store);
  handle.keys = std::make_unique<KeyStore>(handle.store.get(), std::move(*hash_key));
  return handle;
}

Result<std::unique_ptr<audit::AuditLog>> OpenAuditLog(const Config& c, std::shared_ptr<rocksdb::Env> env) {
  audit::AuditOptions ao;
  ao.dir = c.audit.dir;
  ao.master_key_file = c.audit.master_key_file;
  ao.signing_key_file = c.audit.signing_key_file;
  ao.checkpoint_file = c.audit.checkpoint_file;
  ao.checkpoint_every_records = static_cast<uint64_t>(c.audit.checkpoint_every_records);
  ao.checkpoint_every_ms = c.audit.checkpoint_every_ms;
  ao.env = std::move(env);
  ao.warn = [](const std::string& message) { log::Warn("audit_key_created", {{"message", message}}); };
  return audit::AuditLog::Open(ao);
}

Result<std::unique_ptr<App>> App::Create(const Loaded& loaded, const AppOptions& options) {
  std::unique_ptr<App> app(new App());
  app->config_ = loaded.config;
  const Config& c = *app->config_;
  auto handle = OpenKeyStore(c);
  if (!handle) return handle.error();
  app->handle_ = std::move(*handle);

  HttpUpstreamOptions o;
  o.connect_timeout_ms = c.upstream.connect_timeout_ms;
  o.first_byte_timeout_ms = c.upstream.first_byte_timeout_ms;
  o.idle_timeout_ms = c.upstream.idle_timeout_ms;
  o.max_idle_per_host = c.upstream.max_idle_connections_per_host;
  o.ca_file = c.upstream.ca_file;
  o.proxy_host = c.upstream.proxy_host;
  o.proxy_port = c.upstream.proxy_port;
  o.no_proxy = c.upstream.no_proxy;
  app->http_ = std::make_unique<HttpUpstream>(o);
  app->echo_ = std::make_unique<EchoUpstream>();
  app->rate_limiter_ = std::make_unique<RateLimiter>([] { return MonotonicNanos() / 1000000; });
  app->spend_ = std::make_unique<SpendLedger>(app->handle_.store.get(), UnixSeconds);
  app->usage_ = std::make_unique<UsageLedger>(app->handle_.store.get(), UnixSeconds);
  app->metrics_ = std::make_unique<metrics::GatewayMetrics>();
  if (c.audit.enabled) {
    auto audit = OpenAuditLog(c, options.audit_env);
    if (!audit) return audit.error();
    app->audit_ = std::move(*audit);
    if (app->audit_->interrupted_at_open() > 0)
      log::Warn("audit_interrupted_requests",
                {{"count", app->audit_->interrupted_at_open()},
                 {"message", "requests in flight at the last stop were closed as interrupted"}});
  }
  GatewayDeps deps;
  deps.audit = app->audit_.get();
  deps.config = app->config_;
  deps.policies = loaded.policies;
  deps.keys = app->handle_.keys.get();
  deps.store = app->handle_.store.get();
  deps.http = app->http_.get();
  deps.echo = app->echo_.get();
  deps.rate_limiter = app->rate_limiter_.get();
  deps.spend = app->spend_.get();
  deps.usage = app->usage_.get();
  deps.metrics = app->metrics_.get();
  // One compiled redactor per policy that asks for redaction (its rule sets, in its order).
  for (const auto& name : loaded.policies->Names()) {
    const Policy* p = loaded.policies->Find(name);
    if (p->redaction_rule_sets.empty()) continue;
    auto redactor = Redactor::ForPolicy(*p, *loaded.rule_sets);
    if (!redactor) return redactor.error();
    deps.redactors[name] = *redactor;
  }
  deps.rule_sets = loaded.rule_sets;
  app->gateway_ = std::make_unique<Gateway>(std::move(deps));
  // Breaker states are read from the gateway when the metrics page is rendered; the names come
  // from the configuration, so every deployment has a series from the start.
  app->metrics_->registry().OnRender([gateway = app->gateway_.get(), config = app->config_, m = app->metrics_.get()] {
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
  app->server_ = std::make_unique<Server>(c.server, app->gateway_.get());
  if (c.admin.enabled()) {
    app->admin_ = std::make_unique<AdminApi>(app->config_, loaded.policies, app->handle_.keys.get(),
                                             app->spend_.get(), app->rate_limiter_.get(),
                                             app->audit_.get(), app->usage_.get(), app->metrics_.get());
    ServerConfig admin = c.server;
    admin.host = c.admin.host;
    admin.port = c.admin.port;
    admin.worker_threads = 4;
    admin.max_queued_connections = 16;
    app->admin_server_ = std::make_unique<Server>(admin, app->admin_.get());
  }
  return app;
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
}

}  // namespace warden
