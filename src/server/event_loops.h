// EventLoops: the process's event loops — a fixed number of threads, each running one Asio
// io_context — on which every connection, upstream exchange, timer and coroutine of a request
// lives. Both listeners share them.
//
// Contract: Start() runs the threads; Next() hands out the loops round-robin (a new connection
// goes to the next one); Stop() stops the loops and joins their threads; it is idempotent and
// the destructor calls it. The io_contexts live until the EventLoops is destroyed, so whatever
// holds a socket of theirs must be destroyed before it (App declares it first). Thread-safe.
#pragma once

#include <asio/executor_work_guard.hpp>
#include <asio/io_context.hpp>

#include <atomic>
#include <memory>
#include <thread>
#include <vector>

namespace warden {

class EventLoops {
 public:
  // `count` 0 = one per core.
  explicit EventLoops(int count);
  ~EventLoops();
  EventLoops(const EventLoops&) = delete;
  EventLoops& operator=(const EventLoops&) = delete;

  void Start();
  void Stop();
  asio::io_context& Next();
  asio::io_context& First() { return *loops_[0]; }
  size_t size() const { return loops_.size(); }

 private:
  std::vector<std::unique_ptr<asio::io_context>> loops_;
  std::vector<asio::executor_work_guard<asio::io_context::executor_type>> work_;
  std::vector<std::thread> threads_;
  std::atomic<size_t> next_{0};
};

}  // namespace warden
