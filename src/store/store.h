// Store: the embedded RocksDB key-value store in the data directory (<data_dir>/db).
//
// Contract: one Store per process owns the database (RocksDB takes a file lock, so a second
// process gets a clear "in use" error). Writes made through Put/Delete are synced to the WAL
// before they return: acknowledged = durable. All methods are thread-safe.
#pragma once

#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "common/result.h"

namespace rocksdb {
class DB;
}

namespace warden {

class Store {
 public:
  // Creates the data directory (0700) and opens or creates the database in it.
  static Result<std::unique_ptr<Store>> Open(const std::string& data_dir);
  // A read-only view (writes fail) that works beside a running gateway: RocksDB takes no lock
  // for it, and it sees what the gateway had written to its WAL when it was opened.
  static Result<std::unique_ptr<Store>> OpenReadOnly(const std::string& data_dir);
  ~Store();
  Store(const Store&) = delete;
  Store& operator=(const Store&) = delete;

  Result<std::optional<std::string>> Get(std::string_view key) const;
  Status Put(std::string_view key, std::string_view value);
  // Written to the WAL but not synced: survives a process crash, not a power loss. For
  // counters (spend) where one fsync per request would cost more than the figure is worth.
  Status PutRelaxed(std::string_view key, std::string_view value);
  // Several puts applied atomically, in one WAL write (synced if `sync`).
  Status PutMany(const std::vector<std::pair<std::string, std::string>>& entries, bool sync);
  Status Delete(std::string_view key);
  // Calls `fn` for every key starting with `prefix`, in key order, until it returns false.
  Status Scan(std::string_view prefix,
              const std::function<bool(std::string_view key, std::string_view value)>& fn) const;
  // True while RocksDB reports no background error.
  bool Healthy() const;

 private:
  explicit Store(rocksdb::DB* db);
  Status Write(std::string_view key, std::string_view value, bool sync);
  std::unique_ptr<rocksdb::DB> db_;
};

}  // namespace warden
