// Config: the immutable gateway configuration, loaded from config/warden.yaml.
//
// Contract: LoadConfig() reads the file, substitutes ${ENV} references in scalar values, validates
// everything and reports EVERY problem it finds with file, line and column (1-based); a Config is
// only returned when there are no errors. Once built, a Config is never mutated, so it can be
// shared by all request threads without locking (hold it by shared_ptr<const Config>).
// Relative paths in the file (data_dir, policies_dir, *_file) are resolved against the current
// working directory, like a shell would.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "common/money.h"
#include "common/secret.h"

namespace warden {

struct ConfigProblem {
  enum class Severity { kError, kWarning };
  std::string file;
  int line = 0;    // 1-based; 0 = whole file
  int column = 0;  // 1-based
  std::string message;  // never contains a secret value
  Severity severity = Severity::kError;
  std::string ToString() const;  // "file:line:col: error: message"
};

// The wire format a provider speaks. `openai` covers every OpenAI-compatible API; quirks are
// configuration (headers, stream_usage), not forks of the adapter.
enum class ProviderKind { kOpenAI, kAzure, kAnthropic, kGemini, kEcho };
const char* ProviderKindName(ProviderKind kind);

struct ConfigHeader {
  std::string name;
  std::string value;
};

// USD per 1M tokens. `price:` on a deployment (one model) comes before its provider's.
// A model's price, per token in pico-dollars: the config's dollars per million tokens
// (`input_per_million: 0.15`) read exactly, 0.15 → 150,000 (common/money.h).
struct Price {
  Picos input = 0;
  Picos output = 0;
  Picos cached_input = -1;  // < 0 = same as input
  bool configured = false;  // a `price:` was given (even all zeros: free on purpose)
  Picos CachedInput() const { return cached_input >= 0 ? cached_input : input; }
  // What `prompt` tokens (`cached` of them served from the provider's cache) and `completion`
  // tokens cost, exactly.
  Picos Cost(int64_t prompt, int64_t cached, int64_t completion) const;
};

struct ProviderConfig {
  std::string name;
  ProviderKind kind = ProviderKind::kOpenAI;
  // Parsed base URL, e.g. https://api.openai.com/v1 → scheme "https", host, port 443, path "/v1".
  std::string base_url;
  std::string scheme;
  std::string host;
  uint16_t port = 0;
  std::string base_path;
  Secret api_key;  // empty = no Authorization header (local vLLM/Ollama)
  std::string region = "unspecified";
  bool zero_retention = false;
  // The API has OpenAI's `store` field (true by default for api.openai.com): under a
  // zero-retention policy Warden sends `store: false`.
  bool store_field = false;
  Price price;  // every model of the provider, unless its deployment has its own
  // azure: the `api-version` query parameter; anthropic: the `anthropic-version` header.
  std::string api_version;
  // anthropic requires max_tokens; this is sent when the client gave none.
  int64_t default_max_tokens = 4096;
  // openai: ask for a usage chunk at the end of streams (`stream_options.include_usage`);
  // off for servers that reject the field.
  bool stream_usage = true;
  // Extra request headers sent to this provider (e.g. an organisation or project id). Static
  // configuration: nothing from a client request is ever copied into them.
  std::vector<ConfigHeader> headers;
};

struct Deployment {
  std::string provider;  // ProviderConfig::name
  std::string model;     // the model name sent upstream (azure: the deployment name)
  int weight = 1;        // for the `weighted` strategy
  Price price = {};      // this model's price; not configured = the provider's
  // Demoted to the end of the order while its recent time to first byte (a moving average) is
  // above this; 0 = never. See RoutingConfig::ttfb_probe_interval_ms for how it comes back.
  int max_ttfb_ms = 0;
};

// A routing rule of an alias: a request that matches every condition given is served by the
// alias `use` instead (first matching rule wins; none → the alias's own deployments). The key's
// policy still decides: a target it does not allow, or whose deployments it excludes, is passed
// over for the next rule.
struct RouteRule {
  std::string name;  // in the x-warden-route-rule response header and the audit record
  std::string use;   // the target alias (which has no rules of its own)
  int64_t min_prompt_tokens = -1;  // estimated prompt tokens at least / at most; -1 = any
  int64_t max_prompt_tokens = -1;
  int64_t min_max_tokens = -1;     // the request's max_tokens at least / at most (absent = 0)
  int64_t max_max_tokens = -1;
  int tools = -1;                  // 1 = tools present, 0 = absent, -1 = either
  int images = -1;                 // 1 = images present, 0 = absent, -1 = either
  std::string tag_name, tag_value; // the request carries this attribution tag (common/tags.h)
};

// What one deployment costs: its own price, else its provider's.
const Price& PriceOf(const ProviderConfig& provider, const Deployment& deployment);
// "provider/model", the name of a deployment in headers, logs, audit records and health.
std::string DeploymentName(const ProviderConfig& provider, const Deployment& deployment);

// How an alias orders its deployments for each request (the order failover walks).
enum class RoutingStrategy { kPriority, kWeighted, kLowestLatency, kLowestCost };
const char* RoutingStrategyName(RoutingStrategy strategy);

struct ModelAlias {
  std::string alias;  // the client-visible model name
  std::vector<Deployment> deployments;  // in priority order
  std::vector<RouteRule> rules = {};    // tried in order before the deployments
  RoutingStrategy strategy = RoutingStrategy::kPriority;
};

// Retries and failover across an alias's deployments, and the circuit breaker per deployment.
struct RoutingConfig {
  int retries_per_deployment = 1;  // further tries on the same deployment after a retryable failure
  int max_attempts = 5;            // in total, over all deployments
  int max_time_ms = 120000;        // no new attempt starts after this much time
  int backoff_initial_ms = 100;    // doubled per retry on the same deployment, with full jitter
  int backoff_max_ms = 2000;
  int retry_after_max_ms = 5000;   // a longer Retry-After moves on to the next deployment instead
  int breaker_failures = 5;        // consecutive failures that open a deployment's circuit
  int breaker_cooldown_ms = 30000; // skipped this long, then one probe request decides
  // A deployment demoted for its time to first byte (Deployment::max_ttfb_ms) gets its place
  // back for requests once it has had no sample for this long; the next sample then replaces
  // its average, so a recovered deployment is promoted on its first fast answer.
  int ttfb_probe_interval_ms = 30000;
};

// TLS on a listener: TLS 1.2 and 1.3 only, forward-secret AEAD cipher suites. With
// client_ca_file, a client must present a certificate signed by that CA (mutual TLS).
struct TlsListenerConfig {
  std::string cert_file;       // PEM certificate (chain); empty = plain HTTP
  std::string key_file;        // PEM private key
  std::string client_ca_file;  // PEM CA bundle; set = client certificates required
  bool enabled() const { return !cert_file.empty(); }
};

struct ServerConfig {
  std::string host = "127.0.0.1";
  uint16_t port = 8080;
  // Connections and requests live on event loops and hold no thread while they wait; blocking
  // work (storage, fsync, large bodies) runs on a pool of worker_threads.
  int event_loops = 0;                // 0 = one per core
  int worker_threads = 64;            // the pool for blocking work
  int max_connections = 10000;        // open client connections; beyond: 503 overloaded
  int max_queued_connections = 256;   // deprecated: read and ignored (see max_connections)
  size_t max_body_bytes = 8u << 20;   // request body limit → 413
  int read_timeout_ms = 30000;        // socket read/write timeout while serving a request
  int header_timeout_ms = 10000;      // a whole request head must arrive within this (slowloris)
  size_t max_header_bytes = 64u << 10;  // request line + headers → 431 above
  size_t min_body_rate = 1024;        // bytes/s a body must average once header_timeout has passed
  int drain_timeout_ms = 30000;       // on stop: time requests in flight get to finish
  int keep_alive_idle_ms = 15000;     // idle keep-alive connections are closed after this
  int max_keep_alive_requests = 10000;
  std::string access_log = "-";       // "-" = stderr
  std::string log_level = "info";
  TlsListenerConfig tls;
};

struct UpstreamConfig {
  int connect_timeout_ms = 5000;
  int first_byte_timeout_ms = 60000;  // until response headers arrive
  int idle_timeout_ms = 30000;        // between two reads of the response body / stream
  int max_idle_connections_per_host = 64;
  int stream_timeout_ms = 600000;     // total time a stream may take
  std::string ca_file;                // PEM bundle used instead of the system CAs
  // Egress through an HTTP proxy (CONNECT for https): `proxy` in the config, else HTTPS_PROXY /
  // HTTP_PROXY from the environment. Hosts in no_proxy (or NO_PROXY) are reached directly.
  std::string proxy_host;             // empty = no proxy
  uint16_t proxy_port = 0;
  std::vector<std::string> no_proxy;  // host names or ".suffix"
};

// The admin listener: key management (and, later, metrics). Off unless a token is configured.
struct AdminConfig {
  std::string host = "127.0.0.1";
  uint16_t port = 8081;
  Secret token;  // from `token: ${ENV}` or `token_file`; empty = admin API off
  TlsListenerConfig tls;  // client_ca_file here = client-certificate auth on the admin API
  bool enabled() const { return !token.empty(); }
};

// The audit store (audit/): where it lives, its keys, and how often the chain head is signed.
// Paths default to files under data_dir; production puts the key files elsewhere (a secret
// mount) so that a copy of the data directory alone reveals nothing.
struct AuditConfig {
  bool enabled = true;
  std::string dir;               // default: <data_dir>/audit
  std::string master_key_file;   // default: <data_dir>/audit-master.key
  std::string signing_key_file;  // default: <data_dir>/audit-signing.key (+ .pub)
  std::string checkpoint_file;   // default: <data_dir>/audit-checkpoints.jsonl; "-" = stdout
  int64_t checkpoint_every_records = 1000;
  int checkpoint_every_ms = 60000;
};

// Where alerts (budget thresholds) are posted: an operator's URL, never one a client supplied.
struct WebhookConfig {
  std::string url;  // "" = no webhook; never logged (chat webhooks carry a secret in the path)
  std::string scheme, host;
  uint16_t port = 0;
  std::string path;                   // path and query
  std::vector<ConfigHeader> headers;  // static, e.g. Authorization: Bearer ${ALERT_TOKEN}
  // Set: every post carries `X-Warden-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256 of
  // "<t>.<body>" under this secret>`, so the receiver can check it came from Warden, unaltered.
  Secret secret;
  int attempts = 5;                   // deliveries tried per alert
  int backoff_ms = 1000;              // before the second attempt; doubles, at most 60 s
};

struct AlertsConfig {
  WebhookConfig webhook;
};

// The Redis (or Valkey) server a fleet of replicas shares its state through (`cluster.redis`).
struct RedisConfig {
  std::string url;  // redis://host[:port][/db] or rediss:// (TLS); credentials never in it
  bool tls = false;
  std::string host;
  uint16_t port = 6379;
  int db = 0;
  std::string username;  // ACL user; "" = the default user
  Secret password;       // password / password_file; never logged
  std::string key_prefix = "warden:";  // every key and channel Warden uses starts with it
  std::string ca_file;   // rediss://: the CA bundle that verifies the server ("" = the system's)
  int connect_timeout_ms = 2000;
  int command_timeout_ms = 1000;
};

// `cluster`: off (the single-node embedded default) unless `redis.url` is set (an empty URL is
// off too, so one file can serve both, e.g. `url: ${WARDEN_REDIS_URL:-}`). Then client keys,
// rate limits, budgets' spend and usage aggregates are shared by every replica through Redis.
struct ClusterConfig {
  RedisConfig redis;
  std::string replica;               // this replica's name; default: the host name
  int key_cache_ttl_ms = 30000;      // a cached key record is read again after this long
  int key_cache_grace_ms = 300000;   // while Redis is unreachable, cached keys still authenticate this long
  bool enabled() const { return !redis.url.empty(); }
};

struct Config {
  std::string path;
  AlertsConfig alerts;
  ClusterConfig cluster;
  ServerConfig server;
  UpstreamConfig upstream;
  AdminConfig admin;
  AuditConfig audit;
  RoutingConfig routing;
  std::string data_dir = "./data";
  std::string key_hash_key_file;  // default: <data_dir>/key-hash.key
  std::string policies_dir = "./policies";
  std::vector<ProviderConfig> providers;
  std::vector<ModelAlias> models;

  const ProviderConfig* FindProvider(const std::string& name) const;
  const ModelAlias* FindModel(const std::string& alias) const;
};

struct LoadResult {
  std::shared_ptr<const Config> config;  // null when any error was found
  std::vector<ConfigProblem> problems;   // errors and warnings, in file order
  bool ok() const { return config != nullptr; }
};

// How ${NAME} is looked up; defaults to getenv. Returns nullopt when unset.
using EnvLookup = std::function<std::optional<std::string>(const std::string&)>;

LoadResult LoadConfig(const std::string& path, const EnvLookup& env = {});
LoadResult LoadConfigFromString(const std::string& yaml_text, const std::string& display_name,
                                const EnvLookup& env = {});

// Substitutes ${NAME} and ${NAME:-default}; "$$" is a literal "$". On an unset variable without
// a default, returns nullopt and sets *missing to the variable's name.
std::optional<std::string> SubstituteEnv(const std::string& text, const EnvLookup& env,
                                         std::string* missing);

}  // namespace warden
