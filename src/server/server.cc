#include "server/server.h"

#include <poll.h>

#include <Poco/Exception.h>
#include <Poco/Net/HTTPServerParams.h>
#include <Poco/Net/HTTPServerRequestImpl.h>
#include <Poco/Net/HTTPServerResponseImpl.h>
#include <Poco/Net/HTTPServerSession.h>
#include <Poco/Net/NetException.h>
#include <Poco/Net/Context.h>
#include <Poco/Net/SecureServerSocket.h>
#include <Poco/Net/SecureStreamSocket.h>
#include <Poco/Net/ServerSocket.h>
#include <Poco/Net/TCPServer.h>
#include <Poco/Net/TCPServerConnection.h>
#include <Poco/Net/TCPServerConnectionFactory.h>
#include <Poco/ThreadPool.h>

#include <sys/socket.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <deque>
#include <map>
#include <set>
#include <thread>
#include <vector>

#include "common/log.h"
#include "common/mutex.h"
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
  bool tls = false;
  std::atomic<bool> stopping{false};
  Mutex open_mu;
  std::set<int> open GUARDED_BY(open_mu);  // sockets of the connections being served
  // TLS connections waiting for a request head: fd → monotonic deadline (ns). The head check
  // that peeks at raw bytes cannot see through TLS, so HeadWatchdog shuts these sockets down
  // when the deadline passes. An entry is removed before its socket is closed, so a reused fd
  // number is never hit.
  std::map<int, int64_t> head_deadlines GUARDED_BY(open_mu);
};

// Arms (or, with deadline 0, disarms) the head deadline of a TLS connection.
void SetHeadDeadline(Shared* shared, int fd, int64_t deadline_ns) {
  MutexLock lock(shared->open_mu);
  if (deadline_ns == 0) shared->head_deadlines.erase(fd);
  else shared->head_deadlines[fd] = deadline_ns;
}

// Cuts TLS connections whose handshake and request head have not arrived within
// server.header_timeout in total (slowloris over TLS); checks four times a second.
class HeadWatchdog {
 public:
  explicit HeadWatchdog(Shared* shared) : shared_(shared), thread_([this] { Run(); }) {}
  ~HeadWatchdog() {
    {
      MutexLock lock(mu_);
      stop_ = true;
    }
    cv_.notify_one();
    thread_.join();
  }

 private:
  void Run() {
    MutexLock lock(mu_);
    while (!stop_) {
      lock.WaitFor(cv_, std::chrono::milliseconds(250));
      if (stop_) break;
      const int64_t now = MonotonicNanos();
      MutexLock open_lock(shared_->open_mu);
      for (auto it = shared_->head_deadlines.begin(); it != shared_->head_deadlines.end();) {
        if (it->second > now) {
          ++it;
          continue;
        }
        ::shutdown(it->first, SHUT_RDWR);  // the blocked read fails; the connection ends
        it = shared_->head_deadlines.erase(it);
      }
    }
  }

