#include "gateway/gateway.h"

#include <strings.h>

#include "common/log.h"
#include "common/util.h"
#include "gateway/phases.h"

namespace warden {
namespace {

// A provider answer (not a stream) larger than this is refused with 502.
constexpr size_t kMaxUpstreamResponseBytes = 64u << 20;

constexpr std::string_view kModelsPrefix = "/v1/models/";

bool IEquals(std::string_view a, std::string_view b) {
  return a.size() == b.size() && strncasecmp(a.data(), b.data(), a.size()) == 0;
}

Error WrongMethod(ClientExchange& client, std::string_view allow) {
  client.SetHeader("Allow", std::string(allow));
  return Error::MethodNotAllowed("Method " + std::string(client.method()) + " is not allowed on " +
                                 std::string(client.path()) + "; use " + std::string(allow) + ".");
}

bool IsJsonContentType(std::string_view ct) {
  // "application/json" with optional parameters ("; charset=utf-8").
  size_t semi = ct.find(';');
  std::string_view type = ct.substr(0, semi);
  while (!type.empty() && type.back() == ' ') type.remove_suffix(1);
  return IEquals(type, "application/json");
}

Json ModelObject(const ModelAlias& alias) {
  return Json{{"id", alias.alias}, {"object", "model"}, {"created", 0}, {"owned_by", "warden"}};
}

void SendJson(RequestContext& ctx, ClientExchange& client, int status, const Json& body) {
  std::string text = Dump(body);
  ctx.status = status;
  ctx.bytes_out += text.size();
  client.Send(status, "application/json", text);
}

}  // namespace

Gateway::Gateway(std::shared_ptr<const Config> config, const KeyStore* keys, const Store* store,
                 UpstreamClient* http, UpstreamClient* echo)
    : config_(std::move(config)),
      keys_(keys),
      store_(store),
      forwarder_(http, echo, kMaxUpstreamResponseBytes) {}

void Gateway::Handle(ClientExchange& client) noexcept {
  RequestContext ctx;
  ctx.start_ns = MonotonicNanos();
  try {
    ctx.request_id = NewRequestId();
    ctx.client_address = client.client_address();
    client.SetHeader("x-request-id", ctx.request_id);
    Status status = Dispatch(ctx, client);
    if (!status) {
      const Error& e = status.error();
      ctx.outcome = e.source == ErrorSource::kClient ? Outcome::kRejected : Outcome::kFailed;
      // An unread request body would be parsed as the next request on a keep-alive connection.
      if (ctx.bytes_in == 0 && client.has_body()) client.CloseAfterResponse();
      SendError(ctx, client, e);
    }
  } catch (const std::exception&) {
    // A bug, not bad input: answer 500 if still possible; the log names no content.
    ctx.outcome = Outcome::kFailed;
    try {
      client.CloseAfterResponse();
      SendError(ctx, client, Error::Internal("The server had an error while processing your request."));
    } catch (...) {
    }
  }
  try {
    Finalize(ctx, client);
  } catch (...) {
  }
}

Status Gateway::Dispatch(RequestContext& ctx, ClientExchange& client) {
  const std::string_view path = client.path();
  const std::string_view method = client.method();
  const bool get = method == "GET" || method == "HEAD";

  if (path == "/healthz") {
    ctx.endpoint = Endpoint::kHealth;
    if (!get) return WrongMethod(client, "GET");
    SendJson(ctx, client, 200, Json{{"status", "ok"}});
    return Status::Ok();
  }
  if (path == "/readyz") {
    ctx.endpoint = Endpoint::kReady;
    if (!get) return WrongMethod(client, "GET");
    if (!store_->Healthy())
      return Error::ServiceUnavailable("the data store is not healthy", "store_unhealthy");
    SendJson(ctx, client, 200, Json{{"status", "ready"}});
    return Status::Ok();
  }
  if (path == "/v1/models" || path.starts_with(kModelsPrefix)) {
    ctx.endpoint = path == "/v1/models" ? Endpoint::kListModels : Endpoint::kGetModel;
    if (!get) return WrongMethod(client, "GET");
    if (Status s = Authenticate(ctx, client); !s) return s;
    return HandleModels(ctx, client,
                        ctx.endpoint == Endpoint::kGetModel ? path.substr(kModelsPrefix.size()) : "");
  }
  if (path == "/v1/chat/completions" || path == "/v1/embeddings") {
    ctx.endpoint = path == "/v1/embeddings" ? Endpoint::kEmbeddings : Endpoint::kChatCompletions;
    if (method != "POST") return WrongMethod(client, "POST");
    return HandleInference(ctx, client);
  }
  return Error::NotFound("Invalid URL (" + std::string(method) + " " + std::string(path) + ")",
                         "unknown_url");
}

Status Gateway::Authenticate(RequestContext& ctx, ClientExchange& client) {
  auto key = AuthenticatePhase(*keys_, client.header("Authorization"));
  if (!key) return key.error();
  ctx.key = std::move(*key);
  return Status::Ok();
}

Status Gateway::HandleModels(RequestContext& ctx, ClientExchange& client, std::string_view id) {
  if (ctx.endpoint == Endpoint::kGetModel) {
    const ModelAlias* alias = config_->FindModel(std::string(id));
    if (!alias)
      return Error::NotFound("The model '" + std::string(id) + "' does not exist", "model_not_found",
                             "model");
    SendJson(ctx, client, 200, ModelObject(*alias));
    return Status::Ok();
  }
  Json data = Json::array();
  for (const auto& alias : config_->models) data.push_back(ModelObject(alias));
  SendJson(ctx, client, 200, Json{{"object", "list"}, {"data", std::move(data)}});
  return Status::Ok();
}

Status Gateway::HandleInference(RequestContext& ctx, ClientExchange& client) {
  // Authenticate before reading a byte of the body: an anonymous client cannot make the
  // gateway buffer megabytes.
  if (Status s = Authenticate(ctx, client); !s) return s;
  if (!IsJsonContentType(client.header("Content-Type")))
    return Error::UnsupportedMediaType("Content-Type must be application/json.");
  auto body = client.ReadBody(config_->server.max_body_bytes);
  if (!body) return body.error();
  ctx.bytes_in = body->size();
  if (Status s = ParsePhase(ctx, *body); !s) return s;
  if (Status s = RoutePhase(*config_, ctx); !s) return s;
  return forwarder_.Forward(ctx, client);
}

void Gateway::Finalize(const RequestContext& ctx, ClientExchange& client) {
  if (ctx.endpoint == Endpoint::kHealth || ctx.endpoint == Endpoint::kReady) {
    if (ctx.status == 200) return;  // probes every few seconds would drown the access log
  }
  const int64_t now = MonotonicNanos();
  log::Fields f;
  f["request_id"] = ctx.request_id;
  f["method"] = std::string(client.method());
  f["path"] = std::string(client.path().substr(0, 128));
  f["client"] = ctx.client_address;
  f["key_id"] = ctx.key ? Json(ctx.key->id) : Json();
  if (!ctx.model.empty() && ctx.alias) f["model"] = ctx.model;  // only configured aliases
  if (ctx.deployment) f["deployment"] = ctx.provider->name + "/" + ctx.deployment->model;
  f["stream"] = ctx.stream;
  f["status"] = ctx.status;
  f["outcome"] = OutcomeName(ctx.outcome);
  if (!ctx.error_code.empty()) f["error"] = ctx.error_code;
  f["latency_ms"] = static_cast<double>(now - ctx.start_ns) / 1e6;
  if (!ctx.attempts.empty()) {
    f["upstream_status"] = ctx.attempts.back().status;
    f["upstream_ttfb_ms"] = static_cast<double>(ctx.upstream_first_byte_ns) / 1e6;
  }
  if (ctx.client_first_byte_ns > 0)
    f["first_byte_ms"] = static_cast<double>(ctx.client_first_byte_ns) / 1e6;
  f["bytes_in"] = ctx.bytes_in;
  f["bytes_out"] = ctx.bytes_out;
  log::Info("access", std::move(f));
}

}  // namespace warden
