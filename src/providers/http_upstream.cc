#include "providers/http_upstream.h"

#include <openssl/ssl.h>
#include <openssl/x509_vfy.h>
#include <strings.h>
#include <sys/socket.h>

#include <asio/connect.hpp>
#include <asio/experimental/as_tuple.hpp>
#include <asio/ip/tcp.hpp>
#include <asio/ssl/context.hpp>
#include <asio/ssl/host_name_verification.hpp>
#include <asio/ssl/stream.hpp>
#include <asio/steady_timer.hpp>
#include <asio/this_coro.hpp>
#include <asio/use_awaitable.hpp>
#include <asio/write.hpp>

#include <algorithm>
#include <atomic>
#include <cctype>
#include <chrono>
#include <optional>
#include <unordered_map>

#include "common/awaitable.h"
#include "common/http1.h"
#include "common/mutex.h"
#include "common/secret.h"
#include "common/socket_read.h"
#include "common/util.h"

namespace warden {

using asio::awaitable;
using asio::ip::tcp;
using Clock = std::chrono::steady_clock;

namespace {

constexpr size_t kReadChunk = 16 * 1024;
constexpr size_t kMaxHeadBytes = 64 * 1024;
// A pooled connection idle longer than this is not reused: providers commonly close idle
// connections after 5 to 60 seconds, and a request on a connection closed meanwhile fails.
constexpr auto kMaxPooledIdle = std::chrono::seconds(4);

// Upstream errors reach clients: they say what failed, never where the provider is (host, port,
// URL — the attempt list names the deployment) and never the request.
Error ConnectError(const std::string& why) {
  return Error::BadGateway("could not connect to the provider (" + why + ")", "upstream_unreachable", true);
}
Error NoResponse() {
  return Error::BadGateway("the provider closed the connection without answering", "upstream_no_response", true);
}
Error FirstByteTimeout() {
  return Error::GatewayTimeout("the provider did not answer in time (first-byte timeout)", "upstream_timeout", true);
}
Error BrokenResponse(const std::string& why) {
  return Error::BadGateway("the provider's response broke off (" + why + ")", "upstream_broken_response", true);
}

// The status line and fields of a response head; nullopt if it is not HTTP/1.x.
std::optional<UpstreamHead> ParseResponseHead(std::string_view head, bool* http10) {
  head.remove_prefix(SkipLeadingEmptyLines(head));
  const std::string_view status_line = TakeLine(head);
  if (status_line.size() < 12 || status_line.substr(0, 7) != "HTTP/1." || status_line[8] != ' ') return std::nullopt;
  *http10 = status_line[7] == '0';
  UpstreamHead out;
  for (int i = 9; i < 12; ++i) {
    if (status_line[i] < '0' || status_line[i] > '9') return std::nullopt;
    out.status = out.status * 10 + (status_line[i] - '0');
  }
  while (!head.empty()) {
    const std::string_view line = TakeLine(head);
    if (line.empty()) break;
    const size_t colon = line.find(':');
    if (colon == std::string_view::npos || colon == 0) return std::nullopt;
    out.headers.push_back({std::string(line.substr(0, colon)), std::string(TrimOws(line.substr(colon + 1)))});
  }
  return out;
}

}  // namespace

bool BypassesProxy(const std::string& host, const std::vector<std::string>& no_proxy) {
  auto lower = [](std::string s) {
    for (char& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    return s;
  };
  const std::string h = lower(host);
  for (std::string entry : no_proxy) {
    entry = lower(entry);
    if (entry == "*") return true;
    if (!entry.empty() && entry.front() == '.') entry.erase(0, 1);
    if (entry.empty()) continue;
    if (h == entry) return true;
    if (h.size() > entry.size() && h.compare(h.size() - entry.size(), entry.size(), entry) == 0 &&
        h[h.size() - entry.size() - 1] == '.')
      return true;
  }
  return false;
}

namespace {

// One connection to a provider (TCP, or TLS over TCP, possibly through a CONNECT tunnel), bound
// to the event loop that opened it. Every wait is bounded by Arm(): when the time passes, the
// socket's operations are cancelled and timed_out() is true.
class Conn : public std::enable_shared_from_this<Conn> {
 public:
  explicit Conn(const asio::any_io_executor& ex) : socket_(ex), timer_(ex) {}

  tcp::socket& lowest() { return tls_ ? tls_->next_layer() : socket_; }
  bool timed_out() const { return timed_out_; }

  void Arm(Clock::duration d) {
    timed_out_ = false;
    timer_.expires_after(d);
    timer_.async_wait([self = shared_from_this()](const asio::error_code& ec) {
      if (ec) return;  // disarmed
      self->timed_out_ = true;
      asio::error_code ignored;
      self->lowest().cancel(ignored);
    });
  }
  void Disarm() { timer_.cancel(); }

  awaitable<asio::error_code> Connect(const std::vector<tcp::endpoint>& endpoints) {
    auto [ec, endpoint] = co_await asio::async_connect(socket_, endpoints, kTuple);
    co_return ec;
  }
  awaitable<asio::error_code> Handshake(asio::ssl::context& context, const std::string& host) {
    tls_.emplace(std::move(socket_), context);
    SSL_set_tlsext_host_name(tls_->native_handle(), host.c_str());  // SNI
    tls_->set_verify_mode(asio::ssl::verify_peer);
    tls_->set_verify_callback(asio::ssl::host_name_verification(host));
    auto [ec] = co_await tls_->async_handshake(asio::ssl::stream_base::client, kTuple);
    co_return ec;
  }
  bool CertificateRejected() {
    return tls_ && SSL_get_verify_result(tls_->native_handle()) != X509_V_OK;
  }
  awaitable<asio::error_code> WriteAll(std::string_view data) {
    asio::error_code ec;
    if (tls_) std::tie(ec, std::ignore) = co_await asio::async_write(*tls_, asio::buffer(data), kTuple);
    else std::tie(ec, std::ignore) = co_await asio::async_write(socket_, asio::buffer(data), kTuple);
    co_return ec;
  }
  // Appends what arrives next to in (dropping what was consumed); a closed connection is
  // asio::error::eof.
  awaitable<asio::error_code> Fill() {
    if (in_pos == in.size()) {
      in.clear();
      in_pos = 0;
    }
    asio::error_code ec;
    if (tls_) ec = co_await ReadSomeInto(*tls_, in, kReadChunk);
    else ec = co_await ReadWhatArrived(socket_, in, 4 * kReadChunk);  // a waiting stream holds no buffer
    if (in.empty()) std::string().swap(in);
    co_return ec;
  }
  // A pooled connection is fit for another request if it has been idle briefly and nothing
  // (data, a close, a TLS alert) has arrived on it meanwhile.
  bool Reusable() {
    if (Clock::now() - idle_since > kMaxPooledIdle || in_pos != in.size()) return false;
    char byte;
    const ssize_t n = ::recv(lowest().native_handle(), &byte, 1, MSG_PEEK | MSG_DONTWAIT);
    return n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK);
  }

  std::string in;  // bytes read and not yet consumed, from in_pos
  size_t in_pos = 0;
  Clock::time_point idle_since;

 private:
  tcp::socket socket_;
  std::optional<asio::ssl::stream<tcp::socket>> tls_;
  asio::steady_timer timer_;
  bool timed_out_ = false;
};

}  // namespace

class HttpUpstream::Impl : public std::enable_shared_from_this<HttpUpstream::Impl> {
 public:
  explicit Impl(const HttpUpstreamOptions& o) : options_(o) {}

