#include "server/server.h"

#include <poll.h>

#include <Poco/Exception.h>
#include <Poco/Net/HTTPServerParams.h>
#include <Poco/Net/HTTPServerRequestImpl.h>
#include <Poco/Net/HTTPServerResponseImpl.h>
#include <Poco/Net/HTTPServerSession.h>
#include <Poco/Net/NetException.h>
#include <Poco/Net/ServerSocket.h>
#include <Poco/Net/TCPServer.h>
#include <Poco/Net/TCPServerConnection.h>
#include <Poco/Net/TCPServerConnectionFactory.h>
#include <Poco/ThreadPool.h>

#include <atomic>

#include "common/util.h"
#include "server/http_checks.h"
#include "server/poco_exchange.h"

namespace warden {
namespace {

Poco::Timespan Ms(int ms) { return Poco::Timespan(static_cast<Poco::Timespan::TimeDiff>(ms) * 1000); }

struct Shared {
  ServerConfig config;
  RequestHandler* handler = nullptr;
  Poco::Net::HTTPServerParams::Ptr params;
  std::atomic<bool> stopping{false};
};

// Exposes whether request bytes are already buffered (pipelining) without a syscall.
class Session : public Poco::Net::HTTPServerSession {
 public:
  using HTTPServerSession::HTTPServerSession;
  bool HasBuffered() const { return buffered() > 0; }
};

// Waits until `fd` is readable (or closed), for at most `timeout_ms`, in slices so a stopping
// server is noticed. One poll() per wait: Poco's own keep-alive wait costs four syscalls
// (epoll_create, epoll_ctl, epoll_wait, close) per request.
bool WaitReadable(int fd, int timeout_ms, const std::atomic<bool>& stopping) {
  const int64_t deadline = MonotonicNanos() + static_cast<int64_t>(timeout_ms) * 1000000;
  for (;;) {
    if (stopping.load(std::memory_order_relaxed)) return false;
    int64_t left_ms = (deadline - MonotonicNanos()) / 1000000;
    if (left_ms <= 0) return false;
    pollfd p{fd, POLLIN, 0};
    int n = ::poll(&p, 1, static_cast<int>(std::min<int64_t>(left_ms, 250)));
    if (n > 0) return true;  // readable, or closed/error: the read below tells which
    if (n < 0 && errno != EINTR) return false;
  }
}

void SendPlainError(Poco::Net::HTTPServerResponseImpl& response, const Error& error) {
  if (response.sent()) return;
  try {
    std::string body = ErrorBody(error);
    response.setStatusAndReason(static_cast<Poco::Net::HTTPResponse::HTTPStatus>(error.status));
    response.setKeepAlive(false);
    response.setContentType("application/json");
    response.setContentLength64(static_cast<Poco::Int64>(body.size()));
    response.send() << body << std::flush;
  } catch (...) {
  }
}

// One client connection: HTTP/1.1 requests served in turn until the client closes, the
// keep-alive idle time or request count runs out, or the server stops. Modelled on Poco's
// HTTPServerConnection, with three differences: malformed requests get an OpenAI-shaped JSON
// error, `100 Continue` is sent only when the gateway decides to read the body (so a request
// refused on its headers is never invited to upload), and the keep-alive wait is one poll().
class Connection : public Poco::Net::TCPServerConnection {
 public:
  Connection(const Poco::Net::StreamSocket& socket, Shared* shared)
      : TCPServerConnection(socket), shared_(shared) {}

