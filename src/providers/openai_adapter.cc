#include "providers/openai_adapter.h"

namespace warden {

UpstreamRequest BuildOpenAIRequest(const ProviderConfig& provider, std::string_view endpoint,
                                   const Json& body) {
  UpstreamRequest r;
  r.scheme = provider.scheme;
  r.host = provider.host;
  r.port = provider.port;
  r.method = "POST";
  r.path = provider.base_path + std::string(endpoint);
  auto stream = body.find("stream");
  r.stream = stream != body.end() && stream->is_boolean() && stream->get<bool>();
  r.headers.push_back({"Content-Type", "application/json"});
  r.headers.push_back({"Accept", r.stream ? "text/event-stream" : "application/json"});
  r.headers.push_back({"User-Agent", "warden/0.1"});
  if (!provider.api_key.empty())
    r.headers.push_back({"Authorization", "Bearer " + provider.api_key.Reveal()});
  r.body = Dump(body);
  return r;
}

std::string ScrubCredential(const ProviderConfig& provider, std::string text) {
  const std::string& key = provider.api_key.Reveal();
  if (key.size() < 8) return text;
  for (size_t pos; (pos = text.find(key)) != std::string::npos;) text.replace(pos, key.size(), "[REDACTED]");
  return text;
}

Error TranslateOpenAIError(const ProviderConfig& provider, int status, std::string_view body) {
  if (status == 401 || status == 403) {
    return Error::BadGateway("the provider '" + provider.name +
                                 "' rejected the gateway's credential (HTTP " +
                                 std::to_string(status) + "); ask the operator to check its key",
                             "upstream_auth_failed", false);
  }
  std::string message, type, code, param;
  if (auto j = ParseJson(body); j && j->is_object() && j->contains("error")) {
    const Json& e = (*j)["error"];
    if (e.is_object()) {
      message = e.value("message", "");
      type = e.value("type", "");
      if (e.contains("code") && e["code"].is_string()) code = e["code"].get<std::string>();
      if (e.contains("param") && e["param"].is_string()) param = e["param"].get<std::string>();
    } else if (e.is_string()) {
      message = e.get<std::string>();
    }
  }
  message = ScrubCredential(provider, message);
  const std::string prefix = "provider '" + provider.name + "': ";
  // Client-side errors the provider found in the request are the client's to fix: pass them on.
  if (status == 400 || status == 404 || status == 409 || status == 413 || status == 422 ||
      status == 429) {
    Error e;
    e.status = status;
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
                           "upstream_error", retryable);
}

}  // namespace warden
