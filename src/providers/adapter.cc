#include "providers/adapter.h"

#include <cctype>

#include "common/util.h"

namespace warden {

const ProviderAdapter& OpenAIAdapter();
const ProviderAdapter& AzureAdapter();
const ProviderAdapter& AnthropicAdapter();
const ProviderAdapter& GeminiAdapter();

const ProviderAdapter& AdapterFor(ProviderKind kind) {
  switch (kind) {
    case ProviderKind::kAzure: return AzureAdapter();
    case ProviderKind::kAnthropic: return AnthropicAdapter();
    case ProviderKind::kGemini: return GeminiAdapter();
    case ProviderKind::kOpenAI:
    case ProviderKind::kEcho: break;  // the echo provider speaks OpenAI's format
  }
  return OpenAIAdapter();
}

std::string ScrubProviderText(const ProviderConfig& provider, std::string text) {
  auto replace_all = [&](std::string_view needle, std::string_view with) {
    if (needle.empty()) return;
    for (size_t pos = 0; (pos = text.find(needle, pos)) != std::string::npos; pos += with.size())
      text.replace(pos, needle.size(), with);
  };
  const std::string_view key = provider.api_key.Reveal();
  if (key.size() >= 8) replace_all(key, "[REDACTED]");
  // URLs first (they may hold the host), then the host with and without its port.
  for (size_t pos = 0; (pos = text.find("://", pos)) != std::string::npos;) {
    size_t start = pos;
    while (start > 0 && std::isalpha(static_cast<unsigned char>(text[start - 1]))) --start;
    size_t end = pos + 3;
    while (end < text.size() && !std::isspace(static_cast<unsigned char>(text[end])) && text[end] != '"' &&
           text[end] != '\'' && text[end] != ')' && text[end] != '>')
      ++end;
    text.replace(start, end - start, "[url]");
    pos = start + 5;
  }
  if (provider.host.size() >= 3) {
    replace_all(provider.host + ":" + std::to_string(provider.port), "[provider]");
    replace_all(provider.host, "[provider]");
  }
  return text;
}

Error ProviderError(const ProviderConfig& provider, int status, std::string message,
                    const std::string& type, const std::string& code, const std::string& param) {
  if (status == 401 || status == 403) {
    return Error::BadGateway("the provider '" + provider.name +
                                 "' rejected the gateway's credential (HTTP " +
                                 std::to_string(status) + "); ask the operator to check its key",
                             "upstream_auth_failed", false);
  }
  message = ScrubProviderText(provider, std::move(message));
  if (message.size() > 2000) message.resize(2000);
  const std::string prefix = "provider '" + provider.name + "': ";
  // Client-side errors the provider found in the request are the client's to fix: pass them on.
  if (status == 400 || status == 404 || status == 409 || status == 413 || status == 422 ||
      status == 429) {
    Error e;
    e.kind = KindOfStatus(status);
    e.type = type.empty() ? (status == 429 ? "rate_limit_error" : "invalid_request_error") : type;
    e.code = code.empty() ? (status == 429 ? "rate_limit_exceeded" : "upstream_rejected") : code;
    e.message = prefix + (message.empty() ? "HTTP " + std::to_string(status) : message);
    e.param = param;
    e.source = ErrorSource::kUpstream;
    e.retryable = status == 429;
    return e;
  }
  bool retryable = status == 408 || status == 429 || status >= 500;
  return Error::BadGateway(prefix + "HTTP " + std::to_string(status) +
                               (message.empty() ? "" : ": " + message),
                           status == 529 ? "upstream_overloaded" : "upstream_error", retryable);
}

Json CanonicalUsage(int64_t prompt, int64_t completion, int64_t cached_prompt) {
  Json u{{"prompt_tokens", prompt}, {"completion_tokens", completion}, {"total_tokens", prompt + completion}};
  if (cached_prompt > 0) u["prompt_tokens_details"] = Json{{"cached_tokens", cached_prompt}};
  return u;
}

Json CanonicalCompletion(const std::string& id, const std::string& model, Json message,
                         const std::string& finish_reason, const Json& usage) {
  Json j{{"id", id},
         {"object", "chat.completion"},
         {"created", UnixSeconds()},
         {"model", model},
         {"choices", Json::array({Json{{"index", 0},
                                       {"message", std::move(message)},
                                       {"logprobs", nullptr},
                                       {"finish_reason", finish_reason}}})}};
  if (!usage.is_null()) j["usage"] = usage;
  return j;
}

Json CanonicalChunk(const std::string& id, const std::string& model, Json delta, const Json& finish_reason) {
  return Json{{"id", id},
              {"object", "chat.completion.chunk"},
              {"created", UnixSeconds()},
              {"model", model},
              {"choices", Json::array({Json{{"index", 0},
                                            {"delta", std::move(delta)},
                                            {"logprobs", nullptr},
                                            {"finish_reason", finish_reason}}})}};
}

Json CanonicalUsageChunk(const std::string& id, const std::string& model, const Json& usage) {
  return Json{{"id", id},
              {"object", "chat.completion.chunk"},
              {"created", UnixSeconds()},
              {"model", model},
              {"choices", Json::array()},
              {"usage", usage}};
}

std::string ContentText(const Json& content) {
  if (content.is_string()) return content.get<std::string>();
  std::string out;
  if (!content.is_array()) return out;
  for (const Json& part : content) {
    if (!part.is_object()) continue;
    auto text = part.find("text");
    if (text != part.end() && text->is_string()) {
      if (!out.empty()) out += "\n";
      out += text->get<std::string>();
    }
  }
  return out;
}

bool ParseDataUrl(const std::string& url, std::string& mime, std::string& data) {
  if (url.rfind("data:", 0) != 0) return false;
  size_t comma = url.find(',');
  if (comma == std::string::npos) return false;
  std::string meta = url.substr(5, comma - 5);
  const std::string b64 = ";base64";
  if (meta.size() < b64.size() || meta.compare(meta.size() - b64.size(), b64.size(), b64) != 0) return false;
  mime = meta.substr(0, meta.size() - b64.size());
  data = url.substr(comma + 1);
  return !mime.empty();
}

std::string NewCallId() { return "call_" + ToHex(RandomBytes(12)); }

Error UnsupportedBy(ProviderKind kind, const std::string& what, const std::string& param) {
  return Error::BadRequest(what + " is not supported by " + ProviderKindName(kind) + " deployments.", param,
                           "unsupported_parameter");
}

void AppendTurn(Json& turns, const char* role, const char* field, Json items) {
  if (items.empty()) return;
  if (!turns.empty() && turns.back()["role"] == role) {
    for (auto& item : items) turns.back()[field].push_back(std::move(item));
    return;
  }
  turns.push_back(Json{{"role", role}, {field, std::move(items)}});
}

Result<ChatMessages> SplitMessages(ProviderKind kind, const Json& body) {
  ChatMessages out;
  if (!body.contains("messages") || !body["messages"].is_array()) return out;
  for (const Json& m : body["messages"]) {
    const std::string role = GetString(m, "role");
    const Json content = m.is_object() && m.contains("content") ? m["content"] : Json();
    ChatTurn turn;
    if (role == "system" || role == "developer") {
      std::string text = ContentText(content);
      if (!text.empty()) out.system += (out.system.empty() ? "" : "\n\n") + text;
      continue;
    }
    if (role == "user") {
      turn.role = ChatTurn::Role::kUser;
      turn.content = content;
    } else if (role == "assistant") {
      turn.role = ChatTurn::Role::kAssistant;
      turn.text = ContentText(content);
      if (m.contains("tool_calls") && m["tool_calls"].is_array()) turn.tool_calls = m["tool_calls"];
    } else if (role == "tool") {
      turn.role = ChatTurn::Role::kTool;
      turn.text = ContentText(content);
      turn.tool_call_id = GetString(m, "tool_call_id");
    } else {
      return UnsupportedBy(kind, "A message with role '" + role.substr(0, 40) + "'", "messages");
    }
    out.turns.push_back(std::move(turn));
  }
  return out;
}

std::string ReadAnthropicBlocks(const Json& blocks, std::string& text, Json& tool_calls) {
  std::string unsupported;
  if (!blocks.is_array()) return unsupported;
  for (const Json& b : blocks) {
    std::string type = GetString(b, "type");
    if (type == "text") {
      text += GetString(b, "text");
    } else if (type == "tool_use") {
      tool_calls.push_back(Json{{"id", GetString(b, "id")},
                                {"type", "function"},
                                {"function", Json{{"name", GetString(b, "name")},
                                                  {"arguments", Dump(b.contains("input") ? b["input"] : Json::object())}}}});
    } else if (type != "thinking" && type != "redacted_thinking" && unsupported.empty()) {
      unsupported = type.empty() ? "?" : type;
    }
  }
  return unsupported;
}

Json AnthropicToolUse(const Json& call) {
  const Json fn = call.is_object() && call.contains("function") ? call["function"] : Json::object();
  std::string args = GetString(fn, "arguments");
  auto input = ParseJson(args.empty() ? "{}" : args);
  return Json{{"type", "tool_use"},
              {"id", GetString(call, "id")},
              {"name", GetString(fn, "name")},
              {"input", input && input->is_object() ? *input : Json::object()}};
}

Error MalformedEvent() {
  return Error::BadGateway("the provider sent a malformed stream event", "upstream_malformed_event", true);
}

Error StreamCut() {
  return Error::BadGateway("the provider's stream ended before it was complete", "upstream_stream_cut", true);
}

Error InvalidResponse(const std::string& what) {
  return Error::BadGateway("the provider's answer is not valid: " + what, "upstream_invalid_response", true);
}

}  // namespace warden
