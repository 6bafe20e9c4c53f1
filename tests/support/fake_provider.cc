#include "support/fake_provider.h"

#include <Poco/Net/HTTPRequestHandler.h>
#include <Poco/Net/HTTPRequestHandlerFactory.h>
#include <Poco/Net/HTTPServer.h>
#include <Poco/Net/SSLManager.h>
#include <Poco/Net/SecureServerSocket.h>
#include <Poco/Net/ServerSocket.h>
#include <Poco/StreamCopier.h>

#include <algorithm>
#include <chrono>

namespace warden::testing {

Json FakeRequest::json() const {
  auto j = ParseJson(body);
  return j ? *j : Json();
}

struct FakeProvider::Impl {
  mutable std::mutex mu;
  FakeHandler handler;
  std::vector<FakeRequest> requests;
  std::unique_ptr<Poco::Net::HTTPServer> server;
};

namespace {

class Handler : public Poco::Net::HTTPRequestHandler {
 public:
  explicit Handler(FakeProvider::Impl* impl) : impl_(impl) {}
  void handleRequest(Poco::Net::HTTPServerRequest& req, Poco::Net::HTTPServerResponse& resp) override {
    FakeRequest r;
    r.method = req.getMethod();
    r.path = req.getURI();
    for (const auto& [name, value] : req) {
      std::string lower = name;
      std::transform(lower.begin(), lower.end(), lower.begin(), ::tolower);
      r.headers[lower] = value;
    }
    Poco::StreamCopier::copyToString(req.stream(), r.body);
    FakeHandler handler;
    {
      std::lock_guard lock(impl_->mu);
      impl_->requests.push_back(r);
      handler = impl_->handler;
    }
    try {
      handler(r, resp);
    } catch (const std::exception&) {
      // The handler simulated a broken connection (or the gateway hung up); nothing to do.
    }
  }

 private:
  FakeProvider::Impl* impl_;
};

class Factory : public Poco::Net::HTTPRequestHandlerFactory {
 public:
  explicit Factory(FakeProvider::Impl* impl) : impl_(impl) {}
  Poco::Net::HTTPRequestHandler* createRequestHandler(const Poco::Net::HTTPServerRequest&) override {
    return new Handler(impl_);
  }