  // An idle pooled connection of this loop for `key`, or null.
  std::shared_ptr<Conn> Acquire(const std::string& key) {
    MutexLock lock(mu_);
    auto it = idle_.find(key);
    while (it != idle_.end() && !it->second.empty()) {
      std::shared_ptr<Conn> c = std::move(it->second.back());
      it->second.pop_back();
      if (c->Reusable()) return c;
    }
    return nullptr;
  }
  void Release(const std::string& key, std::shared_ptr<Conn> c) {
    c->idle_since = Clock::now();
    MutexLock lock(mu_);
    auto& list = idle_[key];
    if (static_cast<int>(list.size()) < options_.max_idle_per_host) list.push_back(std::move(c));
  }

  asio::ssl::context& Tls() {
    MutexLock lock(mu_);
    if (!tls_) {
      tls_ = std::make_unique<asio::ssl::context>(asio::ssl::context::tls_client);
      SSL_CTX_set_min_proto_version(tls_->native_handle(), TLS1_2_VERSION);
      SSL_CTX_set_cipher_list(tls_->native_handle(), "HIGH:!aNULL:!eNULL:!MD5:!RC4:!3DES:!SHA1");
      asio::error_code ec;
      if (options_.ca_file.empty()) tls_->set_default_verify_paths(ec);
      else tls_->load_verify_file(options_.ca_file, ec);  // a bad file: every handshake fails verification
      tls_->set_verify_mode(asio::ssl::verify_peer);
    }
    return *tls_;
  }

