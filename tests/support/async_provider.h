// A fake provider on an Asio event loop (one thread), for tests with thousands of concurrent
// requests, where the thread-per-connection FakeProvider would be the bottleneck.
//
// Every request on a connection (keep-alive) gets one answer, by `mode`:
//   kSlowStream  an OpenAI chat stream: `chunks` content chunks `interval_ms` apart, then a
//                finish chunk and [DONE];
//   kTooMany     429 with `Retry-After: 1` (an OpenAI-shaped rate-limit error).
// requests() counts the requests answered or being answered. Thread-safe.
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>

namespace warden::testing {

class AsyncProvider {
 public:
  enum class Mode { kSlowStream, kTooMany };
  AsyncProvider(Mode mode, int chunks = 10, int interval_ms = 100);
  ~AsyncProvider();
  uint16_t port() const;
  std::string base_url() const;
  int requests() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace warden::testing
