#include "server/connection.h"

#include <asio/co_spawn.hpp>
#include <asio/detached.hpp>
#include <asio/experimental/as_tuple.hpp>
#include <asio/post.hpp>
#include <asio/ssl/stream.hpp>
#include <asio/steady_timer.hpp>
#include <asio/use_awaitable.hpp>
#include <asio/use_future.hpp>
#include <asio/write.hpp>

#include <algorithm>
#include <optional>

#include "common/awaitable.h"
#include "common/log.h"
#include "common/socket_read.h"
#include "common/util.h"
#include "server/http_head.h"

namespace warden {

using asio::awaitable;
using asio::ip::tcp;
using Clock = std::chrono::steady_clock;

namespace {

constexpr size_t kReadChunk = 16 * 1024;
// Lingering close: read and drop what the client still sends for at most this long in all,
// and stop after this long without a byte.
constexpr auto kLingerTotal = std::chrono::seconds(5);
constexpr auto kLingerQuiet = std::chrono::seconds(2);


Clock::duration Ms(int ms) { return std::chrono::milliseconds(ms); }

}  // namespace

class Exchange;

class Connection : public std::enable_shared_from_this<Connection> {
 public:
  Connection(ListenerShared* shared, tcp::socket socket)
      : shared_(shared), plain_(std::move(socket)), timer_(plain_.get_executor()) {
    timer_.expires_at(Clock::time_point::max());
    asio::error_code ec;
    plain_.set_option(tcp::no_delay(true), ec);
    plain_.non_blocking(true, ec);  // Fill() reads what has arrived and never waits in a read
    const auto remote = plain_.remote_endpoint(ec);
    if (!ec) client_address_ = remote.address().to_string();
    if (shared_->tls) tls_.emplace(std::move(plain_), *shared_->tls);
  }

  awaitable<void> Run();
  void Cut(bool idle_only) {
    if (idle_only && !idle_) return;
    cut_ = true;
    asio::error_code ec;
    lowest().cancel(ec);
  }
  asio::any_io_executor executor() { return timer_.get_executor(); }
  const ServerConfig& config() const { return shared_->config; }
  const std::string& client_address() const { return client_address_; }

  // --- I/O on the loop, used by Run and by Exchange ---
  tcp::socket& lowest() { return tls_ ? tls_->next_layer() : plain_; }
  // Reads what arrives next (at most kReadChunk bytes) onto the end of in_; false on EOF, an
  // error, a passed deadline or a cut.
  awaitable<bool> Fill();
  awaitable<bool> WriteAll(std::string_view a, std::string_view b = {});
  // The deadline for the I/O in progress: when it passes, that I/O fails (timed_out() is true).
  void SetDeadline(Clock::time_point at) {
    deadline_ = at;
    timed_out_ = false;
    if (at < timer_.expiry()) timer_.expires_at(at);  // wakes Watch(), which re-arms
  }
  void ClearDeadline() { deadline_ = Clock::time_point::max(); }
  bool timed_out() const { return timed_out_; }
  bool cut() const { return cut_; }
  bool stopping() const { return shared_->stopping.load(std::memory_order_relaxed); }

  // Buffered request bytes not yet consumed.
  std::string_view buffered() const { return std::string_view(in_).substr(in_pos_); }
  void Consume(size_t n) { in_pos_ += n; }

 private:
  // Arms the deadline timer: when it fires past deadline_, the I/O in progress is cancelled;
  // SetDeadline moving it earlier wakes it to re-arm. Ends once done_.
  void Watch();
  // Reads, checks and answers one request; false when the connection is to close (after
  // `*linger` says whether client bytes may still be on the way).
  awaitable<bool> ServeOne(int served, bool* linger);
  // Reads and checks the next request head; nullopt when the connection is to close (idle,
  // gone, stopping, or refused — the refusal already sent, *linger set when bytes remain).
  awaitable<std::optional<RequestHead>> ReadHead(int served, bool* linger);
  awaitable<void> SendPlainError(const Error& error);
  awaitable<void> Close(bool linger);

