#include "config/config.h"

#include "config/yaml_reader.h"

#include <cctype>
#include <cstdlib>
#include <fstream>
#include <map>
#include <set>
#include <sstream>

#include "common/tags.h"

namespace warden {

std::string ConfigProblem::ToString() const {
  std::ostringstream out;
  out << file;
  if (line > 0) out << ':' << line << ':' << column;
  out << (severity == Severity::kError ? ": error: " : ": warning: ") << message;
  return out.str();
}

const char* ProviderKindName(ProviderKind kind) {
  switch (kind) {
    case ProviderKind::kOpenAI: return "openai";
    case ProviderKind::kAzure: return "azure";
    case ProviderKind::kAnthropic: return "anthropic";
    case ProviderKind::kGemini: return "gemini";
    case ProviderKind::kEcho: return "echo";
  }
  return "?";
}

const char* RoutingStrategyName(RoutingStrategy strategy) {
  switch (strategy) {
    case RoutingStrategy::kPriority: return "priority";
    case RoutingStrategy::kWeighted: return "weighted";
    case RoutingStrategy::kLowestLatency: return "lowest_latency";
    case RoutingStrategy::kLowestCost: return "lowest_cost";
  }
  return "?";
}

const ProviderConfig* Config::FindProvider(const std::string& name) const {
  for (const auto& p : providers)
    if (p.name == name) return &p;
  return nullptr;
}

Picos Price::Cost(int64_t prompt, int64_t cached, int64_t completion) const {
  cached = std::clamp<int64_t>(cached, 0, std::max<int64_t>(prompt, 0));
  return AddPicos(AddPicos(MulPicos(prompt - cached, input), MulPicos(cached, CachedInput())),
                  MulPicos(completion, output));
}

const Price& PriceOf(const ProviderConfig& provider, const Deployment& deployment) {
  return deployment.price.configured ? deployment.price : provider.price;
}

std::string DeploymentName(const ProviderConfig& provider, const Deployment& deployment) {
  return provider.name + "/" + deployment.model;
}

const ModelAlias* Config::FindModel(const std::string& alias) const {
  for (const auto& m : models)
    if (m.alias == alias) return &m;
  return nullptr;
}

std::optional<std::string> SubstituteEnv(const std::string& text, const EnvLookup& env,
                                         std::string* missing) {
  std::string out;
  out.reserve(text.size());
  for (size_t i = 0; i < text.size(); ++i) {
    char c = text[i];
    if (c != '$' || i + 1 >= text.size()) {
      out.push_back(c);
      continue;
    }
    if (text[i + 1] == '$') {
      out.push_back('$');
      ++i;
      continue;
    }
    if (text[i + 1] != '{') {
      out.push_back(c);
      continue;
    }
    size_t close = text.find('}', i + 2);
    if (close == std::string::npos) {
      out.append(text, i, std::string::npos);
      break;
    }
    std::string inner = text.substr(i + 2, close - i - 2);
    std::string name = inner;
    std::optional<std::string> fallback;
    if (size_t d = inner.find(":-"); d != std::string::npos) {
      name = inner.substr(0, d);
      fallback = inner.substr(d + 2);
    }
    std::optional<std::string> value = env(name);
    if (!value || (value->empty() && fallback)) value = fallback;
    if (!value) {
      if (missing) *missing = name;
      return std::nullopt;
    }
    out += *value;
    i = close;
  }
  return out;
}

namespace {

// Walks the YAML tree, collecting every problem instead of stopping at the first.
class Parser : public YamlReader {
 public:
  Parser(std::string file, EnvLookup env) : YamlReader(std::move(file), std::move(env)) {}

  void ReadListen(const YAML::Node& map, const char* key, std::string& host, uint16_t& port,
                  const std::string& where) {
    const YAML::Node n = map[key];
    if (!n) return;
    auto v = String(n, where + "." + key);
    if (!v) return;
    size_t colon = v->rfind(':');
    char* end = nullptr;
    long p = colon == std::string::npos ? -1 : std::strtol(v->c_str() + colon + 1, &end, 10);
    if (colon == std::string::npos || colon == 0 || p < 0 || p > 65535 || *end != '\0') {
      Problem(n, where + "." + key + " must be host:port, e.g. 127.0.0.1:8080");
      return;
    }
    host = v->substr(0, colon);
    if (host.size() > 2 && host.front() == '[' && host.back() == ']')
      host = host.substr(1, host.size() - 2);
    port = static_cast<uint16_t>(p);
  }

