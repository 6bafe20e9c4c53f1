// Server: an HTTP/1.1 listener on Asio event loops (C++20 coroutines) in front of a
// RequestHandler — the Gateway on the client listener, the AdminApi on the admin listener.
//
// Contract: Start() binds the configured address (port 0 = any free port; port() then tells
// which) and serves on the process's event loops (event_loops.h, borrowed; started by Start()
// if they are not running) and, for a blocking handler, on a pool of `server.worker_threads`
// threads of its own. Connections live on the loops (connection.h):
// waiting for a head, a body or the next request holds no thread, so the thread count does not
// grow with connections. At most `server.max_connections` are open at once; one beyond that
// gets an immediate 503 `overloaded` with `Retry-After: 1` (at most 1024 such answers at once,
// the rest are closed). Stop() stops accepting, closes idle connections, gives the requests in
// flight (streams included) `server.drain_timeout` to finish, then cuts their connections and
// waits for the handlers to return; it is idempotent. The handler is borrowed and must outlive
// the Server.
#pragma once

#include <cstdint>
#include <memory>

#include "common/result.h"
#include "config/config.h"
#include "gateway/client_exchange.h"

namespace asio {
class thread_pool;
}

namespace warden {
class EventLoops;
}

namespace warden {

class Server {
 public:
  // A blocking handler, run on a pool of `worker_threads` threads owned by the server.
  Server(const ServerConfig& config, EventLoops* loops, RequestHandler* handler);
  // A coroutine handler, run on the loops; `pool` (borrowed) serves as the worker pool.
  Server(const ServerConfig& config, EventLoops* loops, AsyncRequestHandler* handler, asio::thread_pool* pool);
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
