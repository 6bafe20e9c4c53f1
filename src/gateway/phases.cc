#include "gateway/phases.h"

#include <strings.h>

#include <algorithm>

namespace warden {

Result<KeyRecord> AuthenticatePhase(const KeyStore& keys, std::string_view authorization) {
  std::string_view token = authorization;
  while (!token.empty() && token.front() == ' ') token.remove_prefix(1);
  if (token.size() >= 7 && strncasecmp(token.data(), "Bearer ", 7) == 0) {
    token.remove_prefix(7);
  } else if (!token.empty()) {
    return Error::Unauthorized(
        "The Authorization header must be 'Bearer <key>'.", "invalid_authorization_header");
  }
  while (!token.empty() && token.front() == ' ') token.remove_prefix(1);
  while (!token.empty() && token.back() == ' ') token.remove_suffix(1);
  return keys.Authenticate(token);
}

namespace {

Status RequireModel(RequestContext& ctx) {
  const Json& b = ctx.body;
  if (!b.contains("model")) return Error::BadRequest("you must provide a model parameter", "model");
  if (!b["model"].is_string() || b["model"].get_ref<const std::string&>().empty())
    return Error::BadRequest("'model' must be a non-empty string", "model");
  ctx.model = b["model"].get<std::string>();
  return Status::Ok();
}

Status ParseChat(RequestContext& ctx) {
  const Json& b = ctx.body;
  if (Status s = RequireModel(ctx); !s) return s;
  if (!b.contains("messages") || !b["messages"].is_array() || b["messages"].empty())
    return Error::BadRequest("'messages' must be a non-empty array", "messages");
  size_t i = 0;
  for (const auto& m : b["messages"]) {
    std::string param = "messages[" + std::to_string(i++) + "]";
    if (!m.is_object()) return Error::BadRequest(param + " must be an object", param);
    if (!m.contains("role") || !m["role"].is_string())
      return Error::BadRequest(param + ".role must be a string", param + ".role");
    if (m.contains("content") && !(m["content"].is_string() || m["content"].is_array() ||
                                   m["content"].is_null()))
      return Error::BadRequest(param + ".content must be a string or an array of parts",
                               param + ".content");
  }
  if (b.contains("stream")) {
    if (!b["stream"].is_boolean() && !b["stream"].is_null())
      return Error::BadRequest("'stream' must be a boolean", "stream");
    ctx.stream = b["stream"].is_boolean() && b["stream"].get<bool>();
  }
  if (b.contains("stream_options") && !b["stream_options"].is_null() && !b["stream_options"].is_object())
    return Error::BadRequest("'stream_options' must be an object", "stream_options");
  return Status::Ok();
}

Status ParseEmbeddings(RequestContext& ctx) {
  const Json& b = ctx.body;
  if (Status s = RequireModel(ctx); !s) return s;
  if (!b.contains("input")) return Error::BadRequest("you must provide an input parameter", "input");
  const Json& in = b["input"];
  bool ok = in.is_string() || (in.is_array() && !in.empty());
  if (ok && in.is_array()) {
    // string[] | number[] (tokens) | number[][] (token arrays)
    for (const auto& x : in) {
      bool token_array = x.is_array() && !x.empty() &&
                         std::all_of(x.begin(), x.end(), [](const Json& t) { return t.is_number_integer(); });
      ok = ok && (x.is_string() || x.is_number_integer() || token_array);
    }
  }
  if (!ok)
    return Error::BadRequest("'input' must be a string, an array of strings, or token arrays",
                             "input");
  return Status::Ok();
}

}  // namespace

Status ParsePhase(RequestContext& ctx, std::string_view body) {
  auto parsed = ParseJson(body);
  if (!parsed)
    return Error::BadRequest(
        "We could not parse the JSON body of your request. The body must be valid JSON (UTF-8).",
        "", "invalid_json");
  if (!parsed->is_object())
    return Error::BadRequest("the request body must be a JSON object", "", "invalid_json");
  ctx.body = std::move(*parsed);
  switch (ctx.endpoint) {
    case Endpoint::kChatCompletions: return ParseChat(ctx);
    case Endpoint::kEmbeddings: return ParseEmbeddings(ctx);
    default: return Error::Internal("no parser for this endpoint");
  }
}

Status RoutePhase(const Config& config, RequestContext& ctx) {
  ctx.alias = config.FindModel(ctx.model);
  if (!ctx.alias || ctx.alias->deployments.empty())
    return Error::NotFound("The model '" + ctx.model + "' does not exist or you do not have access to it.",
                           "model_not_found", "model");
  // Failover over the whole chain is its own phase later; for now the first deployment serves.
  ctx.deployment = &ctx.alias->deployments.front();
  ctx.provider = config.FindProvider(ctx.deployment->provider);
  if (!ctx.provider) return Error::Internal("the route names an unknown provider");
  return Status::Ok();
}

}  // namespace warden
