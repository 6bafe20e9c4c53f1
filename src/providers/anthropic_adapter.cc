// The `anthropic` kind: the Messages API (https://docs.anthropic.com/en/api/messages), both ways.
#include <algorithm>
#include <map>

#include "common/util.h"
#include "providers/adapter.h"

namespace warden {
namespace {

Error Unsupported(const std::string& what, const std::string& param) {
  return UnsupportedBy(ProviderKind::kAnthropic, what, param);
}

Result<Json> UserBlocks(const Json& content) {
  Json blocks = Json::array();
  if (content.is_string()) {
    if (!content.get<std::string>().empty()) blocks.push_back(Json{{"type", "text"}, {"text", content}});
    return blocks;
  }
  if (!content.is_array()) return blocks;
  for (const Json& part : content) {
    std::string type = part.is_object() ? GetString(part, "type") : "";
    if (type == "text") {
      blocks.push_back(Json{{"type", "text"}, {"text", GetString(part, "text")}});
    } else if (type == "image_url") {
      const Json& iu = part.contains("image_url") ? part["image_url"] : Json();
      std::string url = iu.is_object() ? GetString(iu, "url") : iu.is_string() ? iu.get<std::string>() : "";
      std::string mime, data;
      if (ParseDataUrl(url, mime, data))
        blocks.push_back(Json{{"type", "image"},
                              {"source", Json{{"type", "base64"}, {"media_type", mime}, {"data", data}}}});
      else
        blocks.push_back(Json{{"type", "image"}, {"source", Json{{"type", "url"}, {"url", url}}}});
    } else {
      return Unsupported("A content part of type '" + type + "'", "messages");
    }
  }
  return blocks;
}

std::string FinishReason(const std::string& stop_reason) {
  if (stop_reason == "max_tokens" || stop_reason == "model_context_window_exceeded") return "length";
  if (stop_reason == "tool_use") return "tool_calls";
  if (stop_reason == "refusal") return "content_filter";
  return "stop";  // end_turn, stop_sequence, pause_turn
}

int64_t Int(const Json& obj, const char* key) {
  if (!obj.is_object()) return 0;
  auto v = obj.find(key);
  return v != obj.end() && v->is_number_integer() ? v->get<int64_t>() : 0;
}

// input_tokens excludes cache reads and writes; OpenAI's prompt_tokens counts them all.
Json Usage(const Json& u, int64_t output) {
  int64_t cached = Int(u, "cache_read_input_tokens");
  int64_t prompt = Int(u, "input_tokens") + Int(u, "cache_creation_input_tokens") + cached;
  return CanonicalUsage(prompt, output, cached);
}

Error StreamErrorEvent(const Json& data) {
  std::string type;
  if (data.is_object() && data.contains("error") && data["error"].is_object())
    type = GetString(data["error"], "type");
  return Error::BadGateway("the provider reported an error in the stream" + (type.empty() ? "" : " (" + type + ")"),
                           type == "overloaded_error" ? "upstream_overloaded" : "upstream_stream_error", true);
}

class AnthropicStreamDecoder : public StreamDecoder {
 public:
  Status Decode(const SseEvent& ev, std::vector<Json>& out) override {
    if (complete_) return Status::Ok();
    auto json = ParseJson(ev.data);
    if (!json || !json->is_object()) return MalformedEvent();
    const Json& d = *json;
    std::string type = ev.event.empty() ? GetString(d, "type") : ev.event;
    if (type == "ping") return Status::Ok();
    if (type == "error") return StreamErrorEvent(d);
    if (type == "message_start") {
      const Json& m = d.contains("message") ? d["message"] : Json::object();
      if (!m.is_object()) return MalformedEvent();
      id_ = GetString(m, "id");
      model_ = GetString(m, "model");
      if (m.contains("usage")) usage_in_ = m["usage"];
      out.push_back(CanonicalChunk(id_, model_, Json{{"role", "assistant"}, {"content", ""}}));
      started_ = true;
      return Status::Ok();
    }
    if (!started_) return MalformedEvent();
    if (type == "content_block_start") {
      const Json& b = d.contains("content_block") ? d["content_block"] : Json();
      if (!b.is_object()) return MalformedEvent();
      std::string bt = GetString(b, "type");
      if (bt == "text") {
        std::string text = GetString(b, "text");
        if (!text.empty()) out.push_back(CanonicalChunk(id_, model_, Json{{"content", text}}));
      } else if (bt == "tool_use") {
        int tool = tools_++;
        tool_of_block_[Int(d, "index")] = tool;
        Json call{{"index", tool},
                  {"id", GetString(b, "id")},
                  {"type", "function"},
                  {"function", Json{{"name", GetString(b, "name")}, {"arguments", ""}}}};
        out.push_back(CanonicalChunk(id_, model_, Json{{"tool_calls", Json::array({call})}}));
      }
      return Status::Ok();
    }
    if (type == "content_block_delta") {
      const Json& delta = d.contains("delta") ? d["delta"] : Json();
      if (!delta.is_object()) return MalformedEvent();
      std::string dt = GetString(delta, "type");
      if (dt == "text_delta") {
        out.push_back(CanonicalChunk(id_, model_, Json{{"content", GetString(delta, "text")}}));
      } else if (dt == "input_json_delta") {
        auto tool = tool_of_block_.find(Int(d, "index"));
        if (tool == tool_of_block_.end()) return MalformedEvent();
        Json call{{"index", tool->second},
                  {"function", Json{{"arguments", GetString(delta, "partial_json")}}}};
        out.push_back(CanonicalChunk(id_, model_, Json{{"tool_calls", Json::array({call})}}));
      }
      return Status::Ok();
    }
    if (type == "message_delta") {
      if (d.contains("usage") && d["usage"].is_object()) {
        const Json& u = d["usage"];
        output_ = Int(u, "output_tokens");
        for (const char* k : {"input_tokens", "cache_creation_input_tokens", "cache_read_input_tokens"})
          if (u.contains(k) && u[k].is_number_integer()) usage_in_[k] = u[k];
      }
      if (d.contains("delta") && d["delta"].is_object() && d["delta"].contains("stop_reason") &&
          d["delta"]["stop_reason"].is_string()) {
        out.push_back(CanonicalChunk(id_, model_, Json::object(),
                                     FinishReason(d["delta"]["stop_reason"].get<std::string>())));
      }
      return Status::Ok();
    }
    if (type == "message_stop") {
      complete_ = true;
      out.push_back(CanonicalUsageChunk(id_, model_, Usage(usage_in_, output_)));
    }
    return Status::Ok();  // content_block_stop and event types added later
  }
  bool complete() const override { return complete_; }
  Status Finish(std::vector<Json>&) override { return complete_ ? Status::Ok() : Status(StreamCut()); }

