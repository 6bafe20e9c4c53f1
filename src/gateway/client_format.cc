#include "gateway/client_format.h"

#include "common/util.h"
#include "providers/adapter.h"
#include "providers/sse.h"

namespace warden {
namespace {

Error Invalid(const std::string& message, const std::string& param) {
  return Error::BadRequest(message, param, "invalid_request");
}

bool IsString(const Json& obj, const char* key) { return obj.contains(key) && obj[key].is_string(); }

std::string StopReason(const Json& finish_reason) {
  if (!finish_reason.is_string()) return "end_turn";
  const std::string f = finish_reason.get<std::string>();
  if (f == "length") return "max_tokens";
  if (f == "tool_calls" || f == "function_call") return "tool_use";
  if (f == "content_filter") return "refusal";
  return "end_turn";
}

const char* AnthropicErrorType(int status) {
  switch (status) {
    case 400: case 405: case 415: case 422: return "invalid_request_error";
    case 401: return "authentication_error";
    case 403: return "permission_error";
    case 404: return "not_found_error";
    case 413: return "request_too_large";
    case 429: return "rate_limit_error";
    case 529: return "overloaded_error";
    default: return "api_error";
  }
}

Json AnthropicError(const Error& e) {
  return Json{{"type", "error"}, {"error", Json{{"type", AnthropicErrorType(e.status())}, {"message", e.message}}}};
}

// Anthropic user content blocks → OpenAI message(s): tool results become `tool` messages
// (before the rest of the turn, as the API orders them), everything else one user message.
Status UserTurn(const Json& content, Json& out) {
  if (content.is_string()) {
    out.push_back(Json{{"role", "user"}, {"content", content}});
    return Status::Ok();
  }
  if (!content.is_array()) return Invalid("messages: content must be a string or a list of blocks", "messages");
  Json parts = Json::array();
  for (const Json& b : content) {
    std::string type = b.is_object() ? GetString(b, "type") : "";
    if (type == "text") {
      parts.push_back(Json{{"type", "text"}, {"text", GetString(b, "text")}});
    } else if (type == "image") {
      const Json& src = b.contains("source") ? b["source"] : Json();
      std::string st = src.is_object() ? GetString(src, "type") : "";
      if (st == "base64")
        parts.push_back(Json{{"type", "image_url"},
                             {"image_url", Json{{"url", "data:" + GetString(src, "media_type") + ";base64," + GetString(src, "data")}}}});
      else if (st == "url")
        parts.push_back(Json{{"type", "image_url"}, {"image_url", Json{{"url", GetString(src, "url")}}}});
      else
        return Invalid("messages: an image source must be base64 or url", "messages");
    } else if (type == "tool_result") {
      std::string text;
      if (b.contains("content")) {
        const Json& c = b["content"];
        if (c.is_string()) {
          text = c.get<std::string>();
        } else if (c.is_array()) {
          for (const Json& part : c)
            if (part.is_object() && GetString(part, "type") == "text")
              text += (text.empty() ? "" : "\n") + GetString(part, "text");
        }
      }
      if (GetBool(b, "is_error", false)) text = "Error: " + text;
      out.push_back(Json{{"role", "tool"}, {"tool_call_id", GetString(b, "tool_use_id")}, {"content", text}});
    } else {
      return Invalid("messages: content blocks of type '" + type.substr(0, 40) + "' are not supported by this gateway", "messages");
    }
  }
  if (!parts.empty()) out.push_back(Json{{"role", "user"}, {"content", std::move(parts)}});
  return Status::Ok();
}

Status AssistantTurn(const Json& content, Json& out) {
  Json msg{{"role", "assistant"}};
  if (content.is_string()) {
    msg["content"] = content;
    out.push_back(std::move(msg));
    return Status::Ok();
  }
  if (!content.is_array()) return Invalid("messages: content must be a string or a list of blocks", "messages");
  std::string text;
  Json calls = Json::array();
  std::string unsupported = ReadAnthropicBlocks(content, text, calls);
  if (!unsupported.empty())
    return Invalid("messages: content blocks of type '" + unsupported.substr(0, 40) + "' are not supported by this gateway", "messages");
  msg["content"] = text.empty() && !calls.empty() ? Json() : Json(text);
  if (!calls.empty()) msg["tool_calls"] = std::move(calls);
  out.push_back(std::move(msg));
  return Status::Ok();
}

class OpenAIEncoder : public StreamEncoder {
 public:
  std::string Chunk(const Json& chunk) override { return FormatSseData(Dump(chunk)); }
  std::string End() override { return FormatSseData("[DONE]"); }
};

// Canonical chunks → message_start, content_block_start/delta/stop (text and tool_use blocks),
// message_delta (stop reason, usage), message_stop.
class MessagesEncoder : public StreamEncoder {
 public:
  explicit MessagesEncoder(std::string model) : model_(std::move(model)) {}