  void ParseServer(const YAML::Node& n, ServerConfig& s) {
    if (!ExpectMap(n, "server")) return;
    CheckKeys(n, "server",
              {"listen", "event_loops", "worker_threads", "max_connections", "max_queued_connections", "max_body_size",
               "read_timeout", "keep_alive_idle", "max_keep_alive_requests", "access_log",
               "log_level", "header_timeout", "max_header_size", "min_body_rate", "drain_timeout", "tls"});
    ReadListen(n, "listen", s.host, s.port, "server");
    ReadInt(n, "event_loops", s.event_loops, 0, 64, "server");
    ReadInt(n, "worker_threads", s.worker_threads, 1, 4096, "server");
    ReadInt(n, "max_connections", s.max_connections, 1, 1000000, "server");
    ReadInt(n, "max_queued_connections", s.max_queued_connections, 0, 65536, "server");
    ReadSize(n, "max_body_size", s.max_body_bytes, "server");
    ReadDuration(n, "read_timeout", s.read_timeout_ms, "server");
    ReadDuration(n, "keep_alive_idle", s.keep_alive_idle_ms, "server");
    ReadDuration(n, "header_timeout", s.header_timeout_ms, "server");
    ReadSize(n, "max_header_size", s.max_header_bytes, "server");
    if (n["max_header_size"] && (s.max_header_bytes < 1024 || s.max_header_bytes > (1u << 20)))
      Problem(n["max_header_size"], "server.max_header_size must be between 1KiB and 1MiB");
    ReadSize(n, "min_body_rate", s.min_body_rate, "server");
    ReadDuration(n, "drain_timeout", s.drain_timeout_ms, "server");
    ReadInt(n, "max_keep_alive_requests", s.max_keep_alive_requests, 1, 1000000, "server");
    ReadString(n, "access_log", s.access_log, "server");
    ReadString(n, "log_level", s.log_level, "server");
    if (n["log_level"] && s.log_level != "debug" && s.log_level != "info" &&
        s.log_level != "warn" && s.log_level != "error")
      Problem(n["log_level"], "server.log_level must be debug, info, warn or error");
    if (n["tls"]) ParseTls(n["tls"], "server.tls", s.tls);
  }

  void ParseTls(const YAML::Node& n, const std::string& where, TlsListenerConfig& t) {
    if (!ExpectMap(n, where)) return;
    CheckKeys(n, where, {"cert_file", "key_file", "client_ca_file"});
    ReadString(n, "cert_file", t.cert_file, where);
    ReadString(n, "key_file", t.key_file, where);
    ReadString(n, "client_ca_file", t.client_ca_file, where);
    if (t.cert_file.empty() || t.key_file.empty()) {
      Problem(n, where + " needs both cert_file and key_file");
      return;
    }
    for (const auto& [key, file] : {std::pair<const char*, const std::string*>{"cert_file", &t.cert_file},
                                    {"key_file", &t.key_file},
                                    {"client_ca_file", &t.client_ca_file}})
      if (!file->empty() && !std::ifstream(*file))
        Problem(n[key], where + "." + key + " '" + *file + "' cannot be read");
  }

  void ParseUpstream(const YAML::Node& n, UpstreamConfig& u) {
    if (!ExpectMap(n, "upstream")) return;
    CheckKeys(n, "upstream",
              {"connect_timeout", "first_byte_timeout", "idle_timeout", "stream_timeout",
               "max_idle_connections_per_host", "ca_file", "proxy", "no_proxy"});
    ReadDuration(n, "connect_timeout", u.connect_timeout_ms, "upstream");
    ReadDuration(n, "first_byte_timeout", u.first_byte_timeout_ms, "upstream");
    ReadDuration(n, "idle_timeout", u.idle_timeout_ms, "upstream");
    ReadDuration(n, "stream_timeout", u.stream_timeout_ms, "upstream");
    if (const YAML::Node proxy = n["proxy"])
      if (auto v = String(proxy, "upstream.proxy")) ParseProxy(proxy, *v, u);
    if (const YAML::Node np = n["no_proxy"])
      if (auto list = StringList(np, "upstream.no_proxy")) u.no_proxy = *list;
    ReadInt(n, "max_idle_connections_per_host", u.max_idle_connections_per_host, 0, 10000,
            "upstream");
    ReadString(n, "ca_file", u.ca_file, "upstream");
    if (!u.ca_file.empty() && !std::ifstream(u.ca_file))
      Problem(n["ca_file"], "upstream.ca_file '" + u.ca_file + "' cannot be read");
  }

  // "http://host:port" (an empty string = no proxy). The proxy sees host names (CONNECT) but
  // never a provider credential or a prompt inside the TLS tunnel; credentials in the URL are
  // refused so that they cannot end up in a log.
  void ParseProxy(const YAML::Node& at, const std::string& url, UpstreamConfig& u) {
    if (url.empty()) return;
    ProviderConfig parsed;
    parsed.base_url = url;
    if (!ParseBaseUrl(at, parsed, "upstream.proxy")) return;
    if (parsed.scheme != "http") {
      Problem(at, "upstream.proxy must be an http:// proxy URL (https upstreams are tunnelled with CONNECT)");
      return;
    }
    u.proxy_host = parsed.host;
    u.proxy_port = parsed.port;
  }