  void run() override {
    const ServerConfig& c = shared_->config;
    Session session(socket(), shared_->params);
    const int fd = socket().impl()->sockfd();
    int served = 0;
    while (!shared_->stopping.load(std::memory_order_relaxed)) {
      if (!session.HasBuffered() &&
          !WaitReadable(fd, served == 0 ? c.read_timeout_ms : c.keep_alive_idle_ms, shared_->stopping))
        break;
      ++served;
      Poco::Net::HTTPServerResponseImpl response(session);
      try {
        Poco::Net::HTTPServerRequestImpl request(response, session, shared_->params);
        response.setVersion(request.getVersion());
        HeaderList head;
        for (const auto& [name, value] : request) head.emplace_back(name, value);
        if (auto bad = CheckRequestHead(request.getVersion(), head)) {
          SendPlainError(response, *bad);  // closes: the body's extent is unknown
          break;
        }
        response.setKeepAlive(request.getKeepAlive() && served < c.max_keep_alive_requests &&
                              !shared_->stopping.load(std::memory_order_relaxed));
        response.setDate(Poco::Timestamp());
        response.set("Server", "warden");
        PocoClientExchange exchange(request, response);
        shared_->handler->Handle(exchange);  // never throws
        if (!response.getKeepAlive() || !request.getKeepAlive()) break;
      } catch (const Poco::Net::NoMessageException&) {
        break;  // the client closed the connection between requests
      } catch (const Poco::Net::MessageException& e) {
        SendPlainError(response, HeadParseError(e.message()));
        break;
      } catch (const Poco::SyntaxException&) {
        // Poco reads Content-Length while constructing the request, before CheckRequestHead.
        SendPlainError(response, HeadParseError("bad number"));
        break;
      } catch (const Poco::TimeoutException&) {
        Error e = Error::BadRequest("Timed out reading the request.", "", "request_timeout");
        e.status = 408;
        SendPlainError(response, e);
        break;
      } catch (...) {
        SendPlainError(response, Error::Internal("The server had an error while processing your request."));
        break;
      }
    }
  }

 private:
  Shared* shared_;
};

class ConnectionFactory : public Poco::Net::TCPServerConnectionFactory {
 public:
  explicit ConnectionFactory(Shared* shared) : shared_(shared) {}
  Poco::Net::TCPServerConnection* createConnection(const Poco::Net::StreamSocket& socket) override {
    return new Connection(socket, shared_);
  }

 private:
  Shared* shared_;
};

}  // namespace

struct Server::Impl {
  Shared shared;
  std::unique_ptr<Poco::ThreadPool> pool;
  std::unique_ptr<Poco::Net::TCPServer> tcp;
  uint16_t port = 0;
  bool running = false;
};

Server::Server(const ServerConfig& config, RequestHandler* handler)
    : impl_(std::make_unique<Impl>()) {
  impl_->shared.config = config;
  impl_->shared.handler = handler;
}

Server::~Server() { Stop(); }

Status Server::Start() {
  const ServerConfig& c = impl_->shared.config;
  try {
    Poco::Net::SocketAddress address(c.host, c.port);
    Poco::Net::ServerSocket socket;
    socket.bind(address, /*reuseAddress=*/true);
    socket.listen(std::max(64, c.max_queued_connections));
    impl_->port = socket.address().port();

    Poco::Net::HTTPServerParams::Ptr params = new Poco::Net::HTTPServerParams;
    params->setMaxThreads(c.worker_threads);
    params->setMaxQueued(c.max_queued_connections);
    params->setTimeout(Ms(c.read_timeout_ms));  // socket read/write timeout within a request
    params->setKeepAlive(true);
    params->setKeepAliveTimeout(Ms(c.keep_alive_idle_ms));
    params->setMaxKeepAliveRequests(c.max_keep_alive_requests);
    impl_->shared.params = params;

    impl_->pool = std::make_unique<Poco::ThreadPool>(2, c.worker_threads + 1, 60);
    impl_->tcp = std::make_unique<Poco::Net::TCPServer>(new ConnectionFactory(&impl_->shared),
                                                        *impl_->pool, socket, params);
    impl_->tcp->start();
    impl_->running = true;
    return Status::Ok();
  } catch (const Poco::Exception& e) {
    return Error::Internal("cannot listen on " + c.host + ":" + std::to_string(c.port) + ": " +
                               e.displayText(),
                           "listen_failed");
  }
}

uint16_t Server::port() const { return impl_->port; }

void Server::Stop() {
  if (!impl_->running) return;
  impl_->running = false;
  impl_->tcp->stop();                 // no new connections
  impl_->shared.stopping = true;      // idle keep-alive connections close within 250 ms
  impl_->pool->joinAll();             // requests in flight finish
  impl_->tcp.reset();
}

}  // namespace warden