 private:
  bool started_ = false;
  bool complete_ = false;
  std::string id_, model_;
  Json usage_in_ = Json::object();
  int64_t output_ = 0;
  int tools_ = 0;
  std::map<int64_t, int> tool_of_block_;  // content block index → tool_calls index
};

class Anthropic : public ProviderAdapter {
 public:
  bool Supports(Operation op) const override { return op == Operation::kChat; }

  Result<UpstreamRequest> BuildRequest(const ProviderConfig& provider, Operation op,
                                       const Json& in) const override {
    if (op != Operation::kChat) return Unsupported("This endpoint", "");
    Json out = Json::object();
    out["model"] = GetString(in, "model");
    auto split = SplitMessages(ProviderKind::kAnthropic, in);
    if (!split) return split.error();
    Json messages = Json::array();
    for (const ChatTurn& turn : split->turns) {
      switch (turn.role) {
        case ChatTurn::Role::kUser: {
          auto blocks = UserBlocks(turn.content);
          if (!blocks) return blocks.error();
          AppendTurn(messages, "user", "content", std::move(*blocks));
          break;
        }
        case ChatTurn::Role::kAssistant: {
          Json blocks = Json::array();
          if (!turn.text.empty()) blocks.push_back(Json{{"type", "text"}, {"text", turn.text}});
          for (const Json& call : turn.tool_calls) blocks.push_back(AnthropicToolUse(call));
          AppendTurn(messages, "assistant", "content", std::move(blocks));
          break;
        }
        case ChatTurn::Role::kTool:
          AppendTurn(messages, "user", "content",
                     Json::array({Json{{"type", "tool_result"}, {"tool_use_id", turn.tool_call_id}, {"content", turn.text}}}));
          break;
      }
    }
    const std::string& system = split->system;
    if (!system.empty()) out["system"] = system;
    out["messages"] = std::move(messages);
    int64_t max_tokens = provider.default_max_tokens;
    for (const char* k : {"max_tokens", "max_completion_tokens"})
      if (in.contains(k) && in[k].is_number_integer()) max_tokens = in[k].get<int64_t>();
    out["max_tokens"] = max_tokens;
    if (in.contains("temperature") && in["temperature"].is_number())
      out["temperature"] = std::min(in["temperature"].get<double>(), 1.0);  // Anthropic's range is 0..1
    if (in.contains("top_p") && in["top_p"].is_number()) out["top_p"] = in["top_p"];
    if (in.contains("stop")) {
      const Json& stop = in["stop"];
      if (stop.is_string()) out["stop_sequences"] = Json::array({stop});
      else if (stop.is_array() && !stop.empty()) out["stop_sequences"] = stop;
    }
    if (in.contains("n") && in["n"].is_number_integer() && in["n"].get<int64_t>() > 1)
      return Unsupported("n > 1", "n");
    if (in.contains("response_format") && in["response_format"].is_object() &&
        GetString(in["response_format"], "type", "text") != "text")
      return Unsupported("response_format", "response_format");
    if (in.contains("tools") && in["tools"].is_array() && !in["tools"].empty()) {
      Json tools = Json::array();
      for (const Json& t : in["tools"]) {
        const Json& fn = t.contains("function") ? t["function"] : Json();
        if (!fn.is_object()) return Unsupported("A tool that is not a function", "tools");
        Json tool{{"name", GetString(fn, "name")}};
        if (fn.contains("description")) tool["description"] = fn["description"];
        tool["input_schema"] = fn.contains("parameters") && fn["parameters"].is_object()
                                   ? fn["parameters"]
                                   : Json{{"type", "object"}, {"properties", Json::object()}};
        tools.push_back(std::move(tool));
      }
      out["tools"] = std::move(tools);
    }
    Json choice;
    if (in.contains("tool_choice")) {
      const Json& tc = in["tool_choice"];
      if (tc == "auto") choice = Json{{"type", "auto"}};
      else if (tc == "required") choice = Json{{"type", "any"}};
      else if (tc == "none") choice = Json{{"type", "none"}};
      else if (tc.is_object() && tc.contains("function") && tc["function"].is_object())
        choice = Json{{"type", "tool"}, {"name", GetString(tc["function"], "name")}};
    }
    if (in.contains("parallel_tool_calls") && in["parallel_tool_calls"] == false && out.contains("tools")) {
      if (choice.is_null()) choice = Json{{"type", "auto"}};
      choice["disable_parallel_tool_use"] = true;
    }
    if (!choice.is_null() && out.contains("tools")) out["tool_choice"] = std::move(choice);
    if (in.contains("user") && in["user"].is_string()) out["metadata"] = Json{{"user_id", in["user"]}};
    const bool stream = in.contains("stream") && in["stream"] == true;
    if (stream) out["stream"] = true;

    UpstreamRequest r;
    r.scheme = provider.scheme;
    r.host = provider.host;
    r.port = provider.port;
    r.path = provider.base_path + "/messages";
    r.stream = stream;
    for (const auto& h : provider.headers) r.headers.push_back({h.name, h.value});
    r.headers.push_back({"Content-Type", "application/json"});
    r.headers.push_back({"Accept", stream ? "text/event-stream" : "application/json"});
    r.headers.push_back({"User-Agent", "warden/0.1"});
    r.headers.push_back({"anthropic-version", provider.api_version});
    if (!provider.api_key.empty()) r.headers.push_back({"x-api-key", std::string(provider.api_key.Reveal())});
    r.body = Dump(out);
    return r;
  }

