// The `gemini` kind: generateContent / streamGenerateContent?alt=sse of the Gemini API
// (https://ai.google.dev/api/generate-content), both ways.
#include <map>

#include "common/util.h"
#include "providers/adapter.h"

namespace warden {
namespace {

Error Unsupported(const std::string& what, const std::string& param) {
  return UnsupportedBy(ProviderKind::kGemini, what, param);
}

std::string GuessImageMime(const std::string& url) {
  std::string path = url.substr(0, url.find('?'));
  auto ends = [&](const char* ext) {
    std::string e(ext);
    return path.size() >= e.size() && path.compare(path.size() - e.size(), e.size(), e) == 0;
  };
  if (ends(".png")) return "image/png";
  if (ends(".webp")) return "image/webp";
  if (ends(".gif")) return "image/gif";
  return "image/jpeg";
}

Result<Json> UserParts(const Json& content) {
  Json parts = Json::array();
  if (content.is_string()) {
    if (!content.get<std::string>().empty()) parts.push_back(Json{{"text", content}});
    return parts;
  }
  if (!content.is_array()) return parts;
  for (const Json& part : content) {
    std::string type = part.is_object() ? GetString(part, "type") : "";
    if (type == "text") {
      parts.push_back(Json{{"text", GetString(part, "text")}});
    } else if (type == "image_url") {
      const Json& iu = part.contains("image_url") ? part["image_url"] : Json();
      std::string url = iu.is_object() ? GetString(iu, "url") : iu.is_string() ? iu.get<std::string>() : "";
      std::string mime, data;
      if (ParseDataUrl(url, mime, data))
        parts.push_back(Json{{"inlineData", Json{{"mimeType", mime}, {"data", data}}}});
      else
        parts.push_back(Json{{"fileData", Json{{"mimeType", GuessImageMime(url)}, {"fileUri", url}}}});
    } else {
      return Unsupported("A content part of type '" + type + "'", "messages");
    }
  }
  return parts;
}

std::string FinishReason(const std::string& reason, bool calls) {
  if (reason == "MAX_TOKENS") return "length";
  if (reason == "SAFETY" || reason == "RECITATION" || reason == "BLOCKLIST" ||
      reason == "PROHIBITED_CONTENT" || reason == "SPII" || reason == "IMAGE_SAFETY" ||
      reason == "LANGUAGE")
    return "content_filter";
  return calls ? "tool_calls" : "stop";
}

int64_t Int(const Json& obj, const char* key) {
  if (!obj.is_object()) return 0;
  auto v = obj.find(key);
  return v != obj.end() && v->is_number_integer() ? v->get<int64_t>() : 0;
}

Json Usage(const Json& u) {
  return CanonicalUsage(Int(u, "promptTokenCount"),
                        Int(u, "candidatesTokenCount") + Int(u, "thoughtsTokenCount"),  // thoughts are billed as output
                        Int(u, "cachedContentTokenCount"));
}

// A prompt the provider refused to answer: the client's to see, not worth another deployment
// of the same provider; reported like OpenAI's content filter.
std::optional<Error> Blocked(const Json& body) {
  const bool no_candidates = !body.contains("candidates") || !body["candidates"].is_array() ||
                             body["candidates"].empty();
  if (!no_candidates || !body.contains("promptFeedback")) return std::nullopt;
  std::string reason = body["promptFeedback"].is_object() ? GetString(body["promptFeedback"], "blockReason") : "";
  if (reason.empty()) return std::nullopt;
  Error e = Error::BadRequest("The provider blocked the prompt (" + reason + ").", "messages", "content_filter");
  e.source = ErrorSource::kUpstream;
  return e;
}

// The text and tool calls of one candidate's parts (thought summaries left out).
void ReadParts(const Json& candidate, std::string& text, Json& calls) {
  if (!candidate.contains("content") || !candidate["content"].is_object()) return;
  const Json& content = candidate["content"];
  if (!content.contains("parts") || !content["parts"].is_array()) return;
  for (const Json& p : content["parts"]) {
    if (!p.is_object() || GetBool(p, "thought", false)) continue;
    if (p.contains("text") && p["text"].is_string()) text += p["text"].get<std::string>();
    if (p.contains("functionCall") && p["functionCall"].is_object()) {
      const Json& fc = p["functionCall"];
      std::string id = fc.contains("id") && fc["id"].is_string() ? fc["id"].get<std::string>() : NewCallId();
      calls.push_back(Json{{"id", id},
                           {"type", "function"},
                           {"function", Json{{"name", GetString(fc, "name")},
                                             {"arguments", Dump(fc.contains("args") ? fc["args"] : Json::object())}}}});
    }
  }
}

class GeminiStreamDecoder : public StreamDecoder {
 public:
  Status Decode(const SseEvent& ev, std::vector<Json>& out) override {
    if (complete_) return Status::Ok();
    auto json = ParseJson(ev.data);
    if (!json || !json->is_object()) return MalformedEvent();
    const Json& d = *json;
    if (d.contains("error"))
      return Error::BadGateway("the provider reported an error in the stream", "upstream_stream_error", true);
    if (auto blocked = Blocked(d)) return *blocked;
    if (id_.empty()) id_ = GetString(d, "responseId", "chatcmpl-" + ToHex(RandomBytes(12)));
    if (d.contains("modelVersion") && d["modelVersion"].is_string()) model_ = d["modelVersion"].get<std::string>();
    if (d.contains("usageMetadata")) usage_ = d["usageMetadata"];
    if (!started_) {
      out.push_back(CanonicalChunk(id_, model_, Json{{"role", "assistant"}, {"content", ""}}));
      started_ = true;
    }
    if (!d.contains("candidates") || !d["candidates"].is_array() || d["candidates"].empty()) return Status::Ok();
    const Json& c = d["candidates"][0];
    std::string text;
    Json calls = Json::array();
    ReadParts(c, text, calls);
    if (!text.empty()) out.push_back(CanonicalChunk(id_, model_, Json{{"content", text}}));
    for (Json& call : calls) {
      call["index"] = tools_++;
      out.push_back(CanonicalChunk(id_, model_, Json{{"tool_calls", Json::array({std::move(call)})}}));
    }
    if (c.is_object() && c.contains("finishReason") && c["finishReason"].is_string()) {
      finished_ = true;
      out.push_back(CanonicalChunk(id_, model_, Json::object(),
                                   FinishReason(c["finishReason"].get<std::string>(), tools_ > 0)));
    }
    return Status::Ok();
  }
  bool complete() const override { return complete_; }
  // Gemini ends a stream by closing it; complete when a candidate said why it finished.
  Status Finish(std::vector<Json>& out) override {
    if (!finished_) return StreamCut();
    if (!complete_) out.push_back(CanonicalUsageChunk(id_, model_, Usage(usage_)));
    complete_ = true;
    return Status::Ok();
  }