  ListenerShared* shared_;
  tcp::socket plain_;
  std::optional<asio::ssl::stream<tcp::socket>> tls_;
  asio::steady_timer timer_;
  Clock::time_point deadline_ = Clock::time_point::max();
  bool timed_out_ = false;
  bool cut_ = false;
  bool idle_ = false;
  bool done_ = false;
  Clock::time_point accepted_ = Clock::now();
  std::string client_address_;
  std::string in_;
  size_t in_pos_ = 0;
};

// ClientExchange over one request of a Connection. The handler calls it on a pool thread while
// the connection's coroutine waits for the handler: what needs the socket runs on the loop
// (RunOnLoop) and the pool thread waits for it; a plain answer (Send) and a body that arrived
// with the head need no trip to the loop.
class Exchange : public ClientExchange {
 public:
  Exchange(Connection& conn, RequestHead head, bool keep_alive)
      : conn_(conn), head_(std::move(head)), keep_alive_(keep_alive), start_(Clock::now()) {
    const size_t q = head_.target.find('?');
    path_ = head_.target.substr(0, q);
    if (q != std::string::npos) query_ = head_.target.substr(q + 1);
    content_length_ = head_.content_length();
    body_done_ = !has_body();
  }

  std::string_view method() const override { return head_.method; }
  std::string_view path() const override { return path_; }
  std::string_view query() const override { return query_; }
  std::string header(std::string_view name) const override {
    const std::string* v = head_.Find(name);
    return v ? *v : std::string();
  }
  std::vector<std::string> header_names() const override {
    std::vector<std::string> out;
    for (const auto& [name, value] : head_.headers) {
      std::string lower = name;
      for (char& c : lower) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
      out.push_back(std::move(lower));
    }
    return out;
  }
  std::string client_address() const override { return conn_.client_address(); }
  bool has_body() const override { return head_.chunked() || content_length_ > 0; }

  Result<std::string> ReadBody(size_t limit) override {
    if (auto done = BufferedBody(limit)) return std::move(*done);
    return RunOnLoop(AsyncReadBody(limit));
  }
  awaitable<Result<std::string>> AsyncReadBody(size_t limit) override;

  void SetHeader(const std::string& name, const std::string& value) override {
    for (auto& [n, v] : headers_)
      if (IEquals(n, name)) {
        v = value;
        return;
      }
    headers_.emplace_back(name, value);
  }
  void CloseAfterResponse() override { close_ = true; }
  void Send(int status, std::string_view content_type, std::string_view body) override {
    if (started_) return;
    started_ = true;
    pending_ = Head(status, content_type, std::to_string(body.size()));
    if (head_.method != "HEAD") pending_.append(body);
  }
  bool StartStream(int status, std::string_view content_type) override {
    return RunOnLoop(AsyncStartStream(status, content_type));
  }
  bool Write(std::string_view data) override { return RunOnLoop(AsyncWrite(data)); }
  awaitable<bool> AsyncStartStream(int status, std::string_view content_type) override {
    if (started_) co_return false;
    started_ = true;
    streaming_ = true;
    chunked_ = !head_.http10();  // an HTTP/1.0 client reads the stream until the connection closes
    if (!chunked_) close_ = true;
    SetHeader("Cache-Control", "no-cache");
    SetHeader("X-Accel-Buffering", "no");
    std::string head = Head(status, content_type, "");
    const bool ok = co_await WriteOut(std::move(head), {});
    co_return ok;
  }
  awaitable<bool> AsyncWrite(std::string_view data) override {
    if (!streaming_ || broken_) co_return false;
    if (data.empty()) co_return true;  // an empty chunk would end the stream
    if (!chunked_) {
      const bool ok = co_await WriteOut(std::string(data), {});
      co_return ok;
    }
    char size[24];
    const int n = std::snprintf(size, sizeof size, "%zx\r\n", data.size());
    std::string framed;
    framed.reserve(data.size() + static_cast<size_t>(n) + 2);
    framed.append(size, static_cast<size_t>(n)).append(data).append("\r\n");
    const bool ok = co_await WriteOut(std::move(framed), {});
    co_return ok;
  }
  bool started() const override { return started_; }