  std::string Chunk(const Json& chunk) override {
    std::string out;
    Start(chunk, out);
    if (chunk.contains("usage") && chunk["usage"].is_object()) usage_ = chunk["usage"];
    if (!chunk.contains("choices") || !chunk["choices"].is_array() || chunk["choices"].empty()) return out;
    const Json& choice = chunk["choices"][0];
    if (!choice.is_object()) return out;
    if (choice.contains("delta") && choice["delta"].is_object()) {
      const Json& delta = choice["delta"];
      if (IsString(delta, "content") && !delta["content"].get_ref<const std::string&>().empty()) {
        if (block_ != kText) Open(Json{{"type", "text"}, {"text", ""}}, kText, out);
        Emit("content_block_delta", Json{{"type", "content_block_delta"}, {"index", index_},
                                         {"delta", Json{{"type", "text_delta"}, {"text", delta["content"]}}}}, out);
      }
      if (delta.contains("tool_calls") && delta["tool_calls"].is_array()) {
        for (const Json& call : delta["tool_calls"]) {
          if (!call.is_object()) continue;
          int64_t tool = call.contains("index") && call["index"].is_number_integer() ? call["index"].get<int64_t>() : tool_;
          const Json& fn = call.contains("function") && call["function"].is_object() ? call["function"] : Json::object();
          if (block_ != kTool || tool != tool_ || IsString(call, "id")) {
            tool_ = tool;
            Open(Json{{"type", "tool_use"},
                      {"id", IsString(call, "id") ? call["id"].get<std::string>() : NewToolId()},
                      {"name", GetString(fn, "name")},
                      {"input", Json::object()}},
                 kTool, out);
          }
          std::string args = GetString(fn, "arguments");
          if (!args.empty())
            Emit("content_block_delta", Json{{"type", "content_block_delta"}, {"index", index_},
                                             {"delta", Json{{"type", "input_json_delta"}, {"partial_json", args}}}}, out);
        }
      }
    }
    if (choice.contains("finish_reason") && !choice["finish_reason"].is_null())
      stop_reason_ = StopReason(choice["finish_reason"]);
    return out;
  }

  std::string End() override {
    std::string out;
    Start(Json::object(), out);
    Close(out);
    auto get = [&](const char* k) -> int64_t {
      return usage_.contains(k) && usage_[k].is_number_integer() ? usage_[k].get<int64_t>() : 0;
    };
    Emit("message_delta", Json{{"type", "message_delta"},
                               {"delta", Json{{"stop_reason", stop_reason_}, {"stop_sequence", nullptr}}},
                               {"usage", Json{{"input_tokens", get("prompt_tokens")}, {"output_tokens", get("completion_tokens")}}}}, out);
    Emit("message_stop", Json{{"type", "message_stop"}}, out);
    return out;
  }

 private:
  enum Block { kNone, kText, kTool };