  // Proxy settings from the environment when the file names none, as curl reads them.
  void ProxyFromEnvironment(const YAML::Node& root, UpstreamConfig& u) {
    const YAML::Node upstream = root["upstream"];
    if (!u.proxy_host.empty() || (upstream && upstream.IsMap() && upstream["proxy"])) return;
    for (const char* name : {"HTTPS_PROXY", "https_proxy", "HTTP_PROXY", "http_proxy"}) {
      auto v = env_ ? env_(name) : std::nullopt;
      if (!v || v->empty()) continue;
      std::string url = v->find("://") == std::string::npos ? "http://" + *v : *v;
      ParseProxy(root, url, u);
      break;
    }
    if (!u.no_proxy.empty()) return;
    for (const char* name : {"NO_PROXY", "no_proxy"}) {
      auto v = env_ ? env_(name) : std::nullopt;
      if (!v || v->empty()) continue;
      std::string item;
      for (char ch : *v + ",") {
        if (ch == ',' || ch == ' ') {
          if (!item.empty()) u.no_proxy.push_back(item);
          item.clear();
        } else {
          item.push_back(ch);
        }
      }
      break;
    }
  }

  void ParseRouting(const YAML::Node& n, RoutingConfig& r) {
    if (!ExpectMap(n, "routing")) return;
    CheckKeys(n, "routing", {"retries_per_deployment", "max_attempts", "max_time", "backoff_initial",
                             "backoff_max", "retry_after_max", "circuit_breaker", "ttfb_probe_interval"});
    ReadInt(n, "retries_per_deployment", r.retries_per_deployment, 0, 10, "routing");
    ReadInt(n, "max_attempts", r.max_attempts, 1, 50, "routing");
    ReadDuration(n, "max_time", r.max_time_ms, "routing");
    ReadDuration(n, "backoff_initial", r.backoff_initial_ms, "routing");
    ReadDuration(n, "backoff_max", r.backoff_max_ms, "routing");
    ReadDuration(n, "retry_after_max", r.retry_after_max_ms, "routing");
    ReadDuration(n, "ttfb_probe_interval", r.ttfb_probe_interval_ms, "routing");
    if (const YAML::Node b = n["circuit_breaker"]) {
      if (ExpectMap(b, "routing.circuit_breaker")) {
        CheckKeys(b, "routing.circuit_breaker", {"failures", "cooldown"});
        ReadInt(b, "failures", r.breaker_failures, 0, 1000, "routing.circuit_breaker");
        ReadDuration(b, "cooldown", r.breaker_cooldown_ms, "routing.circuit_breaker");
      }
    }
    if (r.backoff_max_ms < r.backoff_initial_ms)
      Problem(n, "routing.backoff_max must not be below routing.backoff_initial");
  }

  // An http(s) URL into scheme, host, port and path; `what` names it in problems
  // ("provider 'x'.base_url").
  struct UrlParts {
    std::string scheme, host;
    uint16_t port = 0;
    std::string path;
  };
  bool ParseHttpUrl(const YAML::Node& at, const std::string& url, const std::string& what, UrlParts& out) {
    size_t scheme_end = url.find("://");
    if (scheme_end == std::string::npos) {
      Problem(at, what + " must start with http:// or https://");
      return false;
    }
    out.scheme = url.substr(0, scheme_end);
    for (auto& ch : out.scheme) ch = static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
    if (out.scheme != "http" && out.scheme != "https") {
      Problem(at, what + " must start with http:// or https://");
      return false;
    }
    std::string rest = url.substr(scheme_end + 3);
    size_t slash = rest.find_first_of("/?");
    std::string authority = rest.substr(0, slash);
    out.path = slash == std::string::npos ? "" : rest.substr(slash);
    if (authority.find('@') != std::string::npos) {
      Problem(at, what + " must not carry credentials in it");
      return false;
    }
    long port = out.scheme == "https" ? 443 : 80;
    std::string host = authority;
    size_t colon = authority.rfind(':');
    if (colon != std::string::npos && authority.find(']', colon) == std::string::npos) {
      char* end = nullptr;
      port = std::strtol(authority.c_str() + colon + 1, &end, 10);
      if (*end != '\0' || port < 1 || port > 65535) {
        Problem(at, what + " has an invalid port");
        return false;
      }
      host = authority.substr(0, colon);
    }
    if (host.size() > 2 && host.front() == '[' && host.back() == ']')
      host = host.substr(1, host.size() - 2);
    if (host.empty()) {
      Problem(at, what + " has no host");
      return false;
    }
    out.host = host;
    out.port = static_cast<uint16_t>(port);
    return true;
  }

