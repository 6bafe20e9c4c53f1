#include "server/server.h"

#include <openssl/ssl.h>

#include <asio/co_spawn.hpp>
#include <asio/detached.hpp>
#include <asio/executor_work_guard.hpp>
#include <asio/experimental/as_tuple.hpp>
#include <asio/io_context.hpp>
#include <asio/post.hpp>
#include <asio/steady_timer.hpp>
#include <asio/use_awaitable.hpp>
#include <asio/write.hpp>

#include <algorithm>
#include <atomic>
#include <future>
#include <chrono>
#include <thread>
#include <vector>

#include "common/awaitable.h"
#include "common/log.h"
#include "common/util.h"
#include "server/connection.h"
#include "server/event_loops.h"

namespace warden {
namespace {

using asio::awaitable;
using asio::ip::tcp;

// At most this many connections beyond max_connections are answered 503 at once; the rest of
// such a flood are closed without a word, so an overload never grows memory without bound.
constexpr int kMaxRejecting = 1024;

// The server side of TLS on a listener: TLS 1.2+, ECDHE with AEAD ciphers, the server's order;
// with client_ca_file, clients must present a certificate from that CA.
std::unique_ptr<asio::ssl::context> ServerTlsContext(const TlsListenerConfig& t) {
  auto context = std::make_unique<asio::ssl::context>(asio::ssl::context::tls_server);
  SSL_CTX* native = context->native_handle();
  SSL_CTX_set_min_proto_version(native, TLS1_2_VERSION);
  SSL_CTX_set_options(native, SSL_OP_CIPHER_SERVER_PREFERENCE | SSL_OP_NO_COMPRESSION | SSL_OP_NO_RENEGOTIATION);
  SSL_CTX_set_cipher_list(native,
                          "ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256:ECDHE-ECDSA-AES256-GCM-SHA384:"
                          "ECDHE-RSA-AES256-GCM-SHA384:ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-RSA-CHACHA20-POLY1305");
  context->use_certificate_chain_file(t.cert_file);
  context->use_private_key_file(t.key_file, asio::ssl::context::pem);
  if (!t.client_ca_file.empty()) {
    context->load_verify_file(t.client_ca_file);
    SSL_CTX_set_client_CA_list(native, SSL_load_client_CA_file(t.client_ca_file.c_str()));
    context->set_verify_mode(asio::ssl::verify_peer | asio::ssl::verify_fail_if_no_peer_cert);
    context->set_verify_depth(9);
  }
  return context;
}

// A connection the server has no room for: its request head is read for at most a second (so
// the client's bytes are consumed and the answer is not lost to a reset), then it gets 503 with
// Retry-After and is closed.
awaitable<void> Reject(tcp::socket socket, std::shared_ptr<std::atomic<int>> rejecting) {
  static const std::string kBody =
      R"({"error":{"message":"Warden is at capacity; retry shortly.","type":"server_error","code":"overloaded","param":null}})";
  static const std::string kResponse = "HTTP/1.1 503 Service Unavailable\r\nContent-Type: application/json\r\n"
                                       "Retry-After: 1\r\nConnection: close\r\nContent-Length: " +
                                       std::to_string(kBody.size()) + "\r\n\r\n" + kBody;
  asio::steady_timer timer(socket.get_executor());
  timer.expires_after(std::chrono::seconds(1));
  timer.async_wait([&socket](const asio::error_code& ec) {
    asio::error_code ignored;
    if (!ec) socket.cancel(ignored);
  });
  std::string head;
  char buf[4096];
  while (head.find("\r\n\r\n") == std::string::npos && head.size() < 65536) {
    auto [ec, n] = co_await socket.async_read_some(asio::buffer(buf), kTuple);
    if (ec) break;
    head.append(buf, n);
  }
  timer.expires_after(std::chrono::seconds(1));  // also bounds the write
  timer.async_wait([&socket](const asio::error_code& ec) {
    asio::error_code ignored;
    if (!ec) socket.cancel(ignored);
  });
  co_await asio::async_write(socket, asio::buffer(kResponse), kTuple);
  asio::error_code ec;
  socket.shutdown(tcp::socket::shutdown_send, ec);
  timer.cancel();
  socket.close(ec);
  --*rejecting;
}

}  // namespace

struct Server::Impl {
  ListenerShared shared;
  std::unique_ptr<asio::ssl::context> tls;
  EventLoops* loops = nullptr;
  std::unique_ptr<asio::thread_pool> own_pool;  // for a blocking handler
  std::unique_ptr<tcp::acceptor> acceptor;
  std::shared_ptr<std::atomic<int>> rejecting = std::make_shared<std::atomic<int>>(0);
  uint16_t port = 0;
  bool running = false;
  std::promise<void> accept_done;  // set when the accept loop has returned