 private:
  bool started_ = false;
  bool finished_ = false;
  bool complete_ = false;
  std::string id_, model_;
  Json usage_ = Json::object();
  int tools_ = 0;
};

class Gemini : public ProviderAdapter {
 public:
  bool Supports(Operation op) const override { return op == Operation::kChat; }

  Result<UpstreamRequest> BuildRequest(const ProviderConfig& provider, Operation op,
                                       const Json& in) const override {
    if (op != Operation::kChat) return Unsupported("This endpoint", "");
    Json out = Json::object();
    auto split = SplitMessages(ProviderKind::kGemini, in);
    if (!split) return split.error();
    Json contents = Json::array();
    std::map<std::string, std::string> call_names;  // tool_call_id → function name
    for (const ChatTurn& turn : split->turns) {
      switch (turn.role) {
        case ChatTurn::Role::kUser: {
          auto parts = UserParts(turn.content);
          if (!parts) return parts.error();
          AppendTurn(contents, "user", "parts", std::move(*parts));
          break;
        }
        case ChatTurn::Role::kAssistant: {
          Json parts = Json::array();
          if (!turn.text.empty()) parts.push_back(Json{{"text", turn.text}});
          for (const Json& call : turn.tool_calls) {
            // The same parsing as an Anthropic tool_use: name and arguments as an object.
            Json use = AnthropicToolUse(call);
            call_names[use["id"].get<std::string>()] = use["name"].get<std::string>();
            parts.push_back(Json{{"functionCall", Json{{"name", use["name"]}, {"args", use["input"]}}}});
          }
          AppendTurn(contents, "model", "parts", std::move(parts));
          break;
        }
        case ChatTurn::Role::kTool: {
          auto name = call_names.find(turn.tool_call_id);
          if (name == call_names.end())
            return Error::BadRequest("A tool message answers tool_call_id '" + turn.tool_call_id.substr(0, 64) +
                                         "', which no earlier assistant message called.", "messages");
          auto parsed = ParseJson(turn.text);
          Json response = parsed && parsed->is_object() ? *parsed : Json{{"content", turn.text}};
          AppendTurn(contents, "user", "parts",
                     Json::array({Json{{"functionResponse", Json{{"name", name->second}, {"response", std::move(response)}}}}}));
          break;
        }
      }
    }
    const std::string& system = split->system;
    out["contents"] = std::move(contents);
    if (!system.empty()) out["systemInstruction"] = Json{{"parts", Json::array({Json{{"text", system}}})}};

    Json gen = Json::object();
    if (in.contains("temperature") && in["temperature"].is_number()) gen["temperature"] = in["temperature"];
    if (in.contains("top_p") && in["top_p"].is_number()) gen["topP"] = in["top_p"];
    for (const char* k : {"max_tokens", "max_completion_tokens"})
      if (in.contains(k) && in[k].is_number_integer()) gen["maxOutputTokens"] = in[k];
    if (in.contains("stop")) {
      const Json& stop = in["stop"];
      if (stop.is_string()) gen["stopSequences"] = Json::array({stop});
      else if (stop.is_array() && !stop.empty()) gen["stopSequences"] = stop;
    }
    if (in.contains("n") && in["n"].is_number_integer()) gen["candidateCount"] = in["n"];
    if (in.contains("seed") && in["seed"].is_number_integer()) gen["seed"] = in["seed"];
    if (in.contains("presence_penalty") && in["presence_penalty"].is_number()) gen["presencePenalty"] = in["presence_penalty"];
    if (in.contains("frequency_penalty") && in["frequency_penalty"].is_number()) gen["frequencyPenalty"] = in["frequency_penalty"];
    if (in.contains("response_format") && in["response_format"].is_object()) {
      const Json& rf = in["response_format"];
      std::string type = GetString(rf, "type", "text");
      if (type == "json_object" || type == "json_schema") gen["responseMimeType"] = "application/json";
      if (type == "json_schema" && rf.contains("json_schema") && rf["json_schema"].is_object() &&
          rf["json_schema"].contains("schema"))
        gen["responseJsonSchema"] = rf["json_schema"]["schema"];
    }
    if (!gen.empty()) out["generationConfig"] = std::move(gen);

    if (in.contains("tools") && in["tools"].is_array() && !in["tools"].empty()) {
      Json decls = Json::array();
      for (const Json& t : in["tools"]) {
        const Json& fn = t.contains("function") ? t["function"] : Json();
        if (!fn.is_object()) return Unsupported("A tool that is not a function", "tools");
        Json decl{{"name", GetString(fn, "name")}};
        if (fn.contains("description")) decl["description"] = fn["description"];
        if (fn.contains("parameters") && fn["parameters"].is_object()) decl["parametersJsonSchema"] = fn["parameters"];
        decls.push_back(std::move(decl));
      }
      out["tools"] = Json::array({Json{{"functionDeclarations", std::move(decls)}}});
      if (in.contains("tool_choice")) {
        const Json& tc = in["tool_choice"];
        Json cfg;
        if (tc == "auto") cfg = Json{{"mode", "AUTO"}};
        else if (tc == "required") cfg = Json{{"mode", "ANY"}};
        else if (tc == "none") cfg = Json{{"mode", "NONE"}};
        else if (tc.is_object() && tc.contains("function") && tc["function"].is_object())
          cfg = Json{{"mode", "ANY"}, {"allowedFunctionNames", Json::array({GetString(tc["function"], "name")})}};
        if (!cfg.is_null()) out["toolConfig"] = Json{{"functionCallingConfig", std::move(cfg)}};
      }
    }

    const bool stream = in.contains("stream") && in["stream"] == true;
    UpstreamRequest r;
    r.scheme = provider.scheme;
    r.host = provider.host;
    r.port = provider.port;
    r.path = provider.base_path + "/models/" + UrlEncode(GetString(in, "model")) +
             (stream ? ":streamGenerateContent?alt=sse" : ":generateContent");
    r.stream = stream;
    for (const auto& h : provider.headers) r.headers.push_back({h.name, h.value});
    r.headers.push_back({"Content-Type", "application/json"});
    r.headers.push_back({"Accept", stream ? "text/event-stream" : "application/json"});
    r.headers.push_back({"User-Agent", "warden/0.1"});
    if (!provider.api_key.empty()) r.headers.push_back({"x-goog-api-key", std::string(provider.api_key.Reveal())});
    r.body = Dump(out);
    return r;
  }

