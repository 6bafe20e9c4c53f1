#include "server/event_loops.h"

#include <algorithm>

namespace warden {

EventLoops::EventLoops(int count) {
  const int n = count > 0 ? count : static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  for (int i = 0; i < n; ++i) {
    loops_.push_back(std::make_unique<asio::io_context>(1));  // one thread runs each
    work_.push_back(asio::make_work_guard(*loops_.back()));
  }
}

EventLoops::~EventLoops() { Stop(); }

void EventLoops::Start() {
  if (!threads_.empty()) return;
  for (auto& loop : loops_) threads_.emplace_back([l = loop.get()] { l->run(); });
}

void EventLoops::Stop() {
  work_.clear();
  for (auto& loop : loops_) loop->stop();
  for (auto& t : threads_) t.join();
  threads_.clear();
}

asio::io_context& EventLoops::Next() { return *loops_[next_.fetch_add(1, std::memory_order_relaxed) % loops_.size()]; }

}  // namespace warden