  bool ParseBaseUrl(const YAML::Node& at, ProviderConfig& p, const std::string& where) {
    UrlParts u;
    if (!ParseHttpUrl(at, p.base_url, where + ".base_url", u)) return false;
    if (u.path.find('?') != std::string::npos) {
      Problem(at, where + ".base_url must not have a query");
      return false;
    }
    p.scheme = u.scheme;
    p.host = u.host;
    p.port = u.port;
    p.base_path = u.path;
    while (!p.base_path.empty() && p.base_path.back() == '/') p.base_path.pop_back();
    return true;
  }

  // Static request headers (`headers: {Name: value}`), e.g. a provider's organisation id.
  void ReadHeaders(const YAML::Node& hn, const std::string& where, std::vector<ConfigHeader>& out) {
    if (!ExpectMap(hn, where)) return;
    for (const auto& kv : hn) {
      std::string name = kv.first.Scalar();
      auto value = String(kv.second, where + "." + name);
      if (!value) continue;
      bool token = !name.empty();
      for (char ch : name) token = token && (std::isalnum(static_cast<unsigned char>(ch)) || ch == '-' || ch == '_');
      if (!token || value->find_first_of("\r\n") != std::string::npos)
        Problem(kv.first, where + "." + name + " is not a valid header");
      else
        out.push_back({name, *value});
    }
  }

  void ParseAlerts(const YAML::Node& n, AlertsConfig& a) {
    if (!ExpectMap(n, "alerts")) return;
    CheckKeys(n, "alerts", {"webhook"});
    const YAML::Node w = n["webhook"];
    if (!w || !ExpectMap(w, "alerts.webhook")) return;
    CheckKeys(w, "alerts.webhook", {"url", "headers", "attempts", "backoff", "secret", "secret_file"});
    WebhookConfig& h = a.webhook;
    ReadString(w, "url", h.url, "alerts.webhook");
    UrlParts u;
    if (h.url.empty()) Problem(w, "alerts.webhook.url is required");
    else if (ParseHttpUrl(w["url"], h.url, "alerts.webhook.url", u))
      h.scheme = u.scheme, h.host = u.host, h.port = u.port, h.path = u.path.empty() ? "/" : u.path;
    if (const YAML::Node hn = w["headers"]) ReadHeaders(hn, "alerts.webhook.headers", h.headers);
    ReadSecret(w, "secret", "secret_file", "alerts.webhook", h.secret);
    ReadInt(w, "attempts", h.attempts, 1, 20, "alerts.webhook");
    ReadDuration(w, "backoff", h.backoff_ms, "alerts.webhook");
  }

  // redis://host[:port][/db] or rediss://…; a password in the URL is refused (it would travel
  // into logs and process listings): it goes in password / password_file.
  void ParseRedisUrl(const YAML::Node& at, RedisConfig& r) {
    const std::string& url = r.url;
    const size_t scheme_end = url.find("://");
    const std::string scheme = scheme_end == std::string::npos ? "" : url.substr(0, scheme_end);
    if (scheme != "redis" && scheme != "rediss") {
      Problem(at, "cluster.redis.url must start with redis:// or rediss://");
      return;
    }
    r.tls = scheme == "rediss";
    std::string rest = url.substr(scheme_end + 3);
    const size_t slash = rest.find('/');
    std::string authority = rest.substr(0, slash);
    if (authority.find('@') != std::string::npos) {
      Problem(at, "cluster.redis.url must not carry credentials: use cluster.redis.username and password_file");
      return;
    }
    if (slash != std::string::npos && slash + 1 < rest.size()) {
      const std::string db = rest.substr(slash + 1);
      char* end = nullptr;
      const long n = std::strtol(db.c_str(), &end, 10);
      if (db.empty() || *end != '\0' || n < 0 || n > 15) {
        Problem(at, "cluster.redis.url's database must be a number from 0 to 15");
        return;
      }
      r.db = static_cast<int>(n);
    }
    long port = 6379;
    std::string host = authority;
    const size_t colon = authority.rfind(':');
    if (colon != std::string::npos && authority.find(']', colon) == std::string::npos) {
      char* end = nullptr;
      port = std::strtol(authority.c_str() + colon + 1, &end, 10);
      if (*end != '\0' || port < 1 || port > 65535) {
        Problem(at, "cluster.redis.url has an invalid port");
        return;
      }
      host = authority.substr(0, colon);
    }
    if (host.size() > 2 && host.front() == '[' && host.back() == ']') host = host.substr(1, host.size() - 2);
    if (host.empty()) {
      Problem(at, "cluster.redis.url has no host");
      return;
    }
    r.host = host;
    r.port = static_cast<uint16_t>(port);
  }

