#include "gateway/parse.h"

#include <algorithm>

namespace warden {
namespace {

Status RequireModel(const Json& b, ParsedRequest& r) {
  if (!b.contains("model")) return Error::BadRequest("you must provide a model parameter", "model");
  if (!b["model"].is_string() || b["model"].get_ref<const std::string&>().empty())
    return Error::BadRequest("'model' must be a non-empty string", "model");
  r.model = b["model"].get<std::string>();
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

Status ParseChat(const Json& b, ParsedRequest& r) {
  if (Status s = RequireModel(b, r); !s) return s;
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
    r.has_tools = !b["tools"].empty();
  }
  for (const auto& m : b["messages"])
    if (auto c = m.find("content"); c != m.end() && c->is_array())
      for (const auto& part : *c) r.has_images = r.has_images || part.value("type", "") == "image_url";
  for (const char* field : {"max_tokens", "max_completion_tokens"})
    if (auto v = b.find(field); v != b.end() && v->is_number_integer()) r.max_tokens = std::max<int64_t>(0, v->get<int64_t>());
  if (b.contains("stream")) {
    if (!b["stream"].is_boolean() && !b["stream"].is_null())
      return Error::BadRequest("'stream' must be a boolean", "stream");
    r.stream = b["stream"].is_boolean() && b["stream"].get<bool>();
  }
  if (b.contains("stream_options") && !b["stream_options"].is_null() && !b["stream_options"].is_object())
    return Error::BadRequest("'stream_options' must be an object", "stream_options");
  if (auto opts = b.find("stream_options"); opts != b.end()) r.client_wants_usage = GetBool(*opts, "include_usage");
  return Status::Ok();
}

Status ParseEmbeddings(const Json& b, ParsedRequest& r) {
  if (Status s = RequireModel(b, r); !s) return s;
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

// Body fields that ask a gateway to route, fall back, log or skip redaction. None of them is
// part of the OpenAI API; Warden never honours them and says so instead of silently forwarding.
constexpr std::string_view kOverrideFields[] = {
    "warden",     "provider",  "providers", "region",  "regions",         "deployment",
    "deployments", "fallbacks", "fallback",  "route",   "routing",         "redaction",
    "redact",     "no_redact", "logging",   "log",     "content_logging", "zero_retention",
    "audit",      "policy"};

// Notes what the client's own body tries to steer (Check policy refuses it).
void NoteOverrides(const Json& body, ParsedRequest& r) {
  for (std::string_view field : kOverrideFields)
    if (body.contains(field)) {
      r.override_field = std::string(field);
      break;
    }
  auto store = body.find("store");
  r.asks_store = store != body.end() && store->is_boolean() && store->get<bool>();
}

}  // namespace

Result<ParsedBody> Parse(Endpoint endpoint, std::string_view text) {
  JsonError why = JsonError::kNone;
  auto parsed = ParseJson(text, &why);
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
  ParsedBody out;
  out.request.endpoint = endpoint;
  out.body = std::move(*parsed);
  NoteOverrides(out.body, out.request);
  Status valid = Status::Ok();
  switch (endpoint) {
    case Endpoint::kChatCompletions: valid = ParseChat(out.body, out.request); break;
    case Endpoint::kMessages: {
      auto canonical = MessagesToCanonical(out.body);
      if (!canonical) return canonical.error();
      out.body = std::move(*canonical);
      valid = ParseChat(out.body, out.request);
      break;
    }
    case Endpoint::kEmbeddings: valid = ParseEmbeddings(out.body, out.request); break;
    default: return Error::Internal("no parser for this endpoint");
  }
  if (!valid) return valid.error();
  out.request.estimated_prompt_tokens = EstimatePromptTokens(out.body);
  return out;
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
