// DeltaCells: counters kept in memory and written to the Store by a flusher, so that counting
// on the request path never does storage I/O and never waits on a lock held across it. The
// spend and usage ledgers are built on it.
//
// Contract: every cell (one Store key) is its stored value (`base`, known once read) plus a
// `pending` delta not yet written; base + pending is always the cell's true total.
//   Add()    memory only, one short lock.
//   Peek()   memory only: the total of a cell whose stored value is known, else nullopt.
//   Load()   reads a cell's stored value on a miss (blocking: call it off an event loop).
//   Flush()  one at a time: takes the pending deltas, adds each to its stored value (read once
//            per cell, then known) and writes them in one unsynced batch; a failed read or write
//            puts the delta back for the next flush. Then drops clean cells `keep` rejects (the
//            owner's past periods), which bounds memory to the cells of the current periods.
// Load() and Flush() hold flush_mu_ while they read the Store, so a Load never sees a stored
// value between a flush taking the deltas and writing them. A crash loses at most the deltas
// since the last flush (the owner's flusher runs every second; the audit log keeps every
// request's figures durably). Thread-safe.
//
// T is a value type with `void Add(const T&)`; Codec has `static std::string Encode(const T&)`
// and `static T Decode(std::string_view)` (unreadable text decodes as zero).
#pragma once

#include <functional>
#include <optional>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

#include "common/mutex.h"
#include "store/store.h"

namespace warden {

template <class T, class Codec>
class DeltaCells {
 public:
  explicit DeltaCells(Store* store) : store_(store) {}

  // Returns the cell's total after this delta when its stored value is known (as Peek).
  std::optional<T> Add(const std::string& key, const T& delta) EXCLUDES(mu_) {
    MutexLock lock(mu_);
    Cell& c = cells_[key];
    c.pending.Add(delta);
    c.dirty = true;
    if (!c.loaded) return std::nullopt;
    return Total(c);
  }

  std::optional<T> Peek(const std::string& key) const EXCLUDES(mu_) {
    MutexLock lock(mu_);
    auto it = cells_.find(key);
    if (it == cells_.end() || !it->second.loaded) return std::nullopt;
    return Total(it->second);
  }

  // The total; a Store that cannot be read counts as zero stored (and is read again next time).
  T Load(const std::string& key) EXCLUDES(flush_mu_, mu_) {
    if (auto known = Peek(key)) return *known;
    MutexLock flush_lock(flush_mu_);
    const std::optional<T> stored = Read(key);
    MutexLock lock(mu_);
    Cell& c = cells_[key];
    if (stored && !c.loaded) {
      c.base = *stored;
      c.loaded = true;
    }
    return Total(c);
  }

  void Flush(const std::function<bool(const std::string& key)>& keep) EXCLUDES(flush_mu_, mu_) {
    MutexLock flush_lock(flush_mu_);
    struct Taken {
      std::string key;
      T delta;
      std::optional<T> base;  // the stored value, when known
    };
    std::vector<Taken> taken;
    {
      MutexLock lock(mu_);
      for (auto it = cells_.begin(); it != cells_.end();) {
        Cell& c = it->second;
        if (c.dirty) {
          taken.push_back({it->first, c.pending, c.loaded ? std::optional<T>(c.base) : std::nullopt});
          c.pending = T{};
          c.dirty = false;
          ++it;
        } else if (!keep(it->first)) {
          it = cells_.erase(it);
        } else {
          ++it;
        }
      }
    }
    std::vector<std::pair<std::string, std::string>> batch;
    for (Taken& t : taken) {
      if (!t.base) t.base = Read(t.key);
      if (!t.base) continue;  // unreadable: the delta goes back
      t.base->Add(t.delta);
      batch.emplace_back(t.key, Codec::Encode(*t.base));
    }
    const bool written = batch.empty() || store_->PutMany(batch, /*sync=*/false).ok();
    MutexLock lock(mu_);
    for (Taken& t : taken) {
      Cell& c = cells_[t.key];  // only Flush erases, and only clean cells
      if (written && t.base) {
        c.base = *t.base;
        c.loaded = true;
      } else {
        c.pending.Add(t.delta);
        c.dirty = true;
      }
    }
  }

 private:
  struct Cell {
    T base{};
    T pending{};
    bool loaded = false;  // base is the stored value
    bool dirty = false;   // pending holds something not yet written
  };
  static T Total(const Cell& c) {
    T total = c.base;
    total.Add(c.pending);
    return total;
  }
  // The stored value (zero when absent); nullopt when the Store cannot be read.
  std::optional<T> Read(const std::string& key) const REQUIRES(flush_mu_) {
    auto v = store_->Get(key);
    if (!v.ok()) return std::nullopt;
    return v->has_value() ? Codec::Decode(**v) : T{};
  }

  Store* store_;
  Mutex flush_mu_ ACQUIRED_BEFORE(mu_);  // one flush or load-from-store at a time
  mutable Mutex mu_;
  std::unordered_map<std::string, Cell> cells_ GUARDED_BY(mu_);
};

}  // namespace warden