 private:
  FakeProvider::Impl* impl_;
};

}  // namespace

FakeProvider::FakeProvider(FakeHandler handler) : impl_(std::make_unique<Impl>()) {
  impl_->handler = std::move(handler);
  Start(nullptr);
}

FakeProvider::FakeProvider(FakeHandler handler, const std::string& cert_file,
                           const std::string& key_file)
    : impl_(std::make_unique<Impl>()) {
  impl_->handler = std::move(handler);
  Poco::Net::initializeSSL();
  Poco::Net::Context::Params p;
  p.certificateFile = cert_file;
  p.privateKeyFile = key_file;
  p.verificationMode = Poco::Net::Context::VERIFY_NONE;
  p.loadDefaultCAs = false;
  Poco::Net::Context::Ptr ctx = new Poco::Net::Context(Poco::Net::Context::TLS_SERVER_USE, p);
  tls_ = true;
  Start(ctx);
}

void FakeProvider::Start(Poco::Net::Context::Ptr tls) {
  auto* params = new Poco::Net::HTTPServerParams;
  params->setMaxThreads(32);
  params->setKeepAlive(true);
  params->setKeepAliveTimeout(Poco::Timespan(30, 0));
  params->setTimeout(Poco::Timespan(10, 0));
  Poco::Net::SocketAddress address("127.0.0.1", 0);
  if (tls) {
    Poco::Net::SecureServerSocket socket(address, 64, tls);
    port_ = socket.address().port();
    impl_->server = std::make_unique<Poco::Net::HTTPServer>(new Factory(impl_.get()), socket, params);
  } else {
    Poco::Net::ServerSocket socket(address, 64);
    port_ = socket.address().port();
    impl_->server = std::make_unique<Poco::Net::HTTPServer>(new Factory(impl_.get()), socket, params);
  }
  impl_->server->start();
}

FakeProvider::~FakeProvider() { impl_->server->stopAll(true); }

std::string FakeProvider::base_url() const {
  return std::string(tls_ ? "https" : "http") + "://127.0.0.1:" + std::to_string(port_) + "/v1";
}

void FakeProvider::set_handler(FakeHandler handler) {
  std::lock_guard lock(impl_->mu);
  impl_->handler = std::move(handler);
}

std::vector<FakeRequest> FakeProvider::requests() const {
  std::lock_guard lock(impl_->mu);
  return impl_->requests;
}

int FakeProvider::connections() const { return impl_->server->totalConnections(); }

FakeHandler FakeProvider::DefaultHandler() {
  return [](const FakeRequest& r, Poco::Net::HTTPServerResponse& resp) {
    Json req = r.json();
    std::string model = req.value("model", "");
    if (r.path.ends_with("/embeddings")) {
      Json data = Json::array();
      Json inputs = req["input"].is_array() ? req["input"] : Json::array({req["input"]});
      for (size_t i = 0; i < inputs.size(); ++i)
        data.push_back({{"object", "embedding"}, {"index", i}, {"embedding", {0.25, -0.5, 1.0}}});
      ReplyJson(resp, 200,
                {{"object", "list"}, {"data", data}, {"model", model},
                 {"usage", {{"prompt_tokens", 2}, {"total_tokens", 2}}}},
                {{"x-request-id", "fake-req-1"}});
      return;
    }
    if (req.value("stream", false)) {
      std::ostream& out = StartEventStream(resp);
      SendEvent(out, Dump(ChatChunk(model, "fa")));
      SendEvent(out, Dump(ChatChunk(model, "ke")));
      SendEvent(out, Dump(ChatChunk(model, " answer", true)));
      // Like OpenAI: a last chunk with usage and no choices when the request asked for it.
      if (req.contains("stream_options") && req["stream_options"].value("include_usage", false))
        SendEvent(out, Dump(Json{{"id", "chatcmpl-fake"}, {"object", "chat.completion.chunk"}, {"model", model},
                                 {"choices", Json::array()},
                                 {"usage", {{"prompt_tokens", 5}, {"completion_tokens", 2}, {"total_tokens", 7}}}}));
      SendEvent(out, "[DONE]");
      return;
    }
    ReplyJson(resp, 200,
              {{"id", "chatcmpl-fake"},
               {"object", "chat.completion"},
               {"created", 1700000000},
               {"model", model},
               {"choices",
                {{{"index", 0},
                  {"message", {{"role", "assistant"}, {"content", "fake answer"}}},
                  {"finish_reason", "stop"}}}},
               {"usage", {{"prompt_tokens", 5}, {"completion_tokens", 2}, {"total_tokens", 7}}}},
              {{"x-request-id", "fake-req-1"}});
  };
}

FakeHandler FakeProvider::AnthropicHandler() {
  return [](const FakeRequest& r, Poco::Net::HTTPServerResponse& resp) {
    Json req = r.json();
    std::string model = req.value("model", "");
    Json usage{{"input_tokens", 5}, {"output_tokens", 2}};
    if (req.value("stream", false)) {
      std::ostream& out = StartEventStream(resp);
      SendNamedEvent(out, "message_start",
                     {{"type", "message_start"},
                      {"message", {{"id", "msg_fake"}, {"type", "message"}, {"role", "assistant"}, {"model", model},
                                   {"content", Json::array()}, {"stop_reason", nullptr}, {"stop_sequence", nullptr},
                                   {"usage", {{"input_tokens", 5}, {"output_tokens", 1}}}}}});
      SendNamedEvent(out, "content_block_start",
                     {{"type", "content_block_start"}, {"index", 0}, {"content_block", {{"type", "text"}, {"text", ""}}}});
      SendNamedEvent(out, "ping", {{"type", "ping"}});
      for (const char* t : {"fa", "ke", " answer"})
        SendNamedEvent(out, "content_block_delta",
                       {{"type", "content_block_delta"}, {"index", 0}, {"delta", {{"type", "text_delta"}, {"text", t}}}});
      SendNamedEvent(out, "content_block_stop", {{"type", "content_block_stop"}, {"index", 0}});
      SendNamedEvent(out, "message_delta",
                     {{"type", "message_delta"}, {"delta", {{"stop_reason", "end_turn"}, {"stop_sequence", nullptr}}},
                      {"usage", {{"output_tokens", 2}}}});
      SendNamedEvent(out, "message_stop", {{"type", "message_stop"}});
      return;
    }
    ReplyJson(resp, 200,
              {{"id", "msg_fake"}, {"type", "message"}, {"role", "assistant"}, {"model", model},
               {"content", {{{"type", "text"}, {"text", "fake answer"}}}},
               {"stop_reason", "end_turn"}, {"stop_sequence", nullptr}, {"usage", usage}},
              {{"request-id", "fake-req-1"}});
  };
}

FakeHandler FakeProvider::GeminiHandler() {
  return [](const FakeRequest& r, Poco::Net::HTTPServerResponse& resp) {
    size_t m = r.path.find("/models/");
    size_t colon = r.path.find(':', m == std::string::npos ? 0 : m);
    std::string model = m == std::string::npos || colon == std::string::npos ? "" : r.path.substr(m + 8, colon - m - 8);
    auto part = [](const std::string& text) {
      return Json{{"content", {{"role", "model"}, {"parts", {{{"text", text}}}}}}, {"index", 0}};
    };
    Json usage{{"promptTokenCount", 5}, {"candidatesTokenCount", 2}, {"totalTokenCount", 7}};
    if (r.path.find(":streamGenerateContent") != std::string::npos) {
      std::ostream& out = StartEventStream(resp);
      SendEvent(out, Dump({{"candidates", {part("fa")}}, {"modelVersion", model}, {"responseId", "gem-fake"}}));
      SendEvent(out, Dump({{"candidates", {part("ke")}}, {"modelVersion", model}, {"responseId", "gem-fake"}}));
      Json last = part(" answer");
      last["finishReason"] = "STOP";
      SendEvent(out, Dump({{"candidates", {last}}, {"usageMetadata", usage}, {"modelVersion", model}, {"responseId", "gem-fake"}}));
      return;
    }
    Json c = part("fake answer");
    c["finishReason"] = "STOP";
    ReplyJson(resp, 200, {{"candidates", {c}}, {"usageMetadata", usage}, {"modelVersion", model}, {"responseId", "gem-fake"}});
  };
}

void ReplyJson(Poco::Net::HTTPServerResponse& response, int status, const Json& body,
               const std::map<std::string, std::string>& headers) {
  for (const auto& [k, v] : headers) response.set(k, v);
  std::string text = Dump(body);
  response.setStatusAndReason(static_cast<Poco::Net::HTTPResponse::HTTPStatus>(status));
  response.setContentType("application/json");
  response.setContentLength(static_cast<std::streamsize>(text.size()));
  response.send() << text;
}

std::ostream& StartEventStream(Poco::Net::HTTPServerResponse& response) {
  response.setContentType("text/event-stream");
  response.setChunkedTransferEncoding(true);
  std::ostream& out = response.send();
  out.flush();
  return out;
}

void SendEvent(std::ostream& out, const std::string& data) {
  out << "data: " << data << "\n\n";
  out.flush();
}

void SendNamedEvent(std::ostream& out, const std::string& event, const Json& data) {
  out << "event: " << event << "\ndata: " << Dump(data) << "\n\n";
  out.flush();
}

Json ChatChunk(const std::string& model, const std::string& content, bool finish) {
  return {{"id", "chatcmpl-fake"},
          {"object", "chat.completion.chunk"},
          {"created", 1700000000},
          {"model", model},
          {"choices",
           {{{"index", 0},
             {"delta", {{"content", content}}},
             {"finish_reason", finish ? Json("stop") : Json()}}}}};
}

void Latch::Open() {
  std::lock_guard lock(mu_);
  open_ = true;
  cv_.notify_all();
}

bool Latch::Wait(int ms) {
  std::unique_lock lock(mu_);
  return cv_.wait_for(lock, std::chrono::milliseconds(ms), [&] { return open_; });
}

uint16_t UnusedPort() {
  Poco::Net::ServerSocket socket(Poco::Net::SocketAddress("127.0.0.1", 0));
  uint16_t port = socket.address().port();
  socket.close();
  return port;
}

}  // namespace warden::testing
