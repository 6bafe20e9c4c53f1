// Test harness: a temporary directory, the real App (server + pipeline) started on port 0 from
// a YAML config, and a small HTTP client. Used by the integration and secrets tests.
#pragma once

#include <Poco/Net/HTTPClientSession.h>
#include <Poco/Net/HTTPResponse.h>

#include <map>
#include <memory>
#include <string>
#include <vector>

#include "common/json.h"
#include "server/app.h"

namespace warden::testing {

// A fresh directory under $TMPDIR, removed (with its contents) at the end.
class TempDir {
 public:
  TempDir();
  ~TempDir();
  const std::string& path() const { return path_; }
  std::string Write(const std::string& name, const std::string& content) const;  // returns the path

 private:
  std::string path_;
};

// The whole file (binary-safe); empty if it cannot be read.
std::string ReadFile(const std::string& path);

// Every regular file under `dir` (recursively) whose bytes contain `needle`: tests search the
// data directory and logs for planted secrets and canaries with it.
std::vector<std::string> FilesContaining(const std::string& dir, const std::string& needle);

struct HttpResult {
  int status = 0;
  std::map<std::string, std::string> headers;  // names lower-cased
  std::string body;
  Json json() const;
  std::string header(const std::string& lower_name) const;
};

using Headers = std::map<std::string, std::string>;

// One request on a fresh connection.
HttpResult Http(uint16_t port, const std::string& method, const std::string& path,
                const std::string& body = "", const Headers& headers = {});

// A streamed response read piece by piece.
class StreamingCall {
 public:
  StreamingCall(uint16_t port, const std::string& path, const std::string& body, const Headers& headers);
  int status() const { return status_; }
  // Reads until `needle` has been received (or the body ends); returns everything read so far.
  std::string ReadUntil(const std::string& needle);
  std::string ReadAll();

 private:
  Poco::Net::HTTPClientSession session_;
  Poco::Net::HTTPResponse response_;
  std::istream* body_ = nullptr;
  std::string received_;
  int status_ = 0;
};

// The real gateway on 127.0.0.1:0. `providers_and_models` is the YAML for `providers:` and
// `models:` (and any other top-level keys); server/upstream sections get test-friendly values
// merged from `server_extra` / `upstream_extra` (YAML lines indented by two spaces).
// `policies` maps policy names to their YAML (without the `name:` line); a permissive
// `default` policy is written unless given. key() is a key of the `default` policy.
class GatewayUnderTest {
 public:
  explicit GatewayUnderTest(const std::string& providers_and_models,
                            const std::string& server_extra = "",
                            const std::string& upstream_extra = "",
                            const std::map<std::string, std::string>& policies = {},
                            const AppOptions& options = {});
  ~GatewayUnderTest();

  uint16_t port() const { return app_->port(); }
  const std::string& key() const { return key_; }  // an active client key
  App& app() { return *app_; }
  const TempDir& dir() const { return dir_; }
  std::string log_path() const { return dir_.path() + "/warden.log"; }
  // Stops the server first (an access-log line is written after its response has gone out, so
  // only a stopped server has written every line), then returns the whole log.
  std::string ReadLog();

  // Stops the process (everything closed, as at exit) and starts a new one on the same config
  // and data directory; the new App's ports are new. Throws if it does not start.
  void Restart();
  // Stops and closes the process, freeing the data directory (for a tool); Restart() reopens.
  void Close();
  // A new key bound to `policy`; returns the full key.
  std::string CreateKey(const std::string& policy);
  Headers Auth(const std::string& content_type = "application/json") const;
  static Headers AuthWith(const std::string& key, const std::string& content_type = "application/json");
  HttpResult Post(const std::string& path, const Json& body) const;
  HttpResult PostAs(const std::string& key, const std::string& path, const Json& body) const;

 private:
  TempDir dir_;
  std::unique_ptr<App> app_;
  std::string key_;
};

// A TCP port on 127.0.0.1 that nothing listens on (bound, then released: for servers that need
// their port before they start — redis-server, an admin listener a CLI must find in the config).
uint16_t FreePort();

// The id part of a full client key (wdn_<env>_<id>_<secret>).
std::string KeyId(const std::string& key);

// Every record of the gateway's audit log, opened with its master key: {"type", "key_id",
// "meta_state", "meta", "content"} each, in sequence order.
std::vector<Json> AuditRecords(GatewayUnderTest& gw);

// YAML for one `openai` provider named `name` at `base_url` plus an alias with one deployment.
std::string OneProviderYaml(const std::string& base_url, const std::string& alias = "chat-alias",
                            const std::string& upstream_model = "fake-model-1",
                            const std::string& provider_extra = "");

}  // namespace warden::testing
