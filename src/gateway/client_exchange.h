// ClientExchange: the downstream side of one HTTP exchange, as the gateway sees it.
//
// Contract: the server (src/server/connection.h) implements it over an event-loop connection;
// tests can implement it in memory. Headers set with SetHeader() go out with whichever response
// is started first. Once Send() or StartStream() has been called the status cannot change any
// more (started() is true); after that only Write() is allowed (for streams). Send() hands the
// whole answer over; it goes out when the handler returns. Write() has written to the socket
// when it completes, and yields false once the client has gone away. The I/O comes twice: as
// blocking calls for handlers that run on the worker pool (RequestHandler) and as coroutines
// for handlers that run on the connection's event loop (AsyncRequestHandler). Used by one
// request at a time.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include <asio/awaitable.hpp>

#include "common/result.h"

namespace warden {

class ClientExchange {
 public:
  virtual ~ClientExchange() = default;

  virtual std::string_view method() const = 0;
  virtual std::string_view path() const = 0;  // without the query string
  // The raw query string (after '?', still percent-encoded); "" if none.
  virtual std::string_view query() const { return {}; }
  virtual std::string header(std::string_view name) const = 0;  // "" if absent
  virtual std::vector<std::string> header_names() const = 0;      // lower-cased
  virtual std::string client_address() const = 0;
  // True if the request announced a body (Content-Length > 0 or chunked).
  virtual bool has_body() const = 0;
  // Reads the whole body; a 413 Error if it is larger than `limit` (read no further then).
  virtual Result<std::string> ReadBody(size_t limit) = 0;
  virtual asio::awaitable<Result<std::string>> AsyncReadBody(size_t limit) = 0;

  virtual void SetHeader(const std::string& name, const std::string& value) = 0;
  // Asks for the connection to be closed after this response (no keep-alive).
  virtual void CloseAfterResponse() = 0;
  virtual void Send(int status, std::string_view content_type, std::string_view body) = 0;
  virtual bool StartStream(int status, std::string_view content_type) = 0;
  virtual bool Write(std::string_view data) = 0;
  virtual asio::awaitable<bool> AsyncStartStream(int status, std::string_view content_type) = 0;
  virtual asio::awaitable<bool> AsyncWrite(std::string_view data) = 0;
  virtual bool started() const = 0;
};

// What a listener runs for each request. Handle() always answers and never throws. Thread-safe.
// A RequestHandler is blocking code and runs on the worker pool (the AdminApi: its work is
// RocksDB reads and writes).
class RequestHandler {
 public:
  virtual ~RequestHandler() = default;
  virtual void Handle(ClientExchange& client) noexcept = 0;
};

// An AsyncRequestHandler runs on the connection's event loop and must not block it: whatever
// blocks (storage, large CPU work) it hands to the worker pool and awaits (the Gateway).
class AsyncRequestHandler {
 public:
  virtual ~AsyncRequestHandler() = default;
  virtual asio::awaitable<void> Handle(ClientExchange& client) = 0;  // never throws
};

}  // namespace warden