  Result<Json> TranslateResponse(Operation, const Json& body) const override {
    if (!body.is_object()) return InvalidResponse("not a JSON object");
    if (auto blocked = Blocked(body)) return *blocked;
    if (!body.contains("candidates") || !body["candidates"].is_array() || body["candidates"].empty())
      return InvalidResponse("no candidates");
    Json choices = Json::array();
    int index = 0;
    for (const Json& c : body["candidates"]) {
      std::string text;
      Json calls = Json::array();
      ReadParts(c, text, calls);
      Json message{{"role", "assistant"}, {"content", text.empty() && !calls.empty() ? Json() : Json(text)}, {"refusal", nullptr}};
      const bool has_calls = !calls.empty();
      if (has_calls) message["tool_calls"] = std::move(calls);
      std::string reason = c.is_object() && c.contains("finishReason") && c["finishReason"].is_string()
                               ? c["finishReason"].get<std::string>() : "STOP";
      choices.push_back(Json{{"index", index++},
                             {"message", std::move(message)},
                             {"logprobs", nullptr},
                             {"finish_reason", FinishReason(reason, has_calls)}});
    }
    Json out = CanonicalCompletion(GetString(body, "responseId", "chatcmpl-" + ToHex(RandomBytes(12))),
                                   GetString(body, "modelVersion"), Json::object(), "stop",
                                   Usage(body.contains("usageMetadata") ? body["usageMetadata"] : Json::object()));
    out["choices"] = std::move(choices);
    return out;
  }

  std::unique_ptr<StreamDecoder> NewStreamDecoder() const override {
    return std::make_unique<GeminiStreamDecoder>();
  }

  Error TranslateError(const ProviderConfig& provider, int status, std::string_view text) const override {
    std::string message, code;
    if (auto j = ParseJson(text); j && j->is_object() && j->contains("error") && (*j)["error"].is_object()) {
      const Json& e = (*j)["error"];
      if (e.contains("message") && e["message"].is_string()) message = e["message"].get<std::string>();
      if (e.contains("status") && e["status"].is_string()) {
        code = e["status"].get<std::string>();
        for (char& ch : code) ch = static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
      }
    }
    return ProviderError(provider, status, std::move(message), "", code, "");
  }
};

}  // namespace

const ProviderAdapter& GeminiAdapter() {
  static const Gemini adapter;
  return adapter;
}

}  // namespace warden
