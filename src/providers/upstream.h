// UpstreamClient: the one interface through which Warden talks to a provider.
//
// Contract: every method that waits is a C++20 coroutine (asio::awaitable) and is awaited on an
// event loop: while it waits for the network it holds no thread. Send() delivers one HTTP
// request and completes once the response head has arrived
// (bounded by the first-byte timeout), or an Error. Transport failures (connect refused, a
// timeout, TLS, a response that broke off or went silent) are retryable: whether a retry may
// still happen is decided by how far the request got (Error::stage, set by the forwarder) —
// never after the first byte reached the client.
// The caller then reads the body incrementally through the returned UpstreamExchange; for a
// stream each read is bounded by the idle timeout, for a plain answer by the first-byte timeout
// (a provider may send the head before it has finished generating). Destroying an exchange whose body was read to the end returns
// its connection to the keep-alive pool; otherwise the connection is closed.
// Implementations are thread-safe: requests on every loop call Send() at once; one exchange is
// used by one request at a time.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include <asio/awaitable.hpp>

#include "common/result.h"

namespace warden {

struct Header {
  std::string name;
  std::string value;
};

struct UpstreamRequest {
  std::string scheme = "http";  // "http" | "https"
  std::string host;
  uint16_t port = 80;
  std::string method = "POST";
  std::string path;             // absolute path including query
  std::vector<Header> headers;  // may carry the provider credential: never log them
  std::string body;
  bool stream = false;          // an event stream is expected: reads are bounded by the idle timeout
};

struct UpstreamHead {
  int status = 0;
  std::vector<Header> headers;
  std::string Get(std::string_view name) const;  // case-insensitive; "" if absent
};

class UpstreamExchange {
 public:
  virtual ~UpstreamExchange() = default;
  virtual const UpstreamHead& head() const = 0;
  // Returns the next piece of the body as soon as any bytes are available; an empty view means
  // the body ended cleanly. The view stays valid until the next call.
  virtual asio::awaitable<Result<std::string_view>> ReadSome() = 0;
  // Reads the rest of the body; fails with 502 if it exceeds `limit` bytes.
  asio::awaitable<Result<std::string>> ReadAll(size_t limit);
  // Hands the connection back to the keep-alive pool now if the body was read to its end
  // (otherwise it is closed); called before answering the client, so the next request can
  // reuse it. The destructor does the same. Idempotent.
  virtual void Release() {}
};

class UpstreamClient {
 public:
  virtual ~UpstreamClient() = default;
  virtual asio::awaitable<Result<std::unique_ptr<UpstreamExchange>>> Send(const UpstreamRequest& request) = 0;
};

}  // namespace warden
