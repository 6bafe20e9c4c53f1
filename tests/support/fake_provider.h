// FakeProvider: an OpenAI-compatible provider on 127.0.0.1, port 0, for integration tests.
//
// Each request is recorded (method, path, headers, body) and answered by a Handler that the test
// may replace at any time, so faults (refused, hang, 5xx, 429, slow first byte, a stream cut
// mid-way, malformed chunks) are injected by writing a few lines of handler. HTTPS mode serves
// a certificate given as PEM files. Thread-safe.
#pragma once

#include <Poco/Net/Context.h>
#include <Poco/Net/HTTPServerRequest.h>
#include <Poco/Net/HTTPServerResponse.h>

#include <atomic>
#include <condition_variable>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "common/json.h"

namespace warden::testing {

struct FakeRequest {
  std::string method;
  std::string path;
  std::map<std::string, std::string> headers;  // names lower-cased
  std::string body;
  Json json() const;
};

using FakeHandler = std::function<void(const FakeRequest&, Poco::Net::HTTPServerResponse&)>;

class FakeProvider {
 public:
  explicit FakeProvider(FakeHandler handler = DefaultHandler());
  // HTTPS with the given certificate and key (PEM files).
  FakeProvider(FakeHandler handler, const std::string& cert_file, const std::string& key_file);
  ~FakeProvider();

  uint16_t port() const { return port_; }
  std::string base_url() const;  // http(s)://127.0.0.1:<port>/v1
  void set_handler(FakeHandler handler);
  std::vector<FakeRequest> requests() const;
  int connections() const;  // TCP connections accepted so far

  // A plain OpenAI imitation: chat (non-stream answers "fake answer"; stream sends "fa", "ke",
  // " answer", a usage chunk if stream_options.include_usage, then [DONE]; usage 5 in, 2 out)
  // and embeddings (3 floats per input); the request's model is echoed.
  static FakeHandler DefaultHandler();
  // The same answers in the Anthropic Messages format (POST …/messages; usage 5 in, 2 out) and
  // in the Gemini format (…/models/M:generateContent and :streamGenerateContent?alt=sse).
  static FakeHandler AnthropicHandler();
  static FakeHandler GeminiHandler();

 struct Impl;

 private:
  void Start(Poco::Net::Context::Ptr tls);
  std::unique_ptr<Impl> impl_;
  uint16_t port_ = 0;
  bool tls_ = false;
};

// Handler helpers.
void ReplyJson(Poco::Net::HTTPServerResponse& response, int status, const Json& body,
               const std::map<std::string, std::string>& headers = {});
// Starts a chunked text/event-stream answer; write events with SendEvent (flushed each).
std::ostream& StartEventStream(Poco::Net::HTTPServerResponse& response);
void SendEvent(std::ostream& out, const std::string& data);
void SendNamedEvent(std::ostream& out, const std::string& event, const Json& data);
Json ChatChunk(const std::string& model, const std::string& content, bool finish = false);

// A one-shot latch with a bounded wait (tests never block forever).
class Latch {
 public:
  void Open();
  // True if opened within `ms`, false on timeout.
  bool Wait(int ms);

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  bool open_ = false;
};

// A port on 127.0.0.1 that nothing listens on (bound, then closed).
uint16_t UnusedPort();

}  // namespace warden::testing
