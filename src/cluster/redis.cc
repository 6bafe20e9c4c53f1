#include "cluster/redis.h"

#include <hiredis/hiredis.h>
#include <openssl/ssl.h>

#include <asio/co_spawn.hpp>
#include <asio/connect.hpp>
#include <asio/detached.hpp>
#include <asio/ip/tcp.hpp>
#include <asio/post.hpp>
#include <asio/ssl/context.hpp>
#include <asio/ssl/host_name_verification.hpp>
#include <asio/ssl/stream.hpp>
#include <asio/steady_timer.hpp>
#include <asio/this_coro.hpp>
#include <asio/write.hpp>

#include <algorithm>
#include <charconv>
#include <chrono>
#include <deque>
#include <future>

#include "common/awaitable.h"
#include "common/log.h"
#include "common/mutex.h"
#include "common/secret.h"
#include "common/socket_read.h"

namespace warden {
namespace {

using asio::awaitable;
using asio::ip::tcp;
using Clock = std::chrono::steady_clock;

constexpr auto kFirstBackoff = std::chrono::milliseconds(100);
constexpr auto kMaxBackoff = std::chrono::milliseconds(5000);
constexpr auto kSubscriberPing = std::chrono::seconds(5);
constexpr size_t kReadChunk = 16 * 1024;

RedisValue Convert(const redisReply* r) {
  RedisValue v;
  switch (r->type) {
    case REDIS_REPLY_STRING: v.type = RedisValue::Type::kString; break;
    case REDIS_REPLY_STATUS: v.type = RedisValue::Type::kStatus; break;
    case REDIS_REPLY_ERROR: v.type = RedisValue::Type::kError; break;
    case REDIS_REPLY_INTEGER: v.type = RedisValue::Type::kInteger; break;
    case REDIS_REPLY_ARRAY: v.type = RedisValue::Type::kArray; break;
    default: v.type = RedisValue::Type::kNil; break;
  }
  if (r->type == REDIS_REPLY_STRING || r->type == REDIS_REPLY_STATUS || r->type == REDIS_REPLY_ERROR)
    v.str.assign(r->str, r->len);
  if (r->type == REDIS_REPLY_INTEGER) v.integer = r->integer;
  if (r->type == REDIS_REPLY_ARRAY)
    for (size_t i = 0; i < r->elements; ++i) v.elements.push_back(Convert(r->element[i]));
  return v;
}

void AppendCommand(std::string& out, const std::vector<std::string>& args) {
  std::vector<const char*> argv;
  std::vector<size_t> lens;
  for (const std::string& a : args) argv.push_back(a.data()), lens.push_back(a.size());
  char* cmd = nullptr;
  const int n = redisFormatCommandArgv(&cmd, static_cast<int>(args.size()), argv.data(), lens.data());
  if (n > 0) out.append(cmd, static_cast<size_t>(n));
  redisFreeCommand(cmd);
}

// What every connection of one client shares; the connections outlive the Redis object while
// their coroutines finish, so they hold this, never the Redis object.
struct Shared {
  RedisConfig config;
  std::string display;
  std::unique_ptr<asio::ssl::context> tls;  // rediss:// only
  std::atomic<bool> up{false};
  std::atomic<bool> stopped{false};
};

// One socket (and its TLS layer) for the life of one connection attempt. Its reader and writer
// hold it, so closing it never destroys a stream an operation is still using.
struct Link {
  explicit Link(const asio::any_io_executor& ex) : socket(ex) {}
  tcp::socket& lowest() { return tls ? tls->next_layer() : socket; }
  void Close() {
    asio::error_code ignored;
    lowest().close(ignored);
  }
  awaitable<asio::error_code> Write(const std::string& data) {
    asio::error_code ec;
    if (tls) std::tie(ec, std::ignore) = co_await asio::async_write(*tls, asio::buffer(data), kTuple);
    else std::tie(ec, std::ignore) = co_await asio::async_write(socket, asio::buffer(data), kTuple);
    co_return ec;
  }
  awaitable<asio::error_code> Read(std::string& buf) {
    if (tls) co_return co_await ReadSomeInto(*tls, buf, kReadChunk);
    co_return co_await ReadWhatArrived(socket, buf, kReadChunk);
  }
  tcp::socket socket;
  std::optional<asio::ssl::stream<tcp::socket>> tls;
};

struct Pending {
  explicit Pending(const asio::any_io_executor& ex) : timer(ex) {}
  asio::steady_timer timer;  // the command's deadline; cancelled when its reply arrives
  std::optional<Result<RedisValue>> result;
  bool internal = false;     // AUTH / SELECT / SUBSCRIBE, sent by the connection itself
};

struct ReaderDeleter {
  void operator()(redisReader* r) const { redisReaderFree(r); }
};

// One connection, bound to one loop: every member is touched on that loop only.
class Conn : public std::enable_shared_from_this<Conn> {
 public:
  Conn(asio::io_context& io, std::shared_ptr<Shared> shared) : io_(io), shared_(std::move(shared)) {}