  // On the loop, after the handler returned: sends what is pending and ends a stream. Returns
  // whether the connection may serve another request.
  awaitable<bool> Finish() {
    if (!started_) {  // Handle() always answers; if it did not, the client must not hang
      close_ = true;
      Send(500, "application/json", ErrorBody(Error::Internal("The server had an error while processing your request.")));
    }
    if (!pending_.empty()) {
      const std::string out = std::move(pending_);
      const bool sent = co_await WriteOut(out, {});
      if (!sent) co_return false;
    } else if (streaming_ && chunked_ && !broken_) {
      const bool ended = co_await WriteOut("0\r\n\r\n", {});
      if (!ended) co_return false;
    }
    co_return !close_ && !broken_;
  }
  // Whether client bytes of this request may still be unread (a lingering close is needed).
  bool body_unread() const { return !body_done_; }

 private:
  template <typename T>
  T RunOnLoop(awaitable<T> op) {
    // (In an optional: asio's co_spawn needs a default-constructible result type.)
    auto wrapped = [](awaitable<T> inner) -> awaitable<std::optional<T>> { co_return co_await std::move(inner); };
    return *asio::co_spawn(conn_.executor(), wrapped(std::move(op)), asio::use_future).get();
  }

  // The status line and fields; `length` empty for a stream. Decides keep-alive for good.
  std::string Head(int status, std::string_view content_type, const std::string& length) {
    if (!body_done_ || conn_.stopping()) close_ = true;  // unread body bytes would be the next "request"
    const bool keep = keep_alive_ && !close_;
    if (!keep) close_ = true;
    std::string h;
    h.reserve(256);
    h.append(head_.http10() ? "HTTP/1.0 " : "HTTP/1.1 ").append(std::to_string(status)).append(" ");
    h.append(ReasonPhrase(status)).append("\r\nDate: ").append(HttpDate()).append("\r\nServer: warden\r\n");
    for (const auto& [name, value] : headers_) h.append(name).append(": ").append(value).append("\r\n");
    h.append("Content-Type: ").append(content_type).append("\r\n");
    if (!length.empty()) h.append("Content-Length: ").append(length).append("\r\n");
    else if (chunked_) h.append("Transfer-Encoding: chunked\r\n");
    if (!keep) h.append("Connection: close\r\n");
    else if (head_.http10()) h.append("Connection: Keep-Alive\r\n");
    h.append("\r\n");
    decltype(headers_)().swap(headers_);  // sent: a stream relaying for minutes keeps none of it
    return h;
  }

  awaitable<bool> WriteOut(std::string a, std::string b) {
    if (broken_) co_return false;
    const bool ok = co_await conn_.WriteAll(a, b);
    if (!ok) broken_ = true;
    co_return !broken_;
  }

  // The body, if it can be had without waiting: none announced, too large, or all of it
  // arrived with the head (the common case: no trip to the loop). nullopt otherwise.
  std::optional<Result<std::string>> BufferedBody(size_t limit) {
    if (body_done_) return Result<std::string>(std::string());
    if (content_length_ > static_cast<int64_t>(limit)) return Result<std::string>(BodyTooLarge(limit));
    if (head_.chunked() || head_.expects_continue() ||
        conn_.buffered().size() < static_cast<size_t>(content_length_))
      return std::nullopt;
    std::string body(conn_.buffered().substr(0, static_cast<size_t>(content_length_)));
    conn_.Consume(body.size());
    body_done_ = true;
    return Result<std::string>(std::move(body));
  }