  Result<Json> TranslateResponse(Operation, const Json& body) const override {
    if (!body.is_object() || !body.contains("content") || !body["content"].is_array())
      return InvalidResponse("no content");
    std::string text;
    Json calls = Json::array();
    ReadAnthropicBlocks(body["content"], text, calls);  // other block types carry no answer text
    Json message{{"role", "assistant"}, {"content", text.empty() && !calls.empty() ? Json() : Json(text)}, {"refusal", nullptr}};
    if (!calls.empty()) message["tool_calls"] = std::move(calls);
    std::string stop = body.contains("stop_reason") && body["stop_reason"].is_string()
                           ? body["stop_reason"].get<std::string>() : "end_turn";
    const Json& u = body.contains("usage") ? body["usage"] : Json::object();
    return CanonicalCompletion(GetString(body, "id"), GetString(body, "model"), std::move(message),
                               FinishReason(stop), Usage(u, Int(u, "output_tokens")));
  }

  std::unique_ptr<StreamDecoder> NewStreamDecoder() const override {
    return std::make_unique<AnthropicStreamDecoder>();
  }

  Error TranslateError(const ProviderConfig& provider, int status, std::string_view text) const override {
    std::string message, type;
    if (auto j = ParseJson(text); j && j->is_object() && j->contains("error") && (*j)["error"].is_object()) {
      const Json& e = (*j)["error"];
      if (e.contains("message") && e["message"].is_string()) message = e["message"].get<std::string>();
      if (e.contains("type") && e["type"].is_string()) type = e["type"].get<std::string>();
    }
    // Anthropic's type names match OpenAI's for client errors (invalid_request_error, …).
    return ProviderError(provider, status, std::move(message), status < 500 ? type : "", "", "");
  }
};

}  // namespace

const ProviderAdapter& AnthropicAdapter() {
  static const Anthropic adapter;
  return adapter;
}

}  // namespace warden