  // The subscriber connection: SUBSCRIBE after AUTH, then every reply is a message.
  void MakeSubscriber(std::string channel, std::function<void(std::string_view)> on_message,
                      std::function<void()> on_reset) {
    channel_ = std::move(channel);
    on_message_ = std::move(on_message);
    on_reset_ = std::move(on_reset);
  }

  awaitable<Result<RedisValue>> Command(std::vector<std::string> args) {
    auto self = shared_from_this();
    if (shared_->stopped) co_return Unavailable("the client has stopped");
    if (state_ == State::kDown) {
      if (Clock::now() < retry_at_) co_return Unavailable(last_error_);
      StartConnect();
    }
    auto p = std::make_shared<Pending>(io_.get_executor());
    p->timer.expires_after(std::chrono::milliseconds(shared_->config.command_timeout_ms) +
                           (state_ == State::kConnecting ? std::chrono::milliseconds(shared_->config.connect_timeout_ms)
                                                         : std::chrono::milliseconds(0)));
    AppendCommand(out_, args);
    pending_.push_back(p);
    StartWrite();
    co_await p->timer.async_wait(kTuple);
    if (!p->result) Fail("a command timed out");  // resolves p with the others in flight
    co_return std::move(*p->result);
  }

  // Subscriber: (re)connects whenever the connection is down and the backoff has passed, and
  // pings every few seconds so a silently dead connection is noticed.
  awaitable<void> KeepSubscribed() {
    auto self = shared_from_this();
    asio::steady_timer wait(io_);
    while (!shared_->stopped) {
      if (state_ == State::kDown && Clock::now() >= retry_at_) StartConnect();
      if (state_ == State::kUp) {
        std::vector<std::string> ping = {"PING"};
        Result<RedisValue> pong = co_await Command(std::move(ping));
        (void)pong;  // a failure has already closed the connection (Fail), to be reopened
      }
      Clock::duration next = kSubscriberPing;
      if (state_ != State::kUp) next = std::max<Clock::duration>(retry_at_ - Clock::now(), kFirstBackoff);
      wait.expires_after(next);
      co_await wait.async_wait(kTuple);
    }
  }

  // Closes the connection and fails every command in flight with `why`.
  void Fail(const std::string& why) {
    if (state_ == State::kDown && pending_.empty()) return;
    const bool was_up = state_ == State::kUp;
    ++generation_;
    state_ = State::kDown;
    if (link_) link_->Close();
    link_.reset();
    out_.clear();
    reader_.reset(redisReaderCreate());
    last_error_ = why;
    retry_at_ = Clock::now() + backoff_;
    backoff_ = std::min<Clock::duration>(backoff_ * 2, kMaxBackoff);
    std::deque<std::shared_ptr<Pending>> failed;
    failed.swap(pending_);
    for (auto& p : failed) {
      p->result = Unavailable(why);
      p->timer.cancel();
    }
    shared_->up = false;
    if (was_up && !shared_->stopped)
      log::Warn("redis_connection_lost", {{"redis", shared_->display}, {"reason", why}});
  }

 private:
  enum class State { kDown, kConnecting, kUp };

  Error Unavailable(const std::string& why) const {
    return Error::ServiceUnavailable("Redis at " + shared_->display + " cannot answer: " + why,
                                     "shared_state_unavailable");
  }

  void StartConnect() {
    state_ = State::kConnecting;
    asio::co_spawn(io_, Connect(), asio::detached);
  }

