#include "gateway/phases.h"
#include "providers/adapter.h"

#include <strings.h>

#include <algorithm>

namespace warden {

Result<std::string_view> BearerToken(std::string_view authorization) {
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
  return token;
}

Result<KeyRecord> AuthenticatePhase(const KeyStore& keys, std::string_view authorization) {
  auto token = BearerToken(authorization);
  if (!token) return token.error();
  return keys.Authenticate(*token);
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

// Every item of the array `items` (named `param` in errors) must be an object with a string
// `type`: content parts and tools alike — a provider refuses anything else with a 502.
Status RequireTypedItems(const Json& items, const std::string& param) {
  size_t j = 0;
  for (const auto& item : items) {
    const std::string at = param + "[" + std::to_string(j++) + "]";
    if (!item.is_object() || !item.contains("type") || !item["type"].is_string())
      return Error::BadRequest(at + " must be an object with a string 'type'", at + ".type");
  }
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
    if (m.contains("content") && m["content"].is_array())
      if (Status s = RequireTypedItems(m["content"], param + ".content"); !s) return s;
  }
  if (b.contains("tools") && !b["tools"].is_null()) {
    if (!b["tools"].is_array()) return Error::BadRequest("'tools' must be an array", "tools");
    if (Status s = RequireTypedItems(b["tools"], "tools"); !s) return s;
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
  JsonError why = JsonError::kNone;
  auto parsed = ParseJson(body, &why);
  if (!parsed && why == JsonError::kTooDeep)
    return Error::BadRequest("The JSON body of your request nests arrays and objects more than " +
                                 std::to_string(kMaxJsonDepth) + " levels deep.",
                             "", "json_too_deep");
  if (!parsed)
    return Error::BadRequest(
        "We could not parse the JSON body of your request. The body must be valid JSON (UTF-8).",
        "", "invalid_json");
  if (!parsed->is_object())
    return Error::BadRequest("the request body must be a JSON object", "", "invalid_json");
  ctx.body = std::move(*parsed);
  switch (ctx.endpoint) {
    case Endpoint::kChatCompletions: return ParseChat(ctx);
    case Endpoint::kMessages: {
      // Overrides are refused in the client's own body, before translation drops them.
      if (ctx.policy)
        if (Status s = CheckOverridesPhase(*ctx.policy, {}, &ctx.body); !s) return s;
      auto canonical = MessagesToCanonical(ctx.body);
      if (!canonical) return canonical.error();
      ctx.body = std::move(*canonical);
      return ParseChat(ctx);
    }
    case Endpoint::kEmbeddings: return ParseEmbeddings(ctx);
    default: return Error::Internal("no parser for this endpoint");
  }
}

Result<const Policy*> ResolvePolicyPhase(const PolicySet& policies, const KeyRecord& key) {
  const Policy* p = policies.Find(key.policy);
  if (!p) {
    Error e = Error::Forbidden("This key's policy '" + key.policy +
                                   "' is not loaded on this gateway; the request is refused.",
                               "policy_not_found");
    return e;
  }
  return p;
}

namespace {
// Body fields that ask a gateway to route, fall back, log or skip redaction. None of them is
// part of the OpenAI API; Warden never honours them and says so instead of silently forwarding.
constexpr std::string_view kOverrideFields[] = {
    "warden",     "provider",  "providers", "region",  "regions",         "deployment",
    "deployments", "fallbacks", "fallback",  "route",   "routing",         "redaction",
    "redact",     "no_redact", "logging",   "log",     "content_logging", "zero_retention",
    "audit",      "policy"};
}  // namespace

Status CheckOverridesPhase(const Policy& policy, const std::vector<std::string>& header_names,
                           const Json* body) {
  for (const auto& name : header_names) {
    if (name.rfind("x-warden-", 0) == 0)
      return Error::Forbidden("Header '" + name + "' is not accepted: a request cannot change what "
                              "its key's policy decides.", "override_not_allowed");
  }
  if (!body || !body->is_object()) return Status::Ok();
  for (std::string_view field : kOverrideFields) {
    if (body->contains(field))
      return Error::Forbidden("Field '" + std::string(field) + "' is not accepted: a request cannot "
                              "change what its key's policy decides.", "override_not_allowed",
                              std::string(field));
  }
  if (policy.zero_retention) {
    auto store = body->find("store");
    if (store != body->end() && store->is_boolean() && store->get<bool>())
      return Error::Forbidden("'store: true' is not allowed under the zero-retention policy '" +
                                  policy.name + "'.", "override_not_allowed", "store");
  }
  return Status::Ok();
}

Status RoutePhase(const Config& config, const Policy& policy, RequestContext& ctx) {
  ctx.alias = config.FindModel(ctx.model);
  if (!ctx.alias || ctx.alias->deployments.empty())
    return Error::NotFound("The model '" + ctx.model + "' does not exist or you do not have access to it.",
                           "model_not_found", "model");
  if (!policy.ModelAllowed(ctx.model))
    return Error::Forbidden("The model '" + ctx.model + "' is not allowed by this key's policy '" +
                                policy.name + "'.", "model_not_allowed", "model");
  ctx.route.clear();
  std::string excluded;
  for (const Deployment& d : ctx.alias->deployments) {
    const ProviderConfig* p = config.FindProvider(d.provider);
    if (!p) return Error::Internal("the route names an unknown provider");
    std::string why = policy.Excludes(*p);
    const Operation op = ctx.endpoint == Endpoint::kEmbeddings ? Operation::kEmbeddings : Operation::kChat;
    if (why.empty() && !AdapterFor(p->kind).Supports(op))
      why = std::string("provider kind ") + ProviderKindName(p->kind) + " does not serve this endpoint";
    if (why.empty()) {
      ctx.route.push_back({&d, p});
    } else if (excluded.find(why) == std::string::npos) {
      excluded += (excluded.empty() ? "" : ", ") + why;
    }
  }
  if (ctx.route.empty())
    return Error::Forbidden("No deployment of '" + ctx.model + "' satisfies the policy '" +
                                policy.name + "' (excluded by: " + excluded + ").",
                            "no_eligible_deployment", "model");
  ctx.deployment = ctx.route.front().deployment;
  ctx.provider = ctx.route.front().provider;
  return Status::Ok();
}

namespace {
void CountText(const Json& v, size_t& bytes) {
  if (v.is_string()) {
    bytes += v.get_ref<const std::string&>().size();
  } else if (v.is_array() || v.is_object()) {
    for (const auto& x : v) CountText(x, bytes);
  }
}
}  // namespace

int64_t EstimatePromptTokens(const Json& body) {
  size_t bytes = 0;
  if (auto m = body.find("messages"); m != body.end()) CountText(*m, bytes);
  if (auto i = body.find("input"); i != body.end()) {
    if (i->is_array() && !i->empty() && !i->front().is_string()) {
      bytes += 4 * i->size();  // token ids: one token each (or arrays of them)
    } else {
      CountText(*i, bytes);
    }
  }
  if (auto t = body.find("tools"); t != body.end()) CountText(*t, bytes);
  return static_cast<int64_t>((bytes + 3) / 4);
}

}  // namespace warden
