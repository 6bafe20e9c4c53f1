// SharedSlot: one immutable value that a writer replaces while many readers use it — the
// gateway's config snapshot, the admin API's policy set.
//
// Contract: Load() returns the current value with its own reference, so a reader keeps what it
// loaded for as long as it needs it, whatever Store() does meanwhile; the value replaced by
// Store() is released outside the lock (by Store(), or by the last reader still holding it).
// Thread-safe. The mutex guards only the pointer: Load() is one uncontended lock and a
// reference-count increment.
#pragma once

#include <memory>

#include "common/mutex.h"

namespace warden {

template <typename T>
class SharedSlot {
 public:
  explicit SharedSlot(std::shared_ptr<const T> value = nullptr) : value_(std::move(value)) {}

  std::shared_ptr<const T> Load() const {
    MutexLock lock(mu_);
    return value_;
  }
  void Store(std::shared_ptr<const T> value) {
    {
      MutexLock lock(mu_);
      value_.swap(value);
    }
    // `value` now holds the previous one and is released here, outside the lock.
  }

 private:
  mutable Mutex mu_;
  std::shared_ptr<const T> value_ GUARDED_BY(mu_);
};

}  // namespace warden
