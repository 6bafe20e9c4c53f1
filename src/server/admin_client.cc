#include "server/admin_client.h"

#include <asio/co_spawn.hpp>
#include <asio/detached.hpp>
#include <asio/io_context.hpp>

#include "admin/admin_api.h"
#include "common/json.h"
#include "common/util.h"
#include "providers/http_upstream.h"

namespace warden {
namespace {

constexpr size_t kMaxAnswer = 16 * 1024 * 1024;

class Client : public KeyAdmin {
 public:
  explicit Client(const Config& c) : admin_(c.admin) {}

  Result<KeyCreated> Create(const std::string& name, const std::string& policy, const KeyOptions& options) override {
    Json body = {{"name", name}, {"policy", policy}, {"env", KeyEnvName(options.env)}};
    if (options.expires_at) body["expires_in_seconds"] = std::max<int64_t>(1, options.expires_at - UnixSeconds());
    return Created(Call("POST", "/admin/keys", body));
  }

  Result<std::vector<KeyRecord>> List() const override {
    auto answer = Call("GET", "/admin/keys", nullptr);
    if (!answer) return answer.error();
    std::vector<KeyRecord> out;
    if (answer->contains("data") && (*answer)["data"].is_array())
      for (const Json& k : (*answer)["data"]) out.push_back(KeyFromJson(k));
    return out;
  }

  Result<KeyRecord> Revoke(const std::string& id_or_name) override {
    auto id = Resolve(id_or_name);
    if (!id) return id.error();
    auto answer = Call("POST", "/admin/keys/" + *id + "/revoke", Json::object());
    if (!answer) return answer.error();
    return KeyFromJson(*answer);
  }

  Result<KeyCreated> Rotate(const std::string& id_or_name, int64_t grace_seconds) override {
    auto id = Resolve(id_or_name);
    if (!id) return id.error();
    return Created(Call("POST", "/admin/keys/" + *id + "/rotate", {{"grace_seconds", grace_seconds}}));
  }

 private:
  static Result<KeyCreated> Created(Result<Json> answer) {
    if (!answer) return answer.error();
    if (!answer->contains("key") || !(*answer)["key"].is_string() || !answer->contains("record"))
      return Error::Internal("the admin API answered without the key");
    KeyCreated created;
    created.record = KeyFromJson((*answer)["record"]);
    std::string key = (*answer)["key"].get<std::string>();
    created.key = Secret(key);
    WipeString(key);
    return created;
  }

  // An id as it is, else the one active key of that name (as KeyStore resolves it).
  Result<std::string> Resolve(const std::string& id_or_name) const {
    auto all = List();
    if (!all) return all.error();
    std::vector<std::string> named;
    const int64_t now = UnixSeconds();
    for (const KeyRecord& r : *all) {
      if (r.id == id_or_name) return r.id;
      if (r.name == id_or_name && r.active() && !r.expired(now)) named.push_back(r.id);
    }
    if (named.empty()) return Error::NotFound("no active key with that id or name", "key_not_found");
    if (named.size() > 1) return Error::BadRequest("several active keys have that name; use the id", "key", "ambiguous_key_name");
    return named[0];
  }

  Result<Json> Call(const std::string& method, const std::string& path, const Json& body) const {
    HttpUpstreamOptions o;
    o.connect_timeout_ms = 5000;
    o.first_byte_timeout_ms = 60000;  // a rotation or a key creation is quick; a slow disk is not
    if (admin_.tls.enabled()) o.ca_file = admin_.tls.cert_file;  // its own certificate vouches for it
    UpstreamRequest r;
    r.scheme = admin_.tls.enabled() ? "https" : "http";
    const bool wildcard = admin_.host.empty() || admin_.host == "0.0.0.0" || admin_.host == "::";
    r.host = wildcard ? "127.0.0.1" : admin_.host;
    r.port = admin_.port;
    r.method = method;
    r.path = path;
    r.headers = {{"Authorization", "Bearer " + std::string(admin_.token.Reveal())}};
    if (!body.is_null()) {
      r.headers.push_back({"Content-Type", "application/json"});
      r.body = Dump(body);
    }
    Result<Json> out = Error::Internal("the admin API call did not run");
    asio::io_context io(1);
    {
      HttpUpstream http(o);
      asio::co_spawn(
          io,
          [&]() -> asio::awaitable<void> {
            auto exchange = co_await http.Send(r);
            if (!exchange) {
              out = Error::ServiceUnavailable("the gateway's admin API at " + r.host + ":" + std::to_string(r.port) +
                                              " could not be reached: " + exchange.error().message);
              co_return;
            }
            const int status = (*exchange)->head().status;
            auto text = co_await (*exchange)->ReadAll(kMaxAnswer);
            if (!text) {
              out = text.error();
              co_return;
            }
            auto json = ParseJson(*text);
            if (status >= 400) {
              std::string message = json && json->contains("error") ? (*json)["error"].value("message", "") : "";
              out = Error::Internal("the admin API refused (HTTP " + std::to_string(status) + ")" +
                                    (message.empty() ? "" : ": " + message));
              co_return;
            }
            if (!json) out = Error::Internal("the admin API's answer is not JSON");
            else out = std::move(*json);
          },
          asio::detached);
      io.run();
    }
    WipeString(r.headers[0].value);
    return out;
  }

  AdminConfig admin_;
};

}  // namespace

Result<std::unique_ptr<KeyAdmin>> AdminKeys(const Config& config) {
  if (!config.admin.enabled())
    return Error::Forbidden("the admin API is off (no admin token in the config): stop the gateway to manage keys",
                            "admin_disabled");
  if (!config.admin.tls.client_ca_file.empty())
    return Error::Forbidden("the admin API requires a client certificate, which this command does not have: "
                            "call it yourself (POST /admin/keys) or stop the gateway",
                            "admin_client_certificate");
  return std::unique_ptr<KeyAdmin>(std::make_unique<Client>(config));
}

}  // namespace warden