  // Opens a connection for `r` on the current loop: resolve, connect, CONNECT through the proxy
  // for https when one is configured, TLS. All within connect_timeout.
  awaitable<Result<std::shared_ptr<Conn>>> Open(const UpstreamRequest& r) {
    auto ex = co_await asio::this_coro::executor;
    const bool https = r.scheme == "https";
    const bool via_proxy = https && !options_.proxy_host.empty() && !BypassesProxy(r.host, options_.no_proxy);
    const std::string& host = via_proxy ? options_.proxy_host : r.host;
    const uint16_t port = via_proxy ? options_.proxy_port : r.port;
    auto conn = std::make_shared<Conn>(ex);
    const auto timeout = std::chrono::milliseconds(options_.connect_timeout_ms);
    const auto deadline = Clock::now() + timeout;
    auto connect_timeout = [] {
      return Error::GatewayTimeout("timed out connecting to the provider", "upstream_connect_timeout", true);
    };

    // An address needs no lookup; a name is resolved by Asio's resolver, off the loop (on the
    // one thread per loop it starts the first time).
    std::vector<tcp::endpoint> endpoints;
    asio::error_code literal;
    const auto address = asio::ip::make_address(host, literal);
    if (!literal) {
      endpoints.emplace_back(address, port);
    } else {
      tcp::resolver resolver(ex);
      asio::steady_timer resolve_timer(ex, timeout);
      resolve_timer.async_wait([&resolver](const asio::error_code& ec) {
        if (!ec) resolver.cancel();
      });
      auto [rec, results] = co_await resolver.async_resolve(host, std::to_string(port), kTuple);
      resolve_timer.cancel();
      if (rec == asio::error::operation_aborted) co_return connect_timeout();
      if (rec) co_return ConnectError("host not found");
      for (const auto& entry : results) endpoints.push_back(entry.endpoint());
    }

    conn->Arm(deadline - Clock::now());
    asio::error_code ec = co_await conn->Connect(endpoints);
    if (ec) {
      conn->Disarm();
      if (conn->timed_out()) co_return connect_timeout();
      co_return ConnectError(ec == asio::error::connection_refused ? "connection refused" : ec.message());
    }
    asio::error_code ignored;
    conn->lowest().set_option(tcp::no_delay(true), ignored);
    conn->lowest().non_blocking(true, ignored);  // Fill() reads what has arrived and never waits in a read
    opened_++;
    if (via_proxy) {
      // An HTTP CONNECT tunnel: the proxy sees the host name, never a credential or a prompt.
      const std::string target = r.host + ":" + std::to_string(r.port);
      ec = co_await conn->WriteAll("CONNECT " + target + " HTTP/1.1\r\nHost: " + target + "\r\n\r\n");
      size_t end = std::string_view::npos;
      while (!ec && (end = FindHeadEnd(conn->in)) == std::string_view::npos && conn->in.size() < kMaxHeadBytes)
        ec = co_await conn->Fill();
      if (ec || end == std::string_view::npos) {
        conn->Disarm();
        if (conn->timed_out()) co_return connect_timeout();
        co_return ConnectError("the proxy closed the tunnel");
      }
      bool http10 = false;
      auto head = ParseResponseHead(std::string_view(conn->in).substr(0, end), &http10);
      if (!head || head->status / 100 != 2) {
        conn->Disarm();
        co_return ConnectError("the proxy refused the tunnel" + (head ? " (HTTP " + std::to_string(head->status) + ")" : std::string()));
      }
      conn->in.erase(0, end);
    }
    if (https) {
      ec = co_await conn->Handshake(Tls(), r.host);
      if (ec) {
        conn->Disarm();
        if (conn->timed_out()) co_return connect_timeout();
        if (conn->CertificateRejected()) co_return ConnectError("the provider's TLS certificate could not be verified");
        co_return ConnectError("TLS handshake failed");
      }
    }
    conn->Disarm();
    co_return conn;
  }

