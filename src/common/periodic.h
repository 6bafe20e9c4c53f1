// Periodic: runs a function on its own thread every `interval` until destroyed, for background
// upkeep that may block (e.g. flushing the ledgers to the Store) and must happen whatever the
// traffic.
//
// Contract: the first run is one interval after construction; runs never overlap; the
// destructor wakes the thread, waits for a run in progress and joins (no run after it returns).
#pragma once

#include <chrono>
#include <condition_variable>
#include <functional>
#include <thread>

#include "common/mutex.h"

namespace warden {

class Periodic {
 public:
  Periodic(std::chrono::milliseconds interval, std::function<void()> fn)
      : interval_(interval), fn_(std::move(fn)), thread_([this] { Run(); }) {}
  ~Periodic() {
    {
      MutexLock lock(mu_);
      stop_ = true;
    }
    cv_.notify_all();
    thread_.join();
  }
  Periodic(const Periodic&) = delete;
  Periodic& operator=(const Periodic&) = delete;

 private:
  void Run() EXCLUDES(mu_) {
    MutexLock lock(mu_);
    auto next = std::chrono::steady_clock::now() + interval_;
    while (!stop_) {
      if (lock.WaitUntil(cv_, next) != std::cv_status::timeout) continue;
      lock.Unlock();
      fn_();
      lock.Lock();
      next = std::chrono::steady_clock::now() + interval_;
    }
  }

  const std::chrono::milliseconds interval_;
  const std::function<void()> fn_;
  Mutex mu_;
  std::condition_variable cv_;
  bool stop_ GUARDED_BY(mu_) = false;
  std::thread thread_;  // last: starts once the rest is built
};

}  // namespace warden