  awaitable<void> Connect() {
    auto self = shared_from_this();
    const RedisConfig& c = shared_->config;
    auto link = std::make_shared<Link>(io_.get_executor());
    const uint64_t attempt = generation_;
    asio::steady_timer deadline(io_);
    bool timed_out = false;
    deadline.expires_after(std::chrono::milliseconds(c.connect_timeout_ms));
    deadline.async_wait([&timed_out, link](const asio::error_code& ec) {
      if (ec) return;
      timed_out = true;
      asio::error_code ignored;
      link->lowest().cancel(ignored);
    });
    std::vector<tcp::endpoint> endpoints;
    asio::error_code literal;
    const auto address = asio::ip::make_address(c.host, literal);
    std::string failure;
    if (!literal) {
      endpoints.emplace_back(address, c.port);
    } else {
      tcp::resolver resolver(io_);
      asio::steady_timer resolve_timer(io_, std::chrono::milliseconds(c.connect_timeout_ms));
      resolve_timer.async_wait([&resolver](const asio::error_code& ec) {
        if (!ec) resolver.cancel();
      });
      auto [rec, results] = co_await resolver.async_resolve(c.host, std::to_string(c.port), kTuple);
      resolve_timer.cancel();
      if (rec) failure = "its host name could not be resolved";
      for (const auto& entry : results) endpoints.push_back(entry.endpoint());
    }
    if (failure.empty()) {
      auto [ec, endpoint] = co_await asio::async_connect(link->socket, endpoints, kTuple);
      if (ec) failure = timed_out ? "connecting timed out" : ec == asio::error::connection_refused ? "connection refused" : ec.message();
    }
    if (failure.empty()) {
      asio::error_code ignored;
      link->socket.set_option(tcp::no_delay(true), ignored);
      if (shared_->tls) {
        link->tls.emplace(std::move(link->socket), *shared_->tls);
        SSL_set_tlsext_host_name(link->tls->native_handle(), c.host.c_str());
        link->tls->set_verify_mode(asio::ssl::verify_peer);
        link->tls->set_verify_callback(asio::ssl::host_name_verification(c.host));
        auto [ec] = co_await link->tls->async_handshake(asio::ssl::stream_base::client, kTuple);
        if (ec)
          failure = timed_out ? "the TLS handshake timed out"
                    : SSL_get_verify_result(link->tls->native_handle()) != X509_V_OK
                        ? "its TLS certificate could not be verified"
                        : "the TLS handshake failed";
      } else {
        link->socket.non_blocking(true, ignored);  // ReadWhatArrived reads what has arrived
      }
    }
    deadline.cancel();
    if (generation_ != attempt || shared_->stopped) {  // stopped (Fail) meanwhile
      link->Close();
      co_return;
    }
    if (!failure.empty()) {
      Fail(failure);
      co_return;
    }
    // AUTH and SELECT go first, ahead of the commands queued while connecting.
    std::string first;
    std::deque<std::shared_ptr<Pending>> internal;
    auto add = [&](std::vector<std::string> args) {
      AppendCommand(first, args);
      auto p = std::make_shared<Pending>(io_.get_executor());
      p->internal = true;
      internal.push_back(p);
    };
    if (!c.password.empty()) {
      if (c.username.empty()) add({"AUTH", std::string(c.password.Reveal())});
      else add({"AUTH", c.username, std::string(c.password.Reveal())});
    }
    if (c.db != 0) add({"SELECT", std::to_string(c.db)});
    if (!channel_.empty()) add({"SUBSCRIBE", channel_});
    out_.insert(0, first);
    WipeString(first);
    pending_.insert(pending_.begin(), internal.begin(), internal.end());
    link_ = link;
    state_ = State::kUp;
    backoff_ = kFirstBackoff;
    const bool was_down = !shared_->up.exchange(true);
    if (was_down && !last_error_.empty()) log::Info("redis_connection_restored", {{"redis", shared_->display}});
    asio::co_spawn(io_, Read(link, generation_), asio::detached);
    StartWrite();
  }

  void StartWrite() {
    if (writing_ || out_.empty() || state_ != State::kUp) return;
    writing_ = true;
    asio::co_spawn(io_, Write(link_, generation_), asio::detached);
  }

  awaitable<void> Write(std::shared_ptr<Link> link, uint64_t generation) {
    auto self = shared_from_this();
    while (generation_ == generation && !out_.empty()) {
      std::string batch;
      batch.swap(out_);
      const asio::error_code ec = co_await link->Write(batch);
      WipeString(batch);  // may hold AUTH's password
      if (ec) {
        if (generation_ == generation) Fail("writing failed: " + ec.message());
        break;
      }
    }
    writing_ = false;
    if (generation_ != generation) StartWrite();  // a new connection may have queued commands
  }

