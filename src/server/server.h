// Server: an HTTP/1.1 listener (Poco TCPServer + our connection loop) in front of a
// RequestHandler — the Gateway on the client listener, the AdminApi on the admin listener.
//
// Contract: Start() binds the configured address (port 0 = any free port; port() then tells
// which) and serves each connection on a worker thread from a pool of
// `server.worker_threads`; at most `server.max_queued_connections` accepted connections wait
// for a worker, and a connection beyond that gets an immediate 503 with `Retry-After: 1` (from
// one extra thread; at most 1024 such connections wait for it, the rest are closed). A request
// head must arrive whole within `server.header_timeout` (slowloris) and within
// `server.max_header_size`; a body must keep `server.min_body_rate`. Read time, keep-alive idle
// time and requests per connection are bounded by the config. Every request goes to
// handler->Handle(). Stop() stops accepting, gives the requests in flight (streams included)
// `server.drain_timeout` to finish, then shuts their connections down and waits for the
// handlers to return; it is idempotent. The handler is borrowed and must outlive the Server.
#pragma once

#include <cstdint>
#include <memory>

#include "common/result.h"
#include "config/config.h"
#include "gateway/client_exchange.h"

namespace warden {

class Server {
 public:
  Server(const ServerConfig& config, RequestHandler* handler);
  ~Server();
  Server(const Server&) = delete;
  Server& operator=(const Server&) = delete;

  Status Start();
  uint16_t port() const;
  void Stop();

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace warden