  Error BodyTooLarge(size_t limit) {
    close_ = true;  // the rest of the body stays unread: the connection cannot be reused
    return Error::PayloadTooLarge("The request body is larger than the limit of " + std::to_string(limit) + " bytes.");
  }
  // When the body's pace check fails next if no byte arrives: after the grace time the body
  // must average min_body_rate; every read is also bounded by read_timeout.
  Clock::time_point BodyDeadline(size_t got, bool* rate) const {
    const ServerConfig& c = conn_.config();
    const Clock::time_point idle = Clock::now() + Ms(c.read_timeout_ms);
    *rate = false;
    if (c.min_body_rate == 0) return idle;
    const auto need = std::chrono::milliseconds(static_cast<int64_t>((got + 1) * 1000 / c.min_body_rate));
    const Clock::time_point pace = start_ + std::max<Clock::duration>(Ms(c.header_timeout_ms), need);
    *rate = pace < idle;
    return std::min(pace, idle);
  }
  Error Failed(bool rate) {
    close_ = true;
    if (conn_.timed_out())
      return rate ? Error::RequestTimeout("The request body arrived too slowly (see server.min_body_rate).")
                  : Error::RequestTimeout("Timed out reading the request body.");
    return Error::BadRequest("The request body could not be read (malformed or cut short).", "", "invalid_body");
  }