  int OpenCount() {
    MutexLock lock(shared.mu);
    return static_cast<int>(shared.open.size());
  }
  awaitable<void> Accept();
};

awaitable<void> Server::Impl::Accept() {
  const int max_connections = std::max(1, shared.config.max_connections);
  for (;;) {
    asio::io_context& loop = loops->Next();
    auto [ec, socket] = co_await acceptor->async_accept(loop, kTuple);
    if (ec == asio::error::operation_aborted || !acceptor->is_open()) co_return;
    if (ec) {  // e.g. out of file descriptors: wait a little rather than spin
      log::Warn("accept_failed", {{"error", ec.message()}});
      asio::steady_timer pause(acceptor->get_executor(), std::chrono::milliseconds(50));
      co_await pause.async_wait(kTuple);
      continue;
    }
    if (OpenCount() >= max_connections) {
      if (rejecting->load() < kMaxRejecting) {
        ++*rejecting;
        asio::co_spawn(loop, Reject(std::move(socket), rejecting), asio::detached);
      }
      continue;  // beyond that, closed at once
    }
    Serve(&shared, std::move(socket));
  }
}

Server::Server(const ServerConfig& config, EventLoops* loops, RequestHandler* handler) : impl_(std::make_unique<Impl>()) {
  impl_->shared.config = config;
  impl_->shared.handler = handler;
  impl_->loops = loops;
}

Server::Server(const ServerConfig& config, EventLoops* loops, AsyncRequestHandler* handler, asio::thread_pool* pool)
    : impl_(std::make_unique<Impl>()) {
  impl_->shared.config = config;
  impl_->shared.async_handler = handler;
  impl_->shared.pool = pool;
  impl_->loops = loops;
}

Server::~Server() { Stop(); }

Status Server::Start() {
  const ServerConfig& c = impl_->shared.config;
  try {
    if (c.tls.enabled()) {
      impl_->tls = ServerTlsContext(c.tls);
      impl_->shared.tls = impl_->tls.get();
    }
    if (!impl_->shared.pool) {
      impl_->own_pool = std::make_unique<asio::thread_pool>(static_cast<size_t>(std::max(1, c.worker_threads)));
      impl_->shared.pool = impl_->own_pool.get();
    }
    auto address = asio::ip::make_address(c.host == "localhost" ? "127.0.0.1" : c.host);
    impl_->acceptor = std::make_unique<tcp::acceptor>(impl_->loops->First());
    tcp::endpoint endpoint(address, c.port);
    impl_->acceptor->open(endpoint.protocol());
    impl_->acceptor->set_option(tcp::acceptor::reuse_address(true));
    impl_->acceptor->bind(endpoint);
    impl_->acceptor->listen(std::max(64, std::min(c.max_connections, 4096)));
    impl_->port = impl_->acceptor->local_endpoint().port();
  } catch (const std::exception& e) {
    impl_->acceptor.reset();
    if (impl_->own_pool) impl_->own_pool->join();
    return Error::Internal("cannot listen on " + c.host + ":" + std::to_string(c.port) + ": " + e.what(),
                           "listen_failed");
  }
  asio::co_spawn(impl_->loops->First(), impl_->Accept(), [impl = impl_.get()](std::exception_ptr) { impl->accept_done.set_value(); });
  impl_->loops->Start();
  impl_->running = true;
  return Status::Ok();
}

uint16_t Server::port() const { return impl_->port; }

void Server::Stop() {
  if (!impl_->running) return;
  impl_->running = false;
  // No new connections; idle keep-alive connections close now, the others after their request.
  {
    std::promise<void> closed;  // the acceptor belongs to its loop: close it there, and wait
    asio::post(impl_->loops->First(), [a = impl_->acceptor.get(), &closed] {
      asio::error_code ec;
      a->close(ec);
      closed.set_value();
    });
    closed.get_future().wait();
    impl_->accept_done.get_future().wait();  // it referred to this Server
  }
  impl_->shared.stopping = true;
  auto cut_all = [this](bool idle_only) {
    MutexLock lock(impl_->shared.mu);
    for (const auto& conn : impl_->shared.open) Cut(conn, idle_only);
  };
  cut_all(/*idle_only=*/true);
  // Requests in flight (streams included) get drain_timeout to finish; after that their
  // connections are cut, which fails their next read or write so the handler returns (one
  // waiting on a provider returns at that provider's timeout at the latest).
  const int64_t deadline = MonotonicNanos() + static_cast<int64_t>(impl_->shared.config.drain_timeout_ms) * 1000000;
  while (MonotonicNanos() < deadline && impl_->OpenCount() > 0) {
    cut_all(/*idle_only=*/true);  // those that finished a request and now wait for the next
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  if (const int left = impl_->OpenCount(); left > 0) {
    log::Warn("drain_deadline", {{"connections_cut", static_cast<int64_t>(left)}});
    cut_all(/*idle_only=*/false);
  }
  while (impl_->OpenCount() > 0) std::this_thread::sleep_for(std::chrono::milliseconds(10));
  if (impl_->own_pool) impl_->own_pool->join();  // the blocking handlers have returned
}

}  // namespace warden
