// One client connection on an event loop: HTTP/1.1 requests read and answered in turn by a C++20
// coroutine (Asio), so a connection that waits — for its head, its body, or between requests —
// holds no thread.
//
// Contract: Serve() takes an accepted socket and runs the connection on the socket's executor
// (one event loop thread) until the client closes, a limit ends it, or the listener cuts it.
// A request head must arrive whole within `server.header_timeout` (the first one counted from
// the accept, TLS handshake included) and within `server.max_header_size`; it is split by
// ParseRequestHead and checked by CheckHeadFraming/CheckRequestHead (http_checks.h) before any
// handler sees it; a refused head gets an OpenAI-shaped error and the connection closes. Each
// request then runs its handler: a coroutine handler on this loop, a blocking one on the
// listener's pool (its reads and writes of this connection are then done on the loop while the
// pool thread waits); the answer goes out from the loop. Whenever the connection closes with client bytes possibly
// unread (an error, a 413, a body the handler did not read) it closes as nginx's lingering
// close does: the sending side first, then what the client still sends is read and dropped for
// a bounded time, so the answer is not destroyed by a reset. Idle keep-alive connections close
// after `server.keep_alive_idle`.
// Thread-safety: a Connection is touched by its loop thread, and by the pool thread running its
// request only while the loop waits for that request; ListenerShared is shared by all.
#pragma once

#include <asio/ip/tcp.hpp>
#include <asio/ssl/context.hpp>
#include <asio/thread_pool.hpp>

#include <atomic>
#include <memory>
#include <unordered_set>

#include "common/mutex.h"
#include "config/config.h"
#include "gateway/client_exchange.h"

namespace warden {

class Connection;

// What every connection of one listener shares.
struct ListenerShared {
  ServerConfig config;
  // Exactly one of the two: a coroutine handler runs on the connection's loop, a blocking one
  // on the pool.
  AsyncRequestHandler* async_handler = nullptr;
  RequestHandler* handler = nullptr;
  asio::thread_pool* pool = nullptr;  // where blocking handlers run
  asio::ssl::context* tls = nullptr;  // null: plain HTTP
  std::atomic<bool> stopping{false};
  Mutex mu;
  std::unordered_set<std::shared_ptr<Connection>> open GUARDED_BY(mu);
};

// Serves `socket` (accepted on, and bound to, one loop's executor) until it closes.
void Serve(ListenerShared* shared, asio::ip::tcp::socket socket);

// From any thread: closes `connection` on its loop — at once if `idle_only` is false, else only
// if it is waiting between requests (it then closes as soon as it becomes idle).
void Cut(const std::shared_ptr<Connection>& connection, bool idle_only);

}  // namespace warden