  awaitable<void> Read(std::shared_ptr<Link> link, uint64_t generation) {
    auto self = shared_from_this();
    std::string buf;
    while (generation_ == generation) {
      buf.clear();
      const asio::error_code ec = co_await link->Read(buf);
      if (generation_ != generation) break;
      if (ec) {
        Fail(ec == asio::error::eof ? "the server closed the connection" : "reading failed: " + ec.message());
        break;
      }
      if (redisReaderFeed(reader_.get(), buf.data(), buf.size()) != REDIS_OK) {
        Fail("its reply could not be read");
        break;
      }
      for (;;) {
        void* raw = nullptr;
        if (redisReaderGetReply(reader_.get(), &raw) != REDIS_OK) {
          Fail("its reply could not be read");
          break;
        }
        if (!raw) break;
        RedisValue v = Convert(static_cast<redisReply*>(raw));
        freeReplyObject(raw);
        Deliver(std::move(v));
        if (generation_ != generation) break;
      }
    }
  }

  void Deliver(RedisValue v) {
    const bool message = v.type == RedisValue::Type::kArray && v.elements.size() == 3 &&
                         v.elements[0].str == "message";
    if (message && !channel_.empty()) {
      if (on_message_) on_message_(v.elements[2].str);
      return;
    }
    if (pending_.empty()) {
      Fail("it sent a reply nobody asked for");
      return;
    }
    std::shared_ptr<Pending> p = std::move(pending_.front());
    pending_.pop_front();
    if (p->internal) {
      if (v.type == RedisValue::Type::kError) {
        // "WRONGPASS …", "NOAUTH …": the server's words name the problem, never the password.
        Fail("it refused the connection's set-up: " + v.str.substr(0, 200));
        return;
      }
      if (!channel_.empty() && v.type == RedisValue::Type::kArray && !v.elements.empty() &&
          v.elements[0].str == "subscribe" && on_reset_)
        on_reset_();  // subscribed: whatever was published while down is lost
      return;
    }
    p->result = std::move(v);
    p->timer.cancel();
  }