  void ParseCluster(const YAML::Node& n, ClusterConfig& c) {
    if (!ExpectMap(n, "cluster")) return;
    CheckKeys(n, "cluster", {"redis", "replica", "key_cache_ttl", "key_cache_grace"});
    ReadString(n, "replica", c.replica, "cluster");
    if (c.replica.size() > 64) Problem(n["replica"], "cluster.replica must have at most 64 characters");
    for (char ch : c.replica)
      if (!std::isalnum(static_cast<unsigned char>(ch)) && ch != '-' && ch != '_' && ch != '.') {
        Problem(n["replica"], "cluster.replica may hold only letters, digits, '-', '_' and '.'");
        break;
      }
    ReadDuration(n, "key_cache_ttl", c.key_cache_ttl_ms, "cluster");
    ReadDuration(n, "key_cache_grace", c.key_cache_grace_ms, "cluster");
    const YAML::Node r = n["redis"];
    if (!r) {
      Problem(n, "cluster.redis is required (cluster.redis.url)");
      return;
    }
    if (!ExpectMap(r, "cluster.redis")) return;
    CheckKeys(r, "cluster.redis", {"url", "username", "password", "password_file", "key_prefix", "ca_file",
                                   "connect_timeout", "command_timeout"});
    RedisConfig& redis = c.redis;
    ReadString(r, "url", redis.url, "cluster.redis");
    // An empty URL (e.g. `url: ${WARDEN_REDIS_URL:-}` with the variable unset) is a single node:
    // one config file serves both shapes.
    if (redis.url.empty()) return;
    ParseRedisUrl(r["url"], redis);
    ReadString(r, "username", redis.username, "cluster.redis");
    ReadSecret(r, "password", "password_file", "cluster.redis", redis.password);
    ReadString(r, "key_prefix", redis.key_prefix, "cluster.redis");
    if (redis.key_prefix.empty() || redis.key_prefix.size() > 64 ||
        redis.key_prefix.find_first_of(" \r\n\t") != std::string::npos)
      Problem(r, "cluster.redis.key_prefix must be 1 to 64 characters without spaces");
    ReadString(r, "ca_file", redis.ca_file, "cluster.redis");
    if (!redis.ca_file.empty() && !redis.tls)
      Problem(r["ca_file"], "cluster.redis.ca_file needs a rediss:// URL");
    ReadDuration(r, "connect_timeout", redis.connect_timeout_ms, "cluster.redis");
    ReadDuration(r, "command_timeout", redis.command_timeout_ms, "cluster.redis");
    if (redis.command_timeout_ms < 10) Problem(r["command_timeout"], "cluster.redis.command_timeout must be at least 10ms");
  }

