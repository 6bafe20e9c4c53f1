// The `openai` kind (OpenAI and every OpenAI-compatible API) and the `azure` kind (the same body
// at Azure OpenAI's URL, with its `api-key` header and `api-version` parameter).
#include "common/util.h"
#include "providers/adapter.h"

namespace warden {
namespace {

bool IsStream(const Json& body) {
  auto stream = body.find("stream");
  return stream != body.end() && stream->is_boolean() && stream->get<bool>();
}

class OpenAIStreamDecoder : public StreamDecoder {
 public:
  Status Decode(const SseEvent& ev, std::vector<Json>& out) override {
    if (complete_) return Status::Ok();
    if (ev.data == "[DONE]") {
      complete_ = true;
      return Status::Ok();
    }
    auto json = ParseJson(ev.data);
    if (!json || !json->is_object()) return MalformedEvent();
    if (json->contains("error"))
      return Error::BadGateway("the provider reported an error in the stream", "upstream_stream_error", true);
    out.push_back(std::move(*json));
    return Status::Ok();
  }
  bool complete() const override { return complete_; }
  Status Finish(std::vector<Json>&) override { return complete_ ? Status::Ok() : Status(StreamCut()); }

 private:
  bool complete_ = false;
};

class OpenAICompatible : public ProviderAdapter {
 public:
  explicit OpenAICompatible(bool azure) : azure_(azure) {}

  bool Supports(Operation) const override { return true; }

  Result<UpstreamRequest> BuildRequest(const ProviderConfig& provider, Operation op,
                                       const Json& canonical) const override {
    UpstreamRequest r;
    r.scheme = provider.scheme;
    r.host = provider.host;
    r.port = provider.port;
    r.method = "POST";
    const char* endpoint = op == Operation::kEmbeddings ? "/embeddings" : "/chat/completions";
    Json body = canonical;
    r.stream = op == Operation::kChat && IsStream(body);
    // Usage at the end of every stream, so spend and token limits count real figures.
    if (r.stream && provider.stream_usage) {
      Json& opts = body["stream_options"];
      if (!opts.is_object()) opts = Json::object();
      opts["include_usage"] = true;
    }
    if (azure_) {
      r.path = provider.base_path + "/openai/deployments/" + UrlEncode(GetString(body, "model")) +
               endpoint + "?api-version=" + UrlEncode(provider.api_version);
    } else {
      r.path = provider.base_path + endpoint;
    }
    for (const auto& h : provider.headers) r.headers.push_back({h.name, h.value});
    r.headers.push_back({"Content-Type", "application/json"});
    r.headers.push_back({"Accept", r.stream ? "text/event-stream" : "application/json"});
    r.headers.push_back({"User-Agent", "warden/0.1"});
    if (!provider.api_key.empty()) {
      if (azure_) r.headers.push_back({"api-key", std::string(provider.api_key.Reveal())});
      else r.headers.push_back({"Authorization", "Bearer " + std::string(provider.api_key.Reveal())});
    }
    r.body = Dump(body);
    return r;
  }

  Result<Json> TranslateResponse(Operation, const Json& body) const override {
    if (!body.is_object()) return InvalidResponse("not a JSON object");
    return body;
  }

  std::unique_ptr<StreamDecoder> NewStreamDecoder() const override {
    return std::make_unique<OpenAIStreamDecoder>();
  }

  Error TranslateError(const ProviderConfig& provider, int status, std::string_view text) const override {
    std::string message, type, code, param;
    if (auto j = ParseJson(text); j && j->is_object() && j->contains("error")) {
      const Json& e = (*j)["error"];
      if (e.is_object()) {
        if (e.contains("message") && e["message"].is_string()) message = e["message"].get<std::string>();
        if (e.contains("type") && e["type"].is_string()) type = e["type"].get<std::string>();
        if (e.contains("code") && e["code"].is_string()) code = e["code"].get<std::string>();
        if (e.contains("param") && e["param"].is_string()) param = e["param"].get<std::string>();
      } else if (e.is_string()) {
        message = e.get<std::string>();
      }
    }
    return ProviderError(provider, status, std::move(message), type, code, param);
  }

 private:
  bool azure_;
};

}  // namespace

const ProviderAdapter& OpenAIAdapter() {
  static const OpenAICompatible adapter(false);
  return adapter;
}

const ProviderAdapter& AzureAdapter() {
  static const OpenAICompatible adapter(true);
  return adapter;
}

}  // namespace warden