  asio::io_context& io_;
  std::shared_ptr<Shared> shared_;
  State state_ = State::kDown;
  uint64_t generation_ = 0;
  std::shared_ptr<Link> link_;
  std::unique_ptr<redisReader, ReaderDeleter> reader_{redisReaderCreate()};
  std::string out_;  // formatted commands not yet written
  bool writing_ = false;
  std::deque<std::shared_ptr<Pending>> pending_;  // written or queued, awaiting replies in order
  Clock::time_point retry_at_{};
  Clock::duration backoff_ = kFirstBackoff;
  std::string last_error_;
  std::string channel_;
  std::function<void(std::string_view)> on_message_;
  std::function<void()> on_reset_;
};

}  // namespace

std::optional<int64_t> RedisValue::AsInt() const {
  if (type == Type::kInteger) return integer;
  if (type == Type::kNil) return 0;
  if (type != Type::kString) return std::nullopt;
  int64_t v = 0;
  auto [end, ec] = std::from_chars(str.data(), str.data() + str.size(), v);
  if (ec != std::errc() || end != str.data() + str.size()) return std::nullopt;
  return v;
}

std::string RedisDisplayName(const RedisConfig& c) {
  const bool v6 = c.host.find(':') != std::string::npos;
  return std::string(c.tls ? "rediss://" : "redis://") + (v6 ? "[" + c.host + "]" : c.host) + ":" +
         std::to_string(c.port) + "/" + std::to_string(c.db);
}

struct Redis::Impl {
  std::shared_ptr<Shared> shared = std::make_shared<Shared>();
  std::vector<asio::io_context*> loops;
  std::vector<std::shared_ptr<Conn>> conns;  // one per loop; fixed after construction
  Mutex subscribers_mu;
  std::vector<std::shared_ptr<Conn>> subscribers GUARDED_BY(subscribers_mu);  // one connection each
};

Redis::Redis(const RedisConfig& config, std::vector<asio::io_context*> loops) : impl_(std::make_unique<Impl>()) {
  impl_->shared->config = config;
  impl_->shared->display = RedisDisplayName(config);
  if (config.tls) {
    auto tls = std::make_unique<asio::ssl::context>(asio::ssl::context::tls_client);
    SSL_CTX_set_min_proto_version(tls->native_handle(), TLS1_2_VERSION);
    asio::error_code ec;
    if (config.ca_file.empty()) tls->set_default_verify_paths(ec);
    else tls->load_verify_file(config.ca_file, ec);  // a bad file: every handshake fails verification
    tls->set_verify_mode(asio::ssl::verify_peer);
    impl_->shared->tls = std::move(tls);
  }
  impl_->loops = std::move(loops);
  for (asio::io_context* loop : impl_->loops) impl_->conns.push_back(std::make_shared<Conn>(*loop, impl_->shared));
}

Redis::~Redis() { Stop(); }

bool Redis::up() const { return impl_->shared->up.load(std::memory_order_relaxed); }

awaitable<Result<RedisValue>> Redis::Command(std::vector<std::string> args) {
  const auto ex = co_await asio::this_coro::executor;
  const asio::execution_context* here = &asio::query(ex, asio::execution::context);
  for (size_t i = 0; i < impl_->loops.size(); ++i)
    if (here == impl_->loops[i]) co_return co_await impl_->conns[i]->Command(std::move(args));
  // Not on one of our loops: hop to the first one's connection and come back.
  // (In an optional: co_spawn needs a default-constructible result type.)
  std::shared_ptr<Conn> conn = impl_->conns.at(0);
  std::optional<Result<RedisValue>> r = co_await asio::co_spawn(
      *impl_->loops[0],
      [conn, args = std::move(args)]() mutable -> awaitable<std::optional<Result<RedisValue>>> {
        co_return co_await conn->Command(std::move(args));
      },
      asio::use_awaitable);
  co_return std::move(*r);
}

Result<RedisValue> Redis::Blocking(std::vector<std::string> args) {
  if (impl_->shared->stopped) return Error::ServiceUnavailable("the Redis client has stopped", "shared_state_unavailable");
  auto promise = std::make_shared<std::promise<Result<RedisValue>>>();
  auto future = promise->get_future();
  std::shared_ptr<Conn> conn = impl_->conns.at(0);
  asio::co_spawn(
      *impl_->loops[0],
      [conn, promise, args = std::move(args)]() mutable -> awaitable<void> {
        promise->set_value(co_await conn->Command(std::move(args)));
      },
      asio::detached);
  const RedisConfig& c = impl_->shared->config;
  const auto bound = std::chrono::milliseconds(c.connect_timeout_ms + c.command_timeout_ms + 1000);
  if (future.wait_for(bound) != std::future_status::ready)
    return Error::ServiceUnavailable("Redis at " + impl_->shared->display + " did not answer in time",
                                     "shared_state_unavailable");
  return future.get();
}

Result<RedisValue> Redis::Call(std::vector<std::string> args, std::string_view what) {
  Result<RedisValue> r = Blocking(std::move(args));
  if (r && r->type == RedisValue::Type::kError)
    return Error::ServiceUnavailable("Redis refused " + std::string(what) + ": " + r->str.substr(0, 200),
                                     "shared_state_unavailable");
  return r;
}

Status Redis::Scan(std::vector<std::string> args, size_t cursor_at,
                   const std::function<Status(const std::vector<RedisValue>& items)>& page) {
  do {
    Result<RedisValue> r = Call(args, args[0]);
    if (!r) return r.error();
    if (r->type != RedisValue::Type::kArray || r->elements.size() != 2)
      return Error::ServiceUnavailable("Redis answered " + args[0] + " with an unexpected reply", "shared_state_unavailable");
    if (Status s = page(r->elements[1].elements); !s) return s;
    args[cursor_at] = r->elements[0].str;
  } while (args[cursor_at] != "0");
  return Status::Ok();
}

void Redis::Subscribe(std::string channel, std::function<void(std::string_view)> on_message,
                      std::function<void()> on_reset) {
  auto conn = std::make_shared<Conn>(*impl_->loops.at(0), impl_->shared);
  conn->MakeSubscriber(std::move(channel), std::move(on_message), std::move(on_reset));
  {
    MutexLock lock(impl_->subscribers_mu);
    impl_->subscribers.push_back(conn);
  }
  asio::co_spawn(*impl_->loops[0], conn->KeepSubscribed(), asio::detached);
}

StandaloneRedis::StandaloneRedis(const RedisConfig& config)
    : work_(asio::make_work_guard(io_)), thread_([this] { io_.run(); }),
      redis_(std::make_unique<Redis>(config, std::vector<asio::io_context*>{&io_})) {}

StandaloneRedis::~StandaloneRedis() {
  redis_->Stop();
  work_.reset();
  io_.stop();
  thread_.join();
  redis_.reset();
}

void Redis::Stop() {
  if (impl_->shared->stopped.exchange(true)) return;
  auto fail = [](std::shared_ptr<Conn> c) { c->Fail("the client has stopped"); };
  for (size_t i = 0; i < impl_->conns.size(); ++i) asio::post(*impl_->loops[i], [c = impl_->conns[i], fail] { fail(c); });
  MutexLock lock(impl_->subscribers_mu);
  for (const auto& c : impl_->subscribers) asio::post(*impl_->loops[0], [c, fail] { fail(c); });
}

}  // namespace warden
