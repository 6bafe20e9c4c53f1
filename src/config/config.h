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

enum class ProviderKind { kOpenAI, kEcho };
const char* ProviderKindName(ProviderKind kind);

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
  double input_price_per_million = 0;   // USD per 1M input tokens
  double output_price_per_million = 0;  // USD per 1M output tokens
};

struct Deployment {
  std::string provider;  // ProviderConfig::name
  std::string model;     // the model name sent upstream
};

struct ModelAlias {
  std::string alias;  // the client-visible model name
  std::vector<Deployment> deployments;  // ordered; the first is used until failover lands
};

struct ServerConfig {
  std::string host = "127.0.0.1";
  uint16_t port = 8080;
  int worker_threads = 64;            // concurrent connections being served
  int max_queued_connections = 256;   // accepted connections waiting for a worker
  size_t max_body_bytes = 8u << 20;   // request body limit → 413
  int read_timeout_ms = 30000;        // socket read/write timeout while serving a request
  int keep_alive_idle_ms = 15000;     // idle keep-alive connections are closed after this
  int max_keep_alive_requests = 10000;
  std::string access_log = "-";       // "-" = stderr
  std::string log_level = "info";
};

struct UpstreamConfig {
  int connect_timeout_ms = 5000;
  int first_byte_timeout_ms = 60000;  // until response headers arrive
  int idle_timeout_ms = 30000;        // between two reads of the response body / stream
  int max_idle_connections_per_host = 64;
  std::string ca_file;                // PEM bundle used instead of the system CAs
};

// The admin listener: key management (and, later, metrics). Off unless a token is configured.
struct AdminConfig {
  std::string host = "127.0.0.1";
  uint16_t port = 8081;
  Secret token;  // from `token: ${ENV}` or `token_file`; empty = admin API off
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

struct Config {
  std::string path;
  ServerConfig server;
  UpstreamConfig upstream;
  AdminConfig admin;
  AuditConfig audit;
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