  const HttpUpstreamOptions options_;
  std::atomic<uint64_t> opened_{0};
  std::atomic<uint64_t> requests_{0};

 private:
  Mutex mu_;
  // Idle connections by loop and scheme://host:port (a socket belongs to the loop that opened it).
  std::unordered_map<std::string, std::vector<std::shared_ptr<Conn>>> idle_ GUARDED_BY(mu_);
  std::unique_ptr<asio::ssl::context> tls_ GUARDED_BY(mu_);
};

namespace {

// One response being read: its body framed by Content-Length, chunked coding or the close.
class AsioExchange : public UpstreamExchange {
 public:
  AsioExchange(std::shared_ptr<HttpUpstream::Impl> owner, std::string key, std::shared_ptr<Conn> conn,
               UpstreamHead head, bool keep_alive, Clock::duration read_timeout)
      : owner_(std::move(owner)),
        key_(std::move(key)),
        conn_(std::move(conn)),
        head_(std::move(head)),
        keep_alive_(keep_alive),
        read_timeout_(read_timeout),
        chunks_(SIZE_MAX) {
    const std::string te = head_.Get("transfer-encoding");
    const std::string cl = head_.Get("content-length");
    if (head_.status == 204 || head_.status == 304 || head_.status / 100 == 1) {
      remaining_ = 0;
    } else if (!te.empty()) {
      chunked_ = true;
    } else if (!cl.empty()) {
      remaining_ = 0;
      for (char c : cl) {
        if (c < '0' || c > '9' || remaining_ > (int64_t{1} << 50)) {
          bad_length_ = true;
          break;
        }
        remaining_ = remaining_ * 10 + (c - '0');
      }
    } else {
      keep_alive_ = false;  // the body ends when the provider closes the connection
    }
    if (remaining_ == 0) eof_ = true;
  }
  ~AsioExchange() override { Release(); }

  const UpstreamHead& head() const override { return head_; }

  void Release() override {
    if (released_) return;
    released_ = true;
    if (eof_ && !failed_ && keep_alive_ && conn_->in_pos == conn_->in.size()) owner_->Release(key_, std::move(conn_));
  }

  awaitable<Result<std::string_view>> ReadSome() override {
    if (eof_ || released_) co_return std::string_view();
    if (bad_length_) {
      failed_ = true;
      co_return BrokenResponse("bad Content-Length");
    }
    for (;;) {
      // What is buffered first.
      std::string_view have = std::string_view(conn_->in).substr(conn_->in_pos);
      if (!have.empty()) {
        if (chunked_) {
          out_.clear();
          conn_->in_pos += chunks_.Feed(have, out_);
          if (chunks_.failed()) {
            failed_ = true;
            co_return BrokenResponse("bad chunked framing");
          }
          if (chunks_.done()) eof_ = true;
          if (!out_.empty()) co_return std::string_view(out_);
          if (eof_) co_return std::string_view();
        } else {
          if (remaining_ >= 0 && static_cast<int64_t>(have.size()) > remaining_) have = have.substr(0, static_cast<size_t>(remaining_));
          out_.assign(have);
          conn_->in_pos += have.size();
          if (remaining_ >= 0) {
            remaining_ -= static_cast<int64_t>(have.size());
            if (remaining_ == 0) eof_ = true;
          }
          co_return std::string_view(out_);
        }
      }
      conn_->Arm(read_timeout_);
      const asio::error_code ec = co_await conn_->Fill();
      conn_->Disarm();
      const bool closed = ec == asio::error::eof || ec == asio::ssl::error::stream_truncated;
      if (closed && !chunked_ && remaining_ < 0) {  // close-delimited: this is the end
        eof_ = true;
        co_return std::string_view();
      }
      if (ec || closed) {
        failed_ = true;
        if (conn_->timed_out())
          co_return Error::GatewayTimeout("the provider stopped sending (idle timeout)", "upstream_idle_timeout", true);
        co_return BrokenResponse(closed ? "connection closed" : ec.message());
      }
    }
  }