  // A credential from `<key>: ${ENV}` (a literal value is accepted with a warning) or from the
  // file named by `<file_key>` (trailing whitespace trimmed). Messages never quote the value.
  void ReadSecret(const YAML::Node& map, const char* key, const char* file_key,
                  const std::string& where, Secret& out) {
    if (map[key] && map[file_key])
      Problem(map[file_key], where + ": give " + key + " or " + file_key + ", not both");
    if (const YAML::Node k = map[key]) {
      if (k.IsScalar() && k.Scalar().find("${") == std::string::npos && !k.Scalar().empty())
        Problem(k, where + "." + key + " is written in the file; prefer ${ENV_VAR} or " + file_key,
                ConfigProblem::Severity::kWarning);
      if (auto v = String(k, where + "." + key)) out = Secret(std::move(*v));
    }
    if (const YAML::Node f = map[file_key]) {
      if (auto path = String(f, where + "." + file_key)) {
        std::ifstream in(*path);
        if (!in) {
          Problem(f, where + "." + file_key + " '" + *path + "' cannot be read");
        } else {
          std::string value((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
          while (!value.empty() && std::isspace(static_cast<unsigned char>(value.back())))
            value.pop_back();
          out = Secret(std::move(value));
          WipeString(value);
        }
      }
    }
  }

  void ParseAdmin(const YAML::Node& n, AdminConfig& a) {
    if (!ExpectMap(n, "admin")) return;
    CheckKeys(n, "admin", {"listen", "token", "token_file", "tls"});
    ReadListen(n, "listen", a.host, a.port, "admin");
    ReadSecret(n, "token", "token_file", "admin", a.token);
    if (a.enabled() && a.token.Reveal().size() < 16)
      Problem(n, "admin token must have at least 16 characters");
    if (n["tls"]) ParseTls(n["tls"], "admin.tls", a.tls);
  }

  void ParseAudit(const YAML::Node& n, AuditConfig& a) {
    if (!ExpectMap(n, "audit")) return;
    CheckKeys(n, "audit", {"enabled", "dir", "master_key_file", "signing_key_file", "checkpoint_file",
                           "checkpoint_every_records", "checkpoint_every"});
    ReadBool(n, "enabled", a.enabled, "audit");
    ReadString(n, "dir", a.dir, "audit");
    ReadString(n, "master_key_file", a.master_key_file, "audit");
    ReadString(n, "signing_key_file", a.signing_key_file, "audit");
    ReadString(n, "checkpoint_file", a.checkpoint_file, "audit");
    ReadInt(n, "checkpoint_every_records", a.checkpoint_every_records, 1, 100000000, "audit");
    ReadDuration(n, "checkpoint_every", a.checkpoint_every_ms, "audit");
    if (a.checkpoint_every_ms < 100) Problem(n["checkpoint_every"], "audit.checkpoint_every must be at least 100ms");
  }

  void ParseProviders(const YAML::Node& n, std::vector<ProviderConfig>& out) {
    if (!n.IsSequence()) {
      Problem(n, "providers must be a list");
      return;
    }
    std::set<std::string> names;
    for (size_t i = 0; i < n.size(); ++i) {
      const YAML::Node pn = n[i];
      std::string where = "providers[" + std::to_string(i) + "]";
      if (!ExpectMap(pn, where)) continue;
      CheckKeys(pn, where,
                {"name", "kind", "base_url", "api_key", "api_key_file", "region",
                 "zero_retention", "store_field", "price", "api_version", "default_max_tokens",
                 "stream_usage", "headers"});
      ProviderConfig p;
      ReadString(pn, "name", p.name, where);
      if (p.name.empty()) {
        Problem(pn, where + " needs a name");
      } else {
        where = "provider '" + p.name + "'";
        if (!names.insert(p.name).second) Problem(pn["name"], where + " is defined twice");
      }
      std::string kind;
      ReadString(pn, "kind", kind, where);
      bool known_kind = false;
      for (ProviderKind k : {ProviderKind::kOpenAI, ProviderKind::kAzure, ProviderKind::kAnthropic,
                             ProviderKind::kGemini, ProviderKind::kEcho}) {
        if (kind == ProviderKindName(k)) {
          p.kind = k;
          known_kind = true;
        }
      }
      if (!known_kind)
        Problem(pn["kind"] ? pn["kind"] : pn,
                where + ".kind must be one of: openai, azure, anthropic, gemini, echo");

      // The public endpoints of the hosted kinds are the defaults; on-prem gateways and
      // compatible servers set base_url.
      if (p.kind == ProviderKind::kAnthropic) p.base_url = "https://api.anthropic.com/v1";
      if (p.kind == ProviderKind::kGemini) p.base_url = "https://generativelanguage.googleapis.com/v1beta";
      ReadString(pn, "base_url", p.base_url, where);
      if (p.kind != ProviderKind::kEcho) {
        if (p.base_url.empty()) Problem(pn, where + " (kind " + kind + ") needs a base_url");
        else ParseBaseUrl(pn["base_url"] ? pn["base_url"] : pn, p, where);
      }
      if (p.kind == ProviderKind::kAzure) p.api_version = "2024-10-21";
      if (p.kind == ProviderKind::kAnthropic) p.api_version = "2023-06-01";
      ReadString(pn, "api_version", p.api_version, where);
      ReadInt(pn, "default_max_tokens", p.default_max_tokens, 1, 10000000, where);
      ReadBool(pn, "stream_usage", p.stream_usage, where);
      if (const YAML::Node hn = pn["headers"]) ReadHeaders(hn, where + ".headers", p.headers);
      ReadSecret(pn, "api_key", "api_key_file", where, p.api_key);
      ReadString(pn, "region", p.region, where);
      ReadBool(pn, "zero_retention", p.zero_retention, where);
      p.store_field = p.host == "api.openai.com";
      ReadBool(pn, "store_field", p.store_field, where);
      if (const YAML::Node price = pn["price"]) ParsePrice(price, where + ".price", p.price);
      out.push_back(std::move(p));
    }
  }

  void ParsePrice(const YAML::Node& n, const std::string& where, Price& price) {
    if (!ExpectMap(n, where)) return;
    CheckKeys(n, where, {"input_per_million", "output_per_million", "cached_input_per_million"});
    // Dollars per million tokens to six decimals = pico-dollars per token; at most $1M.
    ReadUsd(n, "input_per_million", price.input, 6, where);
    ReadUsd(n, "output_per_million", price.output, 6, where);
    ReadUsd(n, "cached_input_per_million", price.cached_input, 6, where);
    price.configured = true;
  }

  void ParseModels(const YAML::Node& n, const std::vector<ProviderConfig>& providers,
                   std::vector<ModelAlias>& out) {
    if (!n.IsSequence()) {
      Problem(n, "models must be a list");
      return;
    }
    std::set<std::string> aliases;
    std::map<std::string, YAML::Node> rules_at;  // alias → its `rules:` (where problems point)
    for (size_t i = 0; i < n.size(); ++i) {
      const YAML::Node mn = n[i];
      std::string where = "models[" + std::to_string(i) + "]";
      if (!ExpectMap(mn, where)) continue;
      CheckKeys(mn, where, {"alias", "deployments", "strategy", "rules"});
      ModelAlias m;
      ReadString(mn, "alias", m.alias, where);
      ReadChoice(mn, "strategy", m.strategy, where + ".strategy",
                 {{"priority", RoutingStrategy::kPriority}, {"weighted", RoutingStrategy::kWeighted},
                  {"lowest_latency", RoutingStrategy::kLowestLatency},
                  {"lowest_cost", RoutingStrategy::kLowestCost}});
      if (m.alias.empty()) {
        Problem(mn, where + " needs an alias");
      } else {
        where = "model '" + m.alias + "'";
        if (!aliases.insert(m.alias).second) Problem(mn["alias"], where + " is defined twice");
      }
      const YAML::Node dn = mn["deployments"];
      if (!dn || !dn.IsSequence() || dn.size() == 0) {
        Problem(dn ? dn : mn, where + " needs a non-empty list of deployments");
        out.push_back(std::move(m));
        continue;
      }
      for (size_t j = 0; j < dn.size(); ++j) {
        const YAML::Node d = dn[j];
        std::string dwhere = where + ".deployments[" + std::to_string(j) + "]";
        if (!ExpectMap(d, dwhere)) continue;
        CheckKeys(d, dwhere, {"provider", "model", "weight", "price", "max_ttfb"});
        Deployment dep;
        ReadString(d, "provider", dep.provider, dwhere);
        ReadString(d, "model", dep.model, dwhere);
        ReadInt(d, "weight", dep.weight, 0, 1000000, dwhere);
        ReadDuration(d, "max_ttfb", dep.max_ttfb_ms, dwhere);
        if (const YAML::Node price = d["price"]) ParsePrice(price, dwhere + ".price", dep.price);
        if (dep.model.empty()) dep.model = m.alias;
        bool known = false;
        for (const auto& p : providers) known = known || p.name == dep.provider;
        if (!known)
          Problem(d["provider"] ? d["provider"] : d,
                  dwhere + ".provider '" + dep.provider + "' is not a defined provider");
        m.deployments.push_back(std::move(dep));
      }
      if (const YAML::Node rn = mn["rules"]) {
        ParseRules(rn, where, m.rules);
        rules_at[m.alias] = rn;
      }
      out.push_back(std::move(m));
    }
    // A rule's target is another alias without rules of its own (one hop: no loops).
    for (size_t i = 0; i < out.size(); ++i) {
      for (const RouteRule& r : out[i].rules) {
        const YAML::Node at = rules_at[out[i].alias];
        const auto target = std::find_if(out.begin(), out.end(), [&](const ModelAlias& a) { return a.alias == r.use; });
        if (target == out.end())
          Problem(at, "model '" + out[i].alias + "' rule '" + r.name + "' uses '" + r.use + "', which is not a model alias");
        else if (target->alias == out[i].alias || !target->rules.empty())
          Problem(at, "model '" + out[i].alias + "' rule '" + r.name + "' must use an alias without rules of its own");
      }
    }
  }

  void ParseRules(const YAML::Node& rn, const std::string& where, std::vector<RouteRule>& out) {
    if (!rn.IsSequence()) {
      Problem(rn, where + ".rules must be a list");
      return;
    }
    std::set<std::string> names;
    for (size_t k = 0; k < rn.size(); ++k) {
      const YAML::Node r = rn[k];
      std::string rwhere = where + ".rules[" + std::to_string(k) + "]";
      if (!ExpectMap(r, rwhere)) continue;
      CheckKeys(r, rwhere, {"name", "use", "when"});
      RouteRule rule;
      ReadString(r, "name", rule.name, rwhere);
      ReadString(r, "use", rule.use, rwhere);
      if (!ValidTagName(rule.name)) Problem(r, rwhere + ".name must be 1 to 32 letters, digits, '_' or '-'");
      else if (!names.insert(rule.name).second) Problem(r, rwhere + ": rule '" + rule.name + "' is defined twice");
      if (rule.use.empty()) Problem(r, rwhere + ".use must name a model alias");
      const YAML::Node w = r["when"];
      if (!w || !ExpectMap(w, rwhere + ".when") || w.size() == 0) {
        Problem(w ? w : r, rwhere + ".when needs at least one condition");
        continue;
      }
      const std::string wwhere = rwhere + ".when";
      CheckKeys(w, wwhere, {"min_prompt_tokens", "max_prompt_tokens", "min_max_tokens", "max_max_tokens", "tools",
                            "images", "tag"});
      ReadInt(w, "min_prompt_tokens", rule.min_prompt_tokens, 0, 100000000, wwhere);
      ReadInt(w, "max_prompt_tokens", rule.max_prompt_tokens, 0, 100000000, wwhere);
      ReadInt(w, "min_max_tokens", rule.min_max_tokens, 0, 100000000, wwhere);
      ReadInt(w, "max_max_tokens", rule.max_max_tokens, 0, 100000000, wwhere);
      for (auto [key, field] : {std::pair{"tools", &rule.tools}, std::pair{"images", &rule.images}}) {
        if (!w[key]) continue;
        bool b = false;
        ReadBool(w, key, b, wwhere);
        *field = b ? 1 : 0;
      }
      std::string tag;
      ReadString(w, "tag", tag, wwhere);
      if (!tag.empty()) {
        const size_t eq = tag.find('=');
        rule.tag_name = tag.substr(0, eq);
        rule.tag_value = eq == std::string::npos ? "" : tag.substr(eq + 1);
        if (eq == std::string::npos || !ValidTagName(rule.tag_name) || rule.tag_value.empty())
          Problem(w["tag"], wwhere + ".tag must be name=value");
      }
      out.push_back(std::move(rule));
    }
  }

  void ParseRoot(const YAML::Node& root, Config& c) {
    if (!root.IsMap()) {
      Problem(root, "the configuration must be a mapping at the top level");
      return;
    }
    CheckKeys(root, "the top level",
              {"server", "upstream", "routing", "admin", "audit", "data_dir", "key_hash_key_file", "policies_dir",
               "providers", "models", "alerts", "cluster"});
    if (root["server"]) ParseServer(root["server"], c.server);
    if (root["cluster"]) ParseCluster(root["cluster"], c.cluster);
    if (root["alerts"]) ParseAlerts(root["alerts"], c.alerts);
    if (root["upstream"]) ParseUpstream(root["upstream"], c.upstream);
    ProxyFromEnvironment(root, c.upstream);
    if (root["routing"]) ParseRouting(root["routing"], c.routing);
    if (root["admin"]) ParseAdmin(root["admin"], c.admin);
    if (root["audit"]) ParseAudit(root["audit"], c.audit);
    ReadString(root, "data_dir", c.data_dir, "config");
    ReadString(root, "key_hash_key_file", c.key_hash_key_file, "config");
    ReadString(root, "policies_dir", c.policies_dir, "config");
    if (c.data_dir.empty()) Problem(root, "data_dir must not be empty");
    if (c.key_hash_key_file.empty()) c.key_hash_key_file = c.data_dir + "/key-hash.key";
    if (c.audit.dir.empty()) c.audit.dir = c.data_dir + "/audit";
    if (c.audit.master_key_file.empty()) c.audit.master_key_file = c.data_dir + "/audit-master.key";
    if (c.audit.signing_key_file.empty()) c.audit.signing_key_file = c.data_dir + "/audit-signing.key";
    if (c.audit.checkpoint_file.empty()) c.audit.checkpoint_file = c.data_dir + "/audit-checkpoints.jsonl";
    if (root["providers"]) ParseProviders(root["providers"], c.providers);
    else Problem(root, "at least one provider is required under 'providers'");
    if (root["models"]) ParseModels(root["models"], c.providers, c.models);
    else Problem(root, "at least one model alias is required under 'models'");
  }

};

}  // namespace

LoadResult LoadConfigFromString(const std::string& yaml_text, const std::string& display_name,
                                const EnvLookup& env) {
  Parser parser(display_name, env);
  LoadResult result;
  auto root = parser.Parse(yaml_text);
  if (!root) {
    result.problems = parser.SortedProblems();
    return result;
  }
  auto config = std::make_shared<Config>();
  config->path = display_name;
  parser.ParseRoot(*root, *config);
  result.problems = parser.SortedProblems();
  bool errors = false;
  for (const auto& p : result.problems) errors = errors || p.severity == ConfigProblem::Severity::kError;
  if (!errors) result.config = std::move(config);
  return result;
}

LoadResult LoadConfig(const std::string& path, const EnvLookup& env) {
  std::ifstream in(path);
  if (!in) {
    LoadResult r;
    r.problems.push_back({path, 0, 0, "cannot read the configuration file", ConfigProblem::Severity::kError});
    return r;
  }
  std::stringstream buf;
  buf << in.rdbuf();
  return LoadConfigFromString(buf.str(), path, env);
}

}  // namespace warden
