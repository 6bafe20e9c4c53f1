#include "providers/echo_upstream.h"

#include <sodium.h>

#include <cmath>
#include <cstring>
#include <deque>

#include "common/json.h"
#include "common/util.h"

namespace warden {
namespace {

class BufferedExchange : public UpstreamExchange {
 public:
  BufferedExchange(int status, std::string content_type, std::deque<std::string> pieces)
      : pieces_(std::move(pieces)) {
    head_.status = status;
    head_.headers.push_back({"Content-Type", std::move(content_type)});
  }
  const UpstreamHead& head() const override { return head_; }
  asio::awaitable<Result<std::string_view>> ReadSome() override {
    if (pieces_.empty()) co_return std::string_view();
    current_ = std::move(pieces_.front());
    pieces_.pop_front();
    co_return std::string_view(current_);
  }

 private:
  UpstreamHead head_;
  std::deque<std::string> pieces_;
  std::string current_;
};

std::unique_ptr<UpstreamExchange> JsonReply(int status, const Json& body) {
  return std::make_unique<BufferedExchange>(status, "application/json",
                                            std::deque<std::string>{Dump(body)});
}

std::unique_ptr<UpstreamExchange> ErrorReply(int status, const std::string& message) {
  Json body;
  body["error"] = {{"message", message}, {"type", "invalid_request_error"}, {"code", nullptr},
                   {"param", nullptr}};
  return JsonReply(status, body);
}

int64_t EstimateTokens(size_t bytes) { return static_cast<int64_t>((bytes + 3) / 4); }

// Text of a message's content: a string, or the text parts of an array.
std::string ContentText(const Json& content) {
  if (content.is_string()) return content.get<std::string>();
  std::string out;
  if (content.is_array()) {
    for (const auto& part : content) {
      if (part.is_object() && GetString(part, "type") == "text" && part.contains("text") &&
          part["text"].is_string()) {
        if (!out.empty()) out += " ";
        out += part["text"].get<std::string>();
      }
    }
  }
  return out;
}

std::unique_ptr<UpstreamExchange> Chat(const Json& req) {
  const Json& messages = req["messages"];
  std::string reply;
  size_t prompt_bytes = 0;
  for (const auto& m : messages) {
    if (!m.is_object() || !m.contains("content")) continue;
    std::string text = ContentText(m["content"]);
    prompt_bytes += text.size();
    if (GetString(m, "role") == "user") reply = text;
  }
  const std::string model = GetString(req, "model", "echo");
  const std::string id = "chatcmpl-echo" + ToHex(RandomBytes(8));
  const int64_t created = UnixSeconds();
  Json usage = {{"prompt_tokens", EstimateTokens(prompt_bytes)},
                {"completion_tokens", EstimateTokens(reply.size())},
                {"total_tokens", EstimateTokens(prompt_bytes) + EstimateTokens(reply.size())}};
  if (!GetBool(req, "stream", false)) {
    Json body = {{"id", id},
                 {"object", "chat.completion"},
                 {"created", created},
                 {"model", model},
                 {"choices", Json::array({{{"index", 0},
                                           {"message", {{"role", "assistant"}, {"content", reply}, {"refusal", nullptr}}},
                                           {"logprobs", nullptr},
                                           {"finish_reason", "stop"}}})},
                 {"usage", usage}};
    return JsonReply(200, body);
  }
  bool include_usage = req.contains("stream_options") && req["stream_options"].is_object() &&
                       GetBool(req["stream_options"], "include_usage", false);
  auto chunk = [&](Json delta, Json finish) {
    Json c = {{"id", id},
              {"object", "chat.completion.chunk"},
              {"created", created},
              {"model", model},
              {"choices", Json::array({{{"index", 0}, {"delta", std::move(delta)},
                                        {"logprobs", nullptr}, {"finish_reason", std::move(finish)}}})}};
    if (include_usage) c["usage"] = nullptr;
    return "data: " + Dump(c) + "\n\n";
  };
  std::deque<std::string> pieces;
  pieces.push_back(chunk({{"role", "assistant"}, {"content", ""}}, nullptr));
  // Word by word, keeping the spaces, so that joining the deltas gives the reply back exactly.
  size_t start = 0;
  while (start < reply.size()) {
    size_t next = reply.find(' ', start + 1);
    if (next == std::string::npos) next = reply.size();
    pieces.push_back(chunk({{"content", reply.substr(start, next - start)}}, nullptr));
    start = next;
  }
  pieces.push_back(chunk(Json::object(), "stop"));
  if (include_usage) {
    Json u = {{"id", id}, {"object", "chat.completion.chunk"}, {"created", created},
              {"model", model}, {"choices", Json::array()}, {"usage", usage}};
    pieces.push_back("data: " + Dump(u) + "\n\n");
  }
  pieces.push_back("data: [DONE]\n\n");
  return std::make_unique<BufferedExchange>(200, "text/event-stream", std::move(pieces));
}

std::vector<float> EmbedText(const std::string& text, size_t dims) {
  std::vector<float> v(dims);
  const std::string seed = Blake2b(text);
  double norm = 0;
  for (size_t i = 0; i < dims; ++i) {
    unsigned char b = static_cast<unsigned char>(seed[i % seed.size()]) ^ static_cast<unsigned char>(i * 31);
    v[i] = static_cast<float>(b) / 127.5f - 1.0f;
    norm += static_cast<double>(v[i]) * v[i];
  }
  norm = std::sqrt(norm > 0 ? norm : 1);
  for (auto& x : v) x = static_cast<float>(x / norm);
  return v;
}

std::unique_ptr<UpstreamExchange> Embeddings(const Json& req) {
  std::vector<std::string> inputs;
  const Json input = req.value("input", Json());
  if (input.is_string()) {
    inputs.push_back(input.get<std::string>());
  } else if (input.is_array()) {
    for (const auto& x : input) inputs.push_back(x.is_string() ? x.get<std::string>() : Dump(x));
  }
  size_t dims = 8;
  if (req.contains("dimensions") && req["dimensions"].is_number_unsigned())
    dims = std::clamp<size_t>(req["dimensions"].get<size_t>(), 1, 4096);
  bool base64 = GetString(req, "encoding_format", "float") == "base64";
  Json data = Json::array();
  size_t bytes = 0;
  for (size_t i = 0; i < inputs.size(); ++i) {
    bytes += inputs[i].size();
    std::vector<float> v = EmbedText(inputs[i], dims);
    Json item = {{"object", "embedding"}, {"index", i}};
    if (base64) {
      // Little-endian float32, as the OpenAI API sends it (x86-64 is little-endian).
      const auto* raw = reinterpret_cast<const unsigned char*>(v.data());
      size_t raw_len = v.size() * sizeof(float);
      std::string b64(sodium_base64_ENCODED_LEN(raw_len, sodium_base64_VARIANT_ORIGINAL), '\0');
      sodium_bin2base64(b64.data(), b64.size(), raw, raw_len, sodium_base64_VARIANT_ORIGINAL);
      b64.resize(std::strlen(b64.c_str()));
      item["embedding"] = b64;
    } else {
      item["embedding"] = v;
    }
    data.push_back(std::move(item));
  }
  Json body = {{"object", "list"},
               {"data", std::move(data)},
               {"model", GetString(req, "model", "echo")},
               {"usage", {{"prompt_tokens", EstimateTokens(bytes)}, {"total_tokens", EstimateTokens(bytes)}}}};
  return JsonReply(200, body);
}

bool EndsWith(const std::string& s, std::string_view suffix) {
  return s.size() >= suffix.size() && s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}

std::unique_ptr<UpstreamExchange> Answer(const UpstreamRequest& request) {
  auto req = ParseJson(request.body);
  if (!req || !req->is_object()) return ErrorReply(400, "the echo provider needs a JSON object");
  if (EndsWith(request.path, "/chat/completions")) {
    if (!(*req)["messages"].is_array()) return ErrorReply(400, "'messages' must be an array");
    return Chat(*req);
  }
  if (EndsWith(request.path, "/embeddings")) return Embeddings(*req);
  return ErrorReply(404, "the echo provider does not serve this endpoint");
}

}  // namespace

asio::awaitable<Result<std::unique_ptr<UpstreamExchange>>> EchoUpstream::Send(const UpstreamRequest& request) {
  co_return Answer(request);
}

}  // namespace warden