  Shared* shared_;
  Mutex mu_;
  std::condition_variable cv_;
  bool stop_ GUARDED_BY(mu_) = false;
  std::thread thread_;
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

// Waits until the socket's receive queue holds a whole request head (through the blank line),
// peeking, so Poco then parses it without blocking: a client trickling its headers (slowloris)
// holds a worker for `timeout_ms` at most, not read_timeout per byte. A head that is not
// complete within `max` bytes is too large. Normal clients send the head in one packet, so this
// is one recv(MSG_PEEK); a partial head is peeked again after a short, growing pause.
enum class HeadWait { kReady, kClosed, kTimeout, kTooLarge, kStopping };
// On kReady, `*head` holds the peeked bytes (valid until the thread's next call).
HeadWait WaitForHead(int fd, int timeout_ms, size_t max, const std::atomic<bool>& stopping, std::string_view* head) {
  thread_local std::vector<char> buf;
  buf.resize(max + 1);
  const int64_t deadline = MonotonicNanos() + static_cast<int64_t>(timeout_ms) * 1000000;
  int pause_ms = 1;
  size_t seen = 0;
  // Peek 4 KiB first (a head is usually smaller; a body behind it need not be copied), more
  // only while no end of head is in sight.
  size_t window = std::min<size_t>(4096, buf.size());
  for (;;) {
    const ssize_t n = ::recv(fd, buf.data(), window, MSG_PEEK | MSG_DONTWAIT);
    if (n == 0) return HeadWait::kClosed;
    if (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR) return HeadWait::kClosed;
    if (n > 0) {
      const std::string_view bytes(buf.data(), static_cast<size_t>(n));
      // Search only what is new (and 3 bytes before it, for a terminator split across packets).
      const size_t from = seen > 3 ? seen - 3 : 0;
      if (bytes.find("\r\n\r\n", from) != std::string_view::npos || bytes.find("\n\n", from) != std::string_view::npos) {
        *head = bytes;
        return HeadWait::kReady;
      }
      if (static_cast<size_t>(n) > max) return HeadWait::kTooLarge;
      if (static_cast<size_t>(n) == window && window < buf.size()) {
        window = std::min(window * 4, buf.size());  // more bytes are waiting: look at them now
        seen = static_cast<size_t>(n);
        continue;
      }
      if (static_cast<size_t>(n) > seen) pause_ms = 1;  // progress: look again soon
      seen = static_cast<size_t>(n);
    }
    if (stopping.load(std::memory_order_relaxed)) return HeadWait::kStopping;
    const int64_t left_ms = (deadline - MonotonicNanos()) / 1000000;
    if (left_ms <= 0) return HeadWait::kTimeout;
    if (n < 0) {
      pollfd p{fd, POLLIN, 0};
      (void)::poll(&p, 1, static_cast<int>(std::min<int64_t>(left_ms, 250)));
    } else {
      std::this_thread::sleep_for(std::chrono::milliseconds(std::min<int64_t>(pause_ms, left_ms)));
      pause_ms = std::min(pause_ms * 2, 50);
    }
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

// The error answer when the request object is gone (an exception left the try block that held
// it). Poco's request constructor attaches itself to the response before it parses, so
// `response` still points at the destroyed request and its send() would read it (ASan:
// stack-use-after-scope); a fresh response on the same session has no request attached.
void SendAfterFailedParse(const Poco::Net::HTTPServerResponseImpl& response, Poco::Net::HTTPServerSession& session,
                          const Error& error) {
  if (response.sent()) return;  // the handler answered; nothing more can be said
  Poco::Net::HTTPServerResponseImpl fresh(session);
  SendPlainError(fresh, error);
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
    struct Registration {  // so Stop() can cut this connection once the drain time is over
      Shared* shared;
      int fd;
      Registration(Shared* s, int f) : shared(s), fd(f) {
        MutexLock lock(shared->open_mu);
        shared->open.insert(fd);
      }
      ~Registration() {
        MutexLock lock(shared->open_mu);
        shared->open.erase(fd);
        shared->head_deadlines.erase(fd);
      }
    } registration(shared_, fd);
    const auto head_deadline = [&c] { return MonotonicNanos() + static_cast<int64_t>(c.header_timeout_ms) * 1000000; };
    if (shared_->tls) {
      SetHeadDeadline(shared_, fd, head_deadline());  // the handshake and the first head, in total
      if (!Handshake(c)) return;
    }
    int served = 0;
    while (!shared_->stopping.load(std::memory_order_relaxed)) {
      // Over TLS, decrypted bytes may wait inside OpenSSL with nothing left on the socket.
      const bool buffered = session.HasBuffered() || (shared_->tls && socket().available() > 0);
      if (!buffered && !WaitReadable(fd, served == 0 ? c.header_timeout_ms : c.keep_alive_idle_ms, shared_->stopping))
        break;
      if (shared_->tls && served > 0) SetHeadDeadline(shared_, fd, head_deadline());
      ++served;
      Poco::Net::HTTPServerResponseImpl response(session);
      // The head deadline peeks at raw bytes, which over TLS are ciphertext: there HeadWatchdog
      // enforces it instead.
      if (!buffered && !shared_->tls) {  // pipelined bytes are already in Poco's buffer
        std::string_view raw;
        const HeadWait head = WaitForHead(fd, c.header_timeout_ms, c.max_header_bytes, shared_->stopping, &raw);
        if (head == HeadWait::kTimeout) {
          SendPlainError(response, Error::RequestTimeout("The request headers did not arrive in time."));
        } else if (head == HeadWait::kTooLarge) {
          SendPlainError(response, HeadParseError("Too many header fields"));
        }
        if (head != HeadWait::kReady) break;
        if (auto bad = CheckHeadFraming(raw)) {
          SendPlainError(response, *bad);  // closes: where this request ends is not clear
          // The request was only peeked: read what has arrived, so closing sends a FIN after the
          // answer, not a reset that can destroy it before the client reads it.
          char sink[16384];
          for (size_t drained = 0; drained < c.max_header_bytes + (1 << 20);) {
            const ssize_t n = ::recv(fd, sink, sizeof sink, MSG_DONTWAIT);
            if (n <= 0) break;
            drained += static_cast<size_t>(n);
          }
          break;
        }
      }
      try {
        Poco::Net::HTTPServerRequestImpl request(response, session, shared_->params);
        if (shared_->tls) SetHeadDeadline(shared_, fd, 0);  // the head is in; the body has its own rate
        // Never the client's version string (`GET / HTTP/9.9` got `HTTP/9.9 200`); others are 505.
        response.setVersion(request.getVersion() == Poco::Net::HTTPMessage::HTTP_1_0 ? Poco::Net::HTTPMessage::HTTP_1_0
                                                                                   : Poco::Net::HTTPMessage::HTTP_1_1);
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
        PocoClientExchange exchange(request, response, c.header_timeout_ms, c.min_body_rate);
        shared_->handler->Handle(exchange);  // never throws
        if (!response.getKeepAlive() || !request.getKeepAlive()) break;
      } catch (const Poco::Net::NoMessageException&) {
        break;  // the client closed the connection between requests
      } catch (const Poco::Net::MessageException& e) {
        SendAfterFailedParse(response, session, HeadParseError(e.message()));
        break;
      } catch (const Poco::SyntaxException&) {
        // Poco reads Content-Length while constructing the request, before CheckRequestHead.
        SendAfterFailedParse(response, session, HeadParseError("bad number"));
        break;
      } catch (const Poco::TimeoutException&) {
        SendAfterFailedParse(response, session, Error::RequestTimeout("Timed out reading the request."));
        break;
      } catch (...) {
        SendAfterFailedParse(response, session, Error::Internal("The server had an error while processing your request."));
        break;
      }
    }
  }

 private:
  // The TLS handshake; it and the first request head must arrive within server.header_timeout
  // in total (HeadWatchdog). A client that cannot complete it (wrong protocol version, no client
  // certificate where one is required, plain HTTP) is dropped.
  bool Handshake(const ServerConfig& c) {
    try {
      socket().setReceiveTimeout(Ms(c.header_timeout_ms));
      socket().setSendTimeout(Ms(c.header_timeout_ms));
      Poco::Net::SecureStreamSocket secure(socket());
      secure.completeHandshake();
      socket().setSendTimeout(Ms(c.read_timeout_ms));
      socket().setReceiveTimeout(Ms(c.read_timeout_ms));  // the head's total: HeadWatchdog
      return true;
    } catch (const Poco::Exception& e) {
      log::Debug("tls_handshake_failed", {{"error", e.name()}});
      return false;
    }
  }

  Shared* shared_;
};

// The server side of TLS on a listener: TLS 1.2+, ECDHE with AEAD ciphers, the server's order;
// with client_ca_file, clients must present a certificate from that CA.
Poco::Net::Context::Ptr ServerTlsContext(const TlsListenerConfig& t) {
  const bool mutual = !t.client_ca_file.empty();
  Poco::Net::Context::Ptr context = new Poco::Net::Context(
      Poco::Net::Context::TLS_SERVER_USE, t.key_file, t.cert_file, t.client_ca_file,
      mutual ? Poco::Net::Context::VERIFY_STRICT : Poco::Net::Context::VERIFY_NONE, 9,
      /*loadDefaultCAs=*/false,
      "ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256:ECDHE-ECDSA-AES256-GCM-SHA384:"
      "ECDHE-RSA-AES256-GCM-SHA384:ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-RSA-CHACHA20-POLY1305");
  context->disableProtocols(Poco::Net::Context::PROTO_SSLV2 | Poco::Net::Context::PROTO_SSLV3 |
                            Poco::Net::Context::PROTO_TLSV1 | Poco::Net::Context::PROTO_TLSV1_1);
  context->preferServerCiphers();
  return context;
}

class ConnectionFactory : public Poco::Net::TCPServerConnectionFactory {
 public:
  explicit ConnectionFactory(Shared* shared) : shared_(shared) {}
  Poco::Net::TCPServerConnection* createConnection(const Poco::Net::StreamSocket& socket) override {
    return new Connection(socket, shared_);
  }

 private:
  Shared* shared_;
};

// Answers connections the server has no room for with an immediate 503 + Retry-After instead
// of Poco's silent close, on one thread of its own: it reads the request head for at most a
// second (so the client's bytes are consumed and the answer is not lost to a reset), answers,
// and closes. At most kMaxWaiting connections wait for it; beyond that they are closed at once,
// so an overload never grows memory without bound.
class Rejector {
 public:
  static constexpr size_t kMaxWaiting = 1024;
  Rejector() : thread_([this] { Run(); }) {}
  ~Rejector() {
    {
      MutexLock lock(mu_);
      stop_ = true;
    }
    cv_.notify_one();
    thread_.join();
  }
  void Offer(const Poco::Net::StreamSocket& socket) {
    {
      MutexLock lock(mu_);
      if (waiting_.size() >= kMaxWaiting) return;  // the caller's copy closes it
      waiting_.push_back(socket);
    }
    cv_.notify_one();
  }

 private:
  void Run() {
    for (;;) {
      Poco::Net::StreamSocket socket;
      {
        MutexLock lock(mu_);
        while (!stop_ && waiting_.empty()) lock.Wait(cv_);
        if (stop_) return;
        socket = waiting_.front();
        waiting_.pop_front();
      }
      Answer(socket);
    }
  }
  static void Answer(Poco::Net::StreamSocket& socket) {
    static const std::string kBody =
        R"({"error":{"message":"Warden is at capacity; retry shortly.","type":"server_error","code":"overloaded","param":null}})";
    static const std::string kResponse = "HTTP/1.1 503 Service Unavailable\r\nContent-Type: application/json\r\n"
                                         "Retry-After: 1\r\nConnection: close\r\nContent-Length: " +
                                         std::to_string(kBody.size()) + "\r\n\r\n" + kBody;
    try {
      socket.setReceiveTimeout(Poco::Timespan(0, 100000));
      socket.setSendTimeout(Poco::Timespan(1, 0));
      std::string head;
      char buf[4096];
      const int64_t deadline = MonotonicNanos() + 1000000000LL;
      while (head.find("\r\n\r\n") == std::string::npos && head.size() < 65536 && MonotonicNanos() < deadline) {
        try {
          const int n = socket.receiveBytes(buf, sizeof buf);
          if (n <= 0) break;
          head.append(buf, static_cast<size_t>(n));
        } catch (const Poco::TimeoutException&) {
        }
      }
      socket.sendBytes(kResponse.data(), static_cast<int>(kResponse.size()));
      socket.shutdownSend();
      socket.close();
    } catch (...) {
    }
  }

  Mutex mu_;
  std::condition_variable cv_;
  std::deque<Poco::Net::StreamSocket> waiting_ GUARDED_BY(mu_);
  bool stop_ GUARDED_BY(mu_) = false;
  std::thread thread_;
};

// Admits a connection while fewer than max_queued_connections wait for a worker; otherwise
// hands it to the Rejector (Poco would close it without a word).
class Admission : public Poco::Net::TCPServerConnectionFilter {
 public:
  Admission(int max_queued, Rejector* rejector) : max_queued_(std::max(1, max_queued)), rejector_(rejector) {}
  void Attach(const Poco::Net::TCPServer* tcp) { tcp_ = tcp; }
  bool accept(const Poco::Net::StreamSocket& socket) override {
    const Poco::Net::TCPServer* tcp = tcp_.load();
    if (!tcp || tcp->queuedConnections() < max_queued_) return true;
    rejector_->Offer(socket);
    return false;
  }

 private:
  const int max_queued_;
  Rejector* rejector_;
  std::atomic<const Poco::Net::TCPServer*> tcp_{nullptr};
};

}  // namespace

struct Server::Impl {
  Shared shared;
  std::unique_ptr<Rejector> rejector;
  std::unique_ptr<HeadWatchdog> watchdog;  // TLS listeners only
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
    impl_->shared.tls = c.tls.enabled();
    Poco::Net::ServerSocket socket =
        c.tls.enabled() ? Poco::Net::SecureServerSocket(ServerTlsContext(c.tls)) : Poco::Net::ServerSocket();
    socket.bind(address, /*reuseAddress=*/true);
    socket.listen(std::max(64, c.max_queued_connections));
    impl_->port = socket.address().port();

