// Spike (docs/decisions/0001-event-loops.md): the benchmark request's HTTP/1.1 exchange on
// Asio — one io_context per thread, a C++20 coroutine per connection, keep-alive, a canned
// JSON answer. Usage: asio_spike PORT THREADS. Measured with wrk against poco_spike's twin.
#include <asio.hpp>
#include <asio/experimental/as_tuple.hpp>

#include <iostream>
#include <string>
#include <thread>
#include <vector>

namespace {

const std::string kBody = R"({"id":"x","object":"chat.completion","choices":[{"index":0,"message":{"role":"assistant","content":"ok"},"finish_reason":"stop"}]})";
const std::string kAnswer = "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: " +
                            std::to_string(kBody.size()) + "\r\n\r\n" + kBody;
constexpr auto kTuple = asio::experimental::as_tuple(asio::use_awaitable);

asio::awaitable<void> Serve(asio::ip::tcp::socket socket) {
  std::string in;
  char buf[16384];
  for (;;) {
    auto [ec, n] = co_await socket.async_read_some(asio::buffer(buf), kTuple);
    if (ec) co_return;
    in.append(buf, n);
    for (size_t end; (end = in.find("\r\n\r\n")) != std::string::npos;) {
      in.erase(0, end + 4);  // the spike's requests carry no body
      auto [wec, w] = co_await asio::async_write(socket, asio::buffer(kAnswer), kTuple);
      if (wec) co_return;
    }
  }
}

asio::awaitable<void> Accept(asio::ip::tcp::acceptor& acceptor, std::vector<std::unique_ptr<asio::io_context>>& loops) {
  for (size_t next = 0;; ++next) {
    auto& loop = *loops[next % loops.size()];
    auto [ec, socket] = co_await acceptor.async_accept(loop, kTuple);
    if (ec) co_return;
    socket.set_option(asio::ip::tcp::no_delay(true));
    asio::co_spawn(loop, Serve(std::move(socket)), asio::detached);
  }
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 3) {
    std::cerr << "usage: asio_spike PORT THREADS\n";
    return 2;
  }
  const int threads = std::max(1, std::atoi(argv[2]));
  std::vector<std::unique_ptr<asio::io_context>> loops;
  for (int i = 0; i < threads; ++i) loops.push_back(std::make_unique<asio::io_context>(1));
  asio::ip::tcp::acceptor acceptor(*loops[0], {asio::ip::make_address("127.0.0.1"), static_cast<uint16_t>(std::atoi(argv[1]))});
  asio::co_spawn(*loops[0], Accept(acceptor, loops), asio::detached);
  std::vector<std::thread> runners;
  for (int i = 1; i < threads; ++i) runners.emplace_back([&, i] { loops[i]->run(); });
  auto guard = asio::make_work_guard(*loops[0]);
  std::vector<asio::executor_work_guard<asio::io_context::executor_type>> guards;
  for (auto& l : loops) guards.push_back(asio::make_work_guard(*l));
  loops[0]->run();
}
