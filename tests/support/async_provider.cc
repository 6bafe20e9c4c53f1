#include "support/async_provider.h"

#include <asio.hpp>
#include <asio/experimental/as_tuple.hpp>

#include <string>
#include <thread>

namespace warden::testing {
namespace {

constexpr auto kTuple = asio::experimental::as_tuple(asio::use_awaitable);

std::string Chunk(const std::string& content, bool finish) {
  std::string delta = finish ? "{}" : R"({"content":")" + content + R"("})";
  return "data: {\"id\":\"chatcmpl-slow\",\"object\":\"chat.completion.chunk\",\"created\":1,\"model\":\"slow\","
         "\"choices\":[{\"index\":0,\"delta\":" + delta + ",\"finish_reason\":" + (finish ? "\"stop\"" : "null") + "}]}\n\n";
}

std::string Framed(const std::string& data) {
  char size[24];
  std::snprintf(size, sizeof size, "%zx\r\n", data.size());
  return size + data + "\r\n";
}

}  // namespace

struct AsyncProvider::Impl {
  Mode mode;
  int chunks;
  int interval_ms;
  asio::io_context io{1};
  asio::ip::tcp::acceptor acceptor{io, {asio::ip::make_address("127.0.0.1"), 0}};
  std::atomic<int> requests{0};
  std::thread thread;

  asio::awaitable<void> Serve(asio::ip::tcp::socket socket) {
    std::string in;
    char buf[16384];
    for (;;) {
      size_t end;
      while ((end = in.find("\r\n\r\n")) == std::string::npos) {
        auto [ec, n] = co_await socket.async_read_some(asio::buffer(buf), kTuple);
        if (ec) co_return;
        in.append(buf, n);
      }
      size_t length = 0;
      if (size_t at = in.find("Content-Length: "); at != std::string::npos && at < end) length = std::stoul(in.substr(at + 16));
      while (in.size() < end + 4 + length) {
        auto [ec, n] = co_await socket.async_read_some(asio::buffer(buf), kTuple);
        if (ec) co_return;
        in.append(buf, n);
      }
      in.erase(0, end + 4 + length);
      ++requests;
      if (mode == Mode::kTooMany) {
        const std::string body = R"({"error":{"message":"Rate limit reached","type":"rate_limit_error","code":"rate_limit_exceeded","param":null}})";
        const std::string answer = "HTTP/1.1 429 Too Many Requests\r\nContent-Type: application/json\r\nRetry-After: 1\r\nContent-Length: " +
                                   std::to_string(body.size()) + "\r\n\r\n" + body;
        auto [ec, n] = co_await asio::async_write(socket, asio::buffer(answer), kTuple);
        if (ec) co_return;
        continue;
      }
      std::string head = "HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nTransfer-Encoding: chunked\r\n\r\n";
      auto [hec, hn] = co_await asio::async_write(socket, asio::buffer(head), kTuple);
      if (hec) co_return;
      asio::steady_timer timer(socket.get_executor());
      for (int i = 0; i <= chunks; ++i) {
        timer.expires_after(std::chrono::milliseconds(interval_ms));
        co_await timer.async_wait(kTuple);
        std::string out = Framed(Chunk("c" + std::to_string(i) + " ", i == chunks));
        if (i == chunks) out += Framed("data: [DONE]\n\n") + "0\r\n\r\n";
        auto [ec, n] = co_await asio::async_write(socket, asio::buffer(out), kTuple);
        if (ec) co_return;
      }
    }
  }

  asio::awaitable<void> Accept() {
    for (;;) {
      auto [ec, socket] = co_await acceptor.async_accept(kTuple);
      if (ec) co_return;
      asio::co_spawn(io, Serve(std::move(socket)), asio::detached);
    }
  }
};

AsyncProvider::AsyncProvider(Mode mode, int chunks, int interval_ms) : impl_(std::make_unique<Impl>()) {
  impl_->mode = mode;
  impl_->chunks = chunks;
  impl_->interval_ms = interval_ms;
  impl_->acceptor.listen(4096);
  asio::co_spawn(impl_->io, impl_->Accept(), asio::detached);
  impl_->thread = std::thread([this] { impl_->io.run(); });
}

AsyncProvider::~AsyncProvider() {
  impl_->io.stop();
  impl_->thread.join();
}

uint16_t AsyncProvider::port() const { return impl_->acceptor.local_endpoint().port(); }
std::string AsyncProvider::base_url() const { return "http://127.0.0.1:" + std::to_string(port()) + "/v1"; }
int AsyncProvider::requests() const { return impl_->requests.load(); }

}  // namespace warden::testing