    Poco::Net::HTTPServerParams::Ptr params = new Poco::Net::HTTPServerParams;
    params->setMaxThreads(c.worker_threads);
    params->setMaxQueued(std::max(1, c.max_queued_connections));
    params->setTimeout(Ms(c.read_timeout_ms));  // socket read/write timeout within a request
    params->setKeepAlive(true);
    params->setKeepAliveTimeout(Ms(c.keep_alive_idle_ms));
    params->setMaxKeepAliveRequests(c.max_keep_alive_requests);
    impl_->shared.params = params;

    impl_->pool = std::make_unique<Poco::ThreadPool>(2, c.worker_threads + 1, 60);
    impl_->tcp = std::make_unique<Poco::Net::TCPServer>(new ConnectionFactory(&impl_->shared),
                                                        *impl_->pool, socket, params);
    impl_->rejector = std::make_unique<Rejector>();
    if (impl_->shared.tls) impl_->watchdog = std::make_unique<HeadWatchdog>(&impl_->shared);
    Poco::AutoPtr<Admission> admission(new Admission(c.max_queued_connections, impl_->rejector.get()));
    admission->Attach(impl_->tcp.get());
    impl_->tcp->setConnectionFilter(admission);
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
  // Requests in flight (streams included) get drain_timeout to finish; after that their
  // connections are shut down, which fails their next read or write so the handler returns
  // (one waiting on a provider returns at that provider's timeout at the latest).
  const int64_t deadline = MonotonicNanos() + static_cast<int64_t>(impl_->shared.config.drain_timeout_ms) * 1000000;
  while (MonotonicNanos() < deadline) {
    {
      MutexLock lock(impl_->shared.open_mu);
      if (impl_->shared.open.empty()) break;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  {
    MutexLock lock(impl_->shared.open_mu);
    if (!impl_->shared.open.empty())
      log::Warn("drain_deadline", {{"connections_cut", static_cast<int64_t>(impl_->shared.open.size())}});
    for (int fd : impl_->shared.open) ::shutdown(fd, SHUT_RDWR);
  }
  impl_->pool->joinAll();             // the handlers return
  impl_->tcp.reset();
  impl_->rejector.reset();
  impl_->watchdog.reset();
}

}  // namespace warden
