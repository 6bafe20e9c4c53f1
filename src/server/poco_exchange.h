// PocoClientExchange: ClientExchange over one Poco HTTPServerRequest/Response pair.
//
// Contract: the only place (with server.cc) where the gateway meets Poco's server classes.
// Streams are sent with chunked transfer encoding, `Cache-Control: no-cache` and
// `X-Accel-Buffering: no` (so a reverse proxy in front does not buffer them), and every Write()
// is flushed to the socket. `100 Continue` is sent by ReadBody(), when the gateway has decided
// to read the body, never before. Chunked request bodies are decoded strictly (ChunkedDecoder,
// http_checks.h) and the connection is closed after such a request. No method throws: socket failures turn into `false` from
// StartStream()/Write() or an Error from ReadBody(). Used by the one thread serving the request.
#pragma once

#include <Poco/Net/HTTPServerRequestImpl.h>
#include <Poco/Net/HTTPServerResponse.h>

#include "gateway/client_exchange.h"

namespace warden {

class PocoClientExchange : public ClientExchange {
 public:
  // A body must average `min_body_rate` bytes/s once `grace_ms` have passed since the head
  // (slow POST); slower is a 408.
  PocoClientExchange(Poco::Net::HTTPServerRequestImpl& request, Poco::Net::HTTPServerResponse& response,
                     int grace_ms = 10000, size_t min_body_rate = 1024);

  std::string_view method() const override { return request_.getMethod(); }
  std::string_view path() const override { return path_; }
  std::string_view query() const override { return query_; }
  std::string header(std::string_view name) const override;
  std::vector<std::string> header_names() const override;
  std::string client_address() const override;
  bool has_body() const override;
  Result<std::string> ReadBody(size_t limit) override;

  void SetHeader(const std::string& name, const std::string& value) override;
  void CloseAfterResponse() override;
  void Send(int status, std::string_view content_type, std::string_view body) override;
  bool StartStream(int status, std::string_view content_type) override;
  bool Write(std::string_view data) override;
  bool started() const override { return started_; }

 private:
  Result<std::string> ReadChunked(size_t limit);
  bool TooSlow(size_t bytes_so_far) const;
  Error SlowBody();
  Error BodyTooLarge(size_t limit);

  Poco::Net::HTTPServerRequestImpl& request_;
  Poco::Net::HTTPServerResponse& response_;
  const int grace_ms_;
  const size_t min_body_rate_;
  const int64_t start_ns_;
  std::string path_;
  std::string query_;
  std::ostream* stream_ = nullptr;
  bool started_ = false;
  bool broken_ = false;
  bool continued_ = false;
};

}  // namespace warden