  Connection& conn_;
  const RequestHead head_;
  const bool keep_alive_;
  const Clock::time_point start_;
  std::string path_, query_;
  int64_t content_length_ = -1;
  std::vector<std::pair<std::string, std::string>> headers_;
  std::string pending_;
  bool body_done_ = false;
  bool close_ = false;
  bool started_ = false;
  bool streaming_ = false;
  bool chunked_ = false;
  bool broken_ = false;
};

awaitable<Result<std::string>> Exchange::AsyncReadBody(size_t limit) {
  if (auto done = BufferedBody(limit)) co_return std::move(*done);
  if (head_.expects_continue()) {  // the client waits for this before it sends the body
    const bool invited = co_await conn_.WriteAll("HTTP/1.1 100 Continue\r\n\r\n");
    if (!invited) {
      close_ = true;
      co_return Error::BadRequest("The connection broke before the body was sent.", "", "invalid_body");
    }
  }
  std::string body;
  bool rate = false;
  if (head_.chunked()) {
    // The connection is not reused after a chunked body (as before: a proxy in front may have
    // framed what follows differently).
    close_ = true;
    ChunkedDecoder decoder(limit);
    for (;;) {
      conn_.Consume(decoder.Feed(conn_.buffered(), body));
      if (decoder.done() || decoder.failed()) break;
      conn_.SetDeadline(BodyDeadline(body.size(), &rate));
      const bool more = co_await conn_.Fill();
      conn_.ClearDeadline();
      if (!more) co_return Failed(rate);
    }
    if (decoder.too_large()) co_return BodyTooLarge(limit);
    if (decoder.failed())
      co_return Error::BadRequest("The chunked request body is malformed (bad chunk size or line ending).", "",
                                  "invalid_body");
    body_done_ = true;
    co_return body;
  }
  const size_t want = static_cast<size_t>(content_length_);
  body.reserve(want);
  for (;;) {
    const std::string_view have = conn_.buffered().substr(0, want - body.size());
    body.append(have);
    conn_.Consume(have.size());
    if (body.size() == want) break;
    conn_.SetDeadline(BodyDeadline(body.size(), &rate));
    const bool more = co_await conn_.Fill();
    conn_.ClearDeadline();
    if (!more) co_return Failed(rate);
  }
  body_done_ = true;
  co_return body;
}

awaitable<bool> Connection::Fill() {
  if (in_pos_ == in_.size()) {
    in_.clear();
    in_pos_ = 0;
  } else if (in_pos_ > 64 * 1024 && in_pos_ * 2 > in_.size()) {
    in_.erase(0, in_pos_);
    in_pos_ = 0;
  }
  asio::error_code ec;
  if (tls_) ec = co_await ReadSomeInto(*tls_, in_, kReadChunk);
  else ec = co_await ReadWhatArrived(plain_, in_, 4 * kReadChunk);  // a waiting connection holds no buffer
  if (in_.empty()) std::string().swap(in_);
  co_return !ec && !cut_;
}

awaitable<bool> Connection::WriteAll(std::string_view a, std::string_view b) {
  if (cut_) co_return false;
  const std::array<asio::const_buffer, 2> buffers{asio::buffer(a), asio::buffer(b)};
  SetDeadline(Clock::now() + Ms(shared_->config.read_timeout_ms));  // a client that stops reading
  asio::error_code ec;
  if (tls_) std::tie(ec, std::ignore) = co_await asio::async_write(*tls_, buffers, kTuple);
  else std::tie(ec, std::ignore) = co_await asio::async_write(plain_, buffers, kTuple);
  ClearDeadline();
  co_return !ec && !cut_;
}

void Connection::Watch() {
  // A handler, not a coroutine: one small operation per connection instead of two frames.
  timer_.async_wait([self = shared_from_this()](const asio::error_code&) {
    if (self->done_) return;
    if (Clock::now() >= self->deadline_) {
      self->timed_out_ = true;
      self->deadline_ = Clock::time_point::max();
      asio::error_code ec;
      self->lowest().cancel(ec);  // the read or write in progress fails
    }
    self->timer_.expires_at(self->deadline_);
    self->Watch();
  });
}

awaitable<void> Connection::SendPlainError(const Error& error) {
  const std::string body = ErrorBody(error);
  std::string head = "HTTP/1.1 " + std::to_string(error.status()) + " " + std::string(ReasonPhrase(error.status())) +
                     "\r\nDate: " + HttpDate() + "\r\nServer: warden\r\nContent-Type: application/json\r\nContent-Length: " +
                     std::to_string(body.size()) + "\r\nConnection: close\r\n\r\n";
  co_await WriteAll(head, body);
}

awaitable<std::optional<RequestHead>> Connection::ReadHead(int served, bool* linger) {
  const ServerConfig& c = shared_->config;
  *linger = false;
  // The first head counts from the accept (TLS handshake included); later ones from their first
  // byte, after at most keep_alive_idle of waiting.
  const Clock::time_point first_deadline = accepted_ + Ms(c.header_timeout_ms);
  if (buffered().empty()) {
    idle_ = true;
    SetDeadline(served == 0 ? first_deadline : Clock::now() + Ms(c.keep_alive_idle_ms));
    bool got = false;
    if (!stopping()) got = co_await Fill();
    idle_ = false;
    if (!got) co_return std::nullopt;  // closed, idle too long, or the server is stopping: quietly
  }
  SetDeadline(served == 0 ? first_deadline : Clock::now() + Ms(c.header_timeout_ms));
  size_t end = std::string_view::npos, searched = 0;
  while ((end = FindHeadEnd(buffered(), searched)) == std::string_view::npos) {
    if (buffered().size() > c.max_header_bytes) {
      *linger = true;
      co_await SendPlainError(HeadParseError(HeadProblem::kFieldsTooLarge));
      co_return std::nullopt;
    }
    searched = buffered().size();
    const bool more = co_await Fill();
    if (!more) {
      if (timed_out_ && !cut_) {
        *linger = true;
        co_await SendPlainError(Error::RequestTimeout("The request headers did not arrive in time."));
      }
      co_return std::nullopt;
    }
  }
  ClearDeadline();
  const std::string_view raw = buffered().substr(0, end);
  *linger = true;  // from here on, a refusal leaves client bytes unread
  if (end > c.max_header_bytes) {
    co_await SendPlainError(HeadParseError(HeadProblem::kFieldsTooLarge));
    co_return std::nullopt;
  }
  if (auto bad = CheckHeadFraming(raw)) {
    co_await SendPlainError(*bad);  // where this request ends is not clear: close
    co_return std::nullopt;
  }
  auto head = ParseRequestHead(raw);
  Consume(end);
  if (buffered().empty()) {  // no buffer held while the request runs
    std::string().swap(in_);
    in_pos_ = 0;
  }
  if (!head) {
    co_await SendPlainError(head.error());
    co_return std::nullopt;
  }
  if (auto bad = CheckRequestHead(head->version, head->headers)) {
    co_await SendPlainError(*bad);  // the body's extent is unknown: close
    co_return std::nullopt;
  }
  co_return std::move(*head);
}

awaitable<bool> Connection::ServeOne(int served, bool* linger) {
  // The head is read by its own coroutine, whose frame (and its refusals) is gone by the time
  // the request runs: what stays for a long stream is the Exchange.
  std::optional<RequestHead> head = co_await ReadHead(served, linger);
  if (!head) co_return false;
  const ServerConfig& c = shared_->config;
  const bool keep_alive = head->keep_alive() && served + 1 < c.max_keep_alive_requests;
  Exchange exchange(*this, std::move(*head), keep_alive);
  if (shared_->async_handler) {
    co_await shared_->async_handler->Handle(exchange);  // on this loop; never throws
  } else {
    RequestHandler* handler = shared_->handler;
    co_await asio::co_spawn(
        *shared_->pool, [handler, &exchange]() -> awaitable<void> {
          handler->Handle(exchange);  // blocking code, on the pool; never throws
          co_return;
        },
        asio::use_awaitable);
  }
  const bool again = co_await exchange.Finish();
  *linger = exchange.body_unread();
  co_return again && !cut_;
}

awaitable<void> Connection::Run() {
  auto self = shared_from_this();
  // However this coroutine ends, the connection leaves the open set (Stop() waits for it).
  struct Leave {
    ListenerShared* shared;
    std::shared_ptr<Connection> self;
    ~Leave() {
      MutexLock lock(shared->mu);
      shared->open.erase(self);
    }
  } leave{shared_, self};
  Watch();
  bool linger = false;
  bool ok = true;
  if (tls_) {
    SetDeadline(accepted_ + Ms(shared_->config.header_timeout_ms));
    auto [ec] = co_await tls_->async_handshake(asio::ssl::stream_base::server, kTuple);
    if (ec) {
      log::Debug("tls_handshake_failed", {{"error", ec.message()}});
      ok = false;
    }
  }
  for (int served = 0; ok; ++served) ok = co_await ServeOne(served, &linger);
  co_await Close(linger);
  done_ = true;
  timer_.cancel();
}

awaitable<void> Connection::Close(bool linger) {
  asio::error_code ec;
  if (linger && !cut_) {
    // Lingering close: the answer is in the socket; stop sending, then read and drop what the
    // client still sends, so closing does not answer its bytes with a reset that can destroy
    // the answer before the client has read it.
    lowest().shutdown(tcp::socket::shutdown_send, ec);
    const Clock::time_point until = Clock::now() + kLingerTotal;
    char sink[4096];
    while (!ec && !cut_) {
      const Clock::time_point now = Clock::now();
      if (now >= until) break;
      SetDeadline(std::min(until, now + kLingerQuiet));
      size_t n = 0;
      std::tie(ec, n) = co_await lowest().async_read_some(asio::buffer(sink), kTuple);
    }
    ClearDeadline();
  }
  lowest().close(ec);
}

void Serve(ListenerShared* shared, tcp::socket socket) {
  auto conn = std::make_shared<Connection>(shared, std::move(socket));
  {
    MutexLock lock(shared->mu);
    shared->open.insert(conn);
  }
  asio::co_spawn(conn->executor(), conn->Run(), [](std::exception_ptr e) {
    if (!e) return;
    try {
      std::rethrow_exception(e);
    } catch (const std::exception& ex) {
      log::Error("connection_failed", {{"error", std::string(ex.what())}});
    }
  });
}

void Cut(const std::shared_ptr<Connection>& connection, bool idle_only) {
  asio::post(connection->executor(), [connection, idle_only] { connection->Cut(idle_only); });
}

}  // namespace warden
