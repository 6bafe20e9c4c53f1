// In-memory fakes for driving the gateway phases without sockets.
#pragma once

#include <asio/co_spawn.hpp>
#include <asio/io_context.hpp>

#include <deque>
#include <exception>
#include <optional>
#include <map>
#include <string>
#include <vector>

#include "gateway/client_exchange.h"
#include "providers/upstream.h"

namespace warden::testing {

// Runs a coroutine to its end on a private event loop in this thread; its result (or exception).
template <typename T>
T RunSync(asio::awaitable<T> task) {
  asio::io_context io;
  std::optional<T> out;
  std::exception_ptr failed;
  asio::co_spawn(
      io, [&]() -> asio::awaitable<void> { out.emplace(co_await std::move(task)); },
      [&](std::exception_ptr e) { failed = e; });
  io.run();
  if (failed) std::rethrow_exception(failed);
  return std::move(*out);
}

// A client exchange that records what the gateway sends. `trace` (shared with the fake
// upstream) records the order of reads and writes.
class MemoryClient : public ClientExchange {
 public:
  explicit MemoryClient(std::vector<std::string>* trace = nullptr) : trace_(trace) {}
  std::string method_ = "POST", path_ = "/v1/chat/completions", body_;
  std::map<std::string, std::string> request_headers_, response_headers_;
  int status_ = 0;
  std::string content_type_, sent_;
  std::vector<std::string> writes_;
  bool close_ = false, gone_ = false;

  std::string_view method() const override { return method_; }
  std::string_view path() const override { return path_; }
  std::string header(std::string_view name) const override {
    auto it = request_headers_.find(std::string(name));
    return it == request_headers_.end() ? "" : it->second;
  }
  std::vector<std::string> header_names() const override {
    std::vector<std::string> out;
    for (const auto& [k, v] : request_headers_) out.push_back(k);
    return out;
  }
  std::string client_address() const override { return "127.0.0.1"; }
  bool has_body() const override { return !body_.empty(); }
  Result<std::string> ReadBody(size_t limit) override {
    if (body_.size() > limit) return Error::PayloadTooLarge("too large");
    return body_;
  }
  void SetHeader(const std::string& n, const std::string& v) override { response_headers_[n] = v; }
  void CloseAfterResponse() override { close_ = true; }
  void Send(int status, std::string_view ct, std::string_view body) override {
    status_ = status;
    content_type_ = ct;
    sent_ = body;
    started_ = true;
  }
  bool StartStream(int status, std::string_view ct) override {
    status_ = status;
    content_type_ = ct;
    started_ = true;
    return true;
  }
  bool Write(std::string_view data) override {
    if (trace_) trace_->push_back("write");
    writes_.emplace_back(data);
    sent_ += data;
    return !gone_;
  }
  asio::awaitable<Result<std::string>> AsyncReadBody(size_t limit) override { co_return ReadBody(limit); }
  asio::awaitable<bool> AsyncStartStream(int status, std::string_view ct) override { co_return StartStream(status, ct); }
  asio::awaitable<bool> AsyncWrite(std::string_view data) override { co_return Write(data); }
  bool started() const override { return started_; }

 private:
  std::vector<std::string>* trace_;
  bool started_ = false;
};

// An upstream that answers every request with a fixed status, content type and body pieces.
class ScriptedUpstream : public UpstreamClient {
 public:
  int status = 200;
  std::string content_type = "text/event-stream";
  std::vector<std::string> pieces;
  std::vector<UpstreamRequest> sent;
  std::vector<std::string>* trace = nullptr;

  asio::awaitable<Result<std::unique_ptr<UpstreamExchange>>> Send(const UpstreamRequest& request) override {
    sent.push_back(request);
    co_return std::unique_ptr<UpstreamExchange>(new Exchange(this));
  }

 private:
  class Exchange : public UpstreamExchange {
   public:
    explicit Exchange(ScriptedUpstream* owner) : owner_(owner), left_(owner->pieces.begin(), owner->pieces.end()) {
      head_.status = owner->status;
      head_.headers.push_back({"Content-Type", owner->content_type});
    }
    const UpstreamHead& head() const override { return head_; }
    asio::awaitable<Result<std::string_view>> ReadSome() override {
      if (owner_->trace) owner_->trace->push_back("read");
      if (left_.empty()) co_return std::string_view();
      current_ = left_.front();
      left_.pop_front();
      co_return std::string_view(current_);
    }

   private:
    ScriptedUpstream* owner_;
    std::deque<std::string> left_;
    std::string current_;
    UpstreamHead head_;
  };
};

}  // namespace warden::testing