  static std::string NewToolId() { return "toolu_" + ToHex(RandomBytes(12)); }

  void Emit(const char* event, const Json& data, std::string& out) {
    SseEvent ev;
    ev.event = event;
    ev.data = Dump(data);
    out += FormatSseEvent(ev);
  }
  void Start(const Json& chunk, std::string& out) {
    if (started_) return;
    started_ = true;
    std::string id = IsString(chunk, "id") ? chunk["id"].get<std::string>() : ToHex(RandomBytes(12));
    if (id.rfind("msg_", 0) != 0) id = "msg_" + id;
    Emit("message_start",
         Json{{"type", "message_start"},
              {"message", Json{{"id", id}, {"type", "message"}, {"role", "assistant"}, {"model", model_},
                               {"content", Json::array()}, {"stop_reason", nullptr}, {"stop_sequence", nullptr},
                               {"usage", Json{{"input_tokens", 0}, {"output_tokens", 0}}}}}},
         out);
  }
  void Close(std::string& out) {
    if (block_ == kNone) return;
    Emit("content_block_stop", Json{{"type", "content_block_stop"}, {"index", index_}}, out);
    block_ = kNone;
  }
  void Open(Json block, Block kind, std::string& out) {
    Close(out);
    if (opened_) ++index_;
    opened_ = true;
    block_ = kind;
    Emit("content_block_start", Json{{"type", "content_block_start"}, {"index", index_}, {"content_block", std::move(block)}}, out);
  }