 private:
  std::shared_ptr<HttpUpstream::Impl> owner_;
  std::string key_;
  std::shared_ptr<Conn> conn_;
  UpstreamHead head_;
  bool keep_alive_;
  const Clock::duration read_timeout_;
  ChunkedDecoder chunks_;
  bool chunked_ = false;
  int64_t remaining_ = -1;  // Content-Length left; -1 = chunked or until the close
  bool bad_length_ = false;
  bool eof_ = false;
  bool failed_ = false;
  bool released_ = false;
  std::string out_;
};

}  // namespace

HttpUpstream::HttpUpstream(const HttpUpstreamOptions& options) : impl_(std::make_shared<Impl>(options)) {}
HttpUpstream::~HttpUpstream() = default;

HttpUpstream::Stats HttpUpstream::stats() const { return Stats{impl_->opened_.load(), impl_->requests_.load()}; }

awaitable<Result<std::unique_ptr<UpstreamExchange>>> HttpUpstream::Send(const UpstreamRequest& r) {
  auto ex = co_await asio::this_coro::executor;
  const std::string key = std::to_string(reinterpret_cast<uintptr_t>(&asio::query(ex, asio::execution::context))) +
                          " " + r.scheme + "://" + r.host + ":" + std::to_string(r.port);
  impl_->requests_++;
  std::string wire;
  wire.reserve(r.body.size() + 512);
  wire.append(r.method).append(" ").append(r.path).append(" HTTP/1.1\r\nHost: ").append(r.host);
  if (!((r.scheme == "https" && r.port == 443) || (r.scheme == "http" && r.port == 80)))
    wire.append(":").append(std::to_string(r.port));
  wire.append("\r\n");
  for (const auto& h : r.headers) wire.append(h.name).append(": ").append(h.value).append("\r\n");
  wire.append("Content-Length: ").append(std::to_string(r.body.size())).append("\r\n\r\n").append(r.body);
  struct Wipe {  // the wire copy holds the credential
    std::string& s;
    ~Wipe() { WipeString(s); }
  } wipe{wire};

  const auto first_byte = std::chrono::milliseconds(impl_->options_.first_byte_timeout_ms);
  for (int attempt = 0;; ++attempt) {
    std::shared_ptr<Conn> conn = impl_->Acquire(key);
    const bool reused = conn != nullptr;
    if (!conn) {
      auto opened = co_await impl_->Open(r);
      if (!opened) co_return opened.error();
      conn = std::move(*opened);
    }
    conn->Arm(first_byte);
    asio::error_code ec = co_await conn->WriteAll(wire);
    bool got_bytes = false, http10 = false;
    std::optional<UpstreamHead> head;
    while (!ec) {  // heads until a final one (a 1xx such as 100 Continue is skipped)
      const size_t end = FindHeadEnd(std::string_view(conn->in).substr(conn->in_pos));
      if (end != std::string_view::npos) {
        head = ParseResponseHead(std::string_view(conn->in).substr(conn->in_pos, end), &http10);
        conn->in_pos += end;
        if (!head || head->status / 100 != 1) break;
        head.reset();
        continue;
      }
      if (conn->in.size() - conn->in_pos > kMaxHeadBytes) break;
      const size_t unread = conn->in.size() - conn->in_pos;
      ec = co_await conn->Fill();
      got_bytes = got_bytes || conn->in.size() - conn->in_pos > unread;
    }
    conn->Disarm();
    if (ec) {
      if (reused && attempt == 0 && !got_bytes && !conn->timed_out()) continue;  // stale: once more, fresh
      if (conn->timed_out()) co_return FirstByteTimeout();
      if (!got_bytes) co_return NoResponse();
      co_return BrokenResponse("the answer's head was cut");
    }
    if (!head) co_return Error::BadGateway("the provider's answer is not valid HTTP/1.1", "upstream_invalid_response", true);
    const std::string connection = head->Get("connection");
    const bool keep_alive = !http10 && !ListHasToken(connection, "close");
    const auto read_timeout = std::chrono::milliseconds(r.stream ? impl_->options_.idle_timeout_ms
                                                                 : impl_->options_.first_byte_timeout_ms);
    co_return std::unique_ptr<UpstreamExchange>(
        new AsioExchange(impl_, key, std::move(conn), std::move(*head), keep_alive, read_timeout));
  }
}

}  // namespace warden