  std::string model_;
  bool started_ = false;
  bool opened_ = false;
  Block block_ = kNone;
  int64_t index_ = 0;
  int64_t tool_ = -1;
  std::string stop_reason_ = "end_turn";
  Json usage_ = Json::object();
};

}  // namespace

Result<Json> MessagesToCanonical(const Json& in) {
  if (!in.is_object()) return Invalid("the request body must be a JSON object", "");
  if (!IsString(in, "model") || in["model"].get_ref<const std::string&>().empty())
    return Invalid("model: a model name is required", "model");
  if (!in.contains("max_tokens") || !in["max_tokens"].is_number_integer() || in["max_tokens"].get<int64_t>() < 1)
    return Invalid("max_tokens: a positive integer is required", "max_tokens");
  if (!in.contains("messages") || !in["messages"].is_array() || in["messages"].empty())
    return Invalid("messages: at least one message is required", "messages");
  Json out{{"model", in["model"]}};
  Json messages = Json::array();
  if (in.contains("system")) {
    const Json& system = in["system"];
    std::string text;
    if (system.is_string()) {
      text = system.get<std::string>();
    } else if (system.is_array()) {
      for (const Json& b : system)
        if (b.is_object() && GetString(b, "type") == "text") text += (text.empty() ? "" : "\n\n") + GetString(b, "text");
    } else {
      return Invalid("system: must be a string or a list of text blocks", "system");
    }
    if (!text.empty()) messages.push_back(Json{{"role", "system"}, {"content", text}});
  }
  for (const Json& m : in["messages"]) {
    std::string role = m.is_object() ? GetString(m, "role") : "";
    const Json content = m.is_object() && m.contains("content") ? m["content"] : Json();
    Status s = role == "user"        ? UserTurn(content, messages)
               : role == "assistant" ? AssistantTurn(content, messages)
                                     : Status(Invalid("messages: role must be user or assistant", "messages"));
    if (!s) return s.error();
  }
  out["messages"] = std::move(messages);
  out["max_tokens"] = in["max_tokens"];
  for (const char* k : {"temperature", "top_p"})
    if (in.contains(k) && in[k].is_number()) out[k] = in[k];
  if (in.contains("stop_sequences") && in["stop_sequences"].is_array() && !in["stop_sequences"].empty())
    out["stop"] = in["stop_sequences"];
  if (in.contains("metadata") && in["metadata"].is_object() && IsString(in["metadata"], "user_id"))
    out["user"] = in["metadata"]["user_id"];
  if (in.contains("tools") && in["tools"].is_array() && !in["tools"].empty()) {
    Json tools = Json::array();
    for (const Json& t : in["tools"]) {
      if (!t.is_object() || !t.contains("input_schema"))
        return Invalid("tools: only custom tools with an input_schema are supported by this gateway", "tools");
      Json fn{{"name", GetString(t, "name")}};
      if (t.contains("description")) fn["description"] = t["description"];
      fn["parameters"] = t["input_schema"];
      tools.push_back(Json{{"type", "function"}, {"function", std::move(fn)}});
    }
    out["tools"] = std::move(tools);
    if (in.contains("tool_choice") && in["tool_choice"].is_object()) {
      const Json& tc = in["tool_choice"];
      std::string type = GetString(tc, "type", "auto");
      if (type == "any") out["tool_choice"] = "required";
      else if (type == "none") out["tool_choice"] = "none";
      else if (type == "tool") out["tool_choice"] = Json{{"type", "function"}, {"function", Json{{"name", GetString(tc, "name")}}}};
      else out["tool_choice"] = "auto";
      if (GetBool(tc, "disable_parallel_tool_use", false)) out["parallel_tool_calls"] = false;
    }
  }
  if (in.contains("stream") && in["stream"].is_boolean()) out["stream"] = in["stream"];
  return out;
}

std::string ClientErrorBody(Ingress ingress, const Error& error) {
  return ingress == Ingress::kAnthropic ? Dump(AnthropicError(error)) : ErrorBody(error);
}

std::string ClientErrorEvent(Ingress ingress, const Error& error) {
  if (ingress == Ingress::kOpenAI) return FormatSseData(ErrorBody(error));
  SseEvent ev;
  ev.event = "error";
  ev.data = Dump(AnthropicError(error));
  return FormatSseEvent(ev);
}

Json ClientResponse(Ingress ingress, Json completion) {
  if (ingress == Ingress::kOpenAI) return completion;
  Json content = Json::array();
  Json finish;
  if (completion.contains("choices") && completion["choices"].is_array() && !completion["choices"].empty()) {
    const Json& choice = completion["choices"][0];
    finish = choice.contains("finish_reason") ? choice["finish_reason"] : Json();
    const Json& msg = choice.contains("message") ? choice["message"] : Json::object();
    if (msg.is_object()) {
      if (IsString(msg, "content") && !msg["content"].get_ref<const std::string&>().empty())
        content.push_back(Json{{"type", "text"}, {"text", msg["content"]}});
      if (msg.contains("tool_calls") && msg["tool_calls"].is_array()) {
        for (const Json& call : msg["tool_calls"]) content.push_back(AnthropicToolUse(call));
      }
    }
  }
  const Json& u = completion.contains("usage") ? completion["usage"] : Json::object();
  auto get = [&](const char* k) -> int64_t {
    return u.is_object() && u.contains(k) && u[k].is_number_integer() ? u[k].get<int64_t>() : 0;
  };
  std::string id = IsString(completion, "id") ? completion["id"].get<std::string>() : ToHex(RandomBytes(12));
  if (id.rfind("msg_", 0) != 0) id = "msg_" + id;
  return Json{{"id", id},
              {"type", "message"},
              {"role", "assistant"},
              {"model", GetString(completion, "model")},
              {"content", std::move(content)},
              {"stop_reason", StopReason(finish)},
              {"stop_sequence", nullptr},
              {"usage", Json{{"input_tokens", get("prompt_tokens")}, {"output_tokens", get("completion_tokens")}}}};
}

std::unique_ptr<StreamEncoder> NewStreamEncoder(Ingress ingress, const std::string& model) {
  if (ingress == Ingress::kAnthropic) return std::make_unique<MessagesEncoder>(model);
  return std::make_unique<OpenAIEncoder>();
}

}  // namespace warden
