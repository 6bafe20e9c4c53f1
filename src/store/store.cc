#include "store/store.h"

#include <rocksdb/db.h>
#include <rocksdb/options.h>
#include <rocksdb/write_batch.h>
#include <sys/stat.h>

#include <cerrno>
#include <filesystem>

#include "common/rocks_log.h"

namespace warden {

Store::Store(rocksdb::DB* db) : db_(db) {}
Store::~Store() = default;

Result<std::unique_ptr<Store>> Store::Open(const std::string& data_dir) {
  std::error_code ec;
  std::filesystem::create_directories(data_dir, ec);
  if (ec) return Error::Internal("cannot create the data directory " + data_dir + ": " + ec.message());
  ::chmod(data_dir.c_str(), 0700);
  rocksdb::Options options;
  options.create_if_missing = true;
  UseWardenLogger(options, "data");
  // Small data (keys, counters): a small memtable keeps the resident size down.
  options.write_buffer_size = 4 << 20;
  options.max_write_buffer_number = 2;
  rocksdb::DB* db = nullptr;
  rocksdb::Status s = rocksdb::DB::Open(options, data_dir + "/db", &db);
  if (!s.ok()) {
    if (s.IsIOError() && s.ToString().find("lock") != std::string::npos)
      return Error::ServiceUnavailable("the data directory " + data_dir +
                                           " is in use by another warden process",
                                       "store_locked");
    return Error::Internal("cannot open the store in " + data_dir + ": " + s.ToString(),
                           "store_unavailable");
  }
  return std::unique_ptr<Store>(new Store(db));
}

Result<std::unique_ptr<Store>> Store::OpenReadOnly(const std::string& data_dir) {
  rocksdb::Options options;
  UseWardenLogger(options, "data");
  rocksdb::DB* db = nullptr;
  rocksdb::Status s = rocksdb::DB::OpenForReadOnly(options, data_dir + "/db", &db);
  if (!s.ok())
    return Error::Internal("cannot open the store in " + data_dir + " to read: " + s.ToString(), "store_unavailable");
  return std::unique_ptr<Store>(new Store(db));
}

Result<std::optional<std::string>> Store::Get(std::string_view key) const {
  std::string value;
  rocksdb::Status s = db_->Get(rocksdb::ReadOptions(), rocksdb::Slice(key.data(), key.size()), &value);
  if (s.IsNotFound()) return std::optional<std::string>();
  if (!s.ok()) return Error::ServiceUnavailable("store read failed", "store_unavailable");
  return std::optional<std::string>(std::move(value));
}

Status Store::Put(std::string_view key, std::string_view value) { return Write(key, value, true); }
Status Store::PutRelaxed(std::string_view key, std::string_view value) {
  return Write(key, value, false);
}

Status Store::Write(std::string_view key, std::string_view value, bool sync) {
  rocksdb::WriteOptions wo;
  wo.sync = sync;
  rocksdb::Status s = db_->Put(wo, rocksdb::Slice(key.data(), key.size()),
                               rocksdb::Slice(value.data(), value.size()));
  if (!s.ok()) return Error::ServiceUnavailable("store write failed", "store_unavailable");
  return Status::Ok();
}

Status Store::PutMany(const std::vector<std::pair<std::string, std::string>>& entries, bool sync) {
  rocksdb::WriteBatch batch;
  for (const auto& [k, v] : entries) batch.Put(k, v);
  rocksdb::WriteOptions wo;
  wo.sync = sync;
  rocksdb::Status s = db_->Write(wo, &batch);
  if (!s.ok()) return Error::ServiceUnavailable("store write failed", "store_unavailable");
  return Status::Ok();
}

Status Store::Delete(std::string_view key) {
  rocksdb::WriteOptions wo;
  wo.sync = true;
  rocksdb::Status s = db_->Delete(wo, rocksdb::Slice(key.data(), key.size()));
  if (!s.ok()) return Error::ServiceUnavailable("store write failed", "store_unavailable");
  return Status::Ok();
}

Status Store::Scan(std::string_view prefix,
                   const std::function<bool(std::string_view, std::string_view)>& fn) const {
  std::unique_ptr<rocksdb::Iterator> it(db_->NewIterator(rocksdb::ReadOptions()));
  rocksdb::Slice p(prefix.data(), prefix.size());
  for (it->Seek(p); it->Valid() && it->key().starts_with(p); it->Next()) {
    if (!fn(std::string_view(it->key().data(), it->key().size()),
            std::string_view(it->value().data(), it->value().size())))
      break;
  }
  if (!it->status().ok()) return Error::ServiceUnavailable("store scan failed", "store_unavailable");
  return Status::Ok();
}

bool Store::Healthy() const {
  std::string value;
  // "rocksdb.background-errors" counts background errors since open.
  uint64_t errors = 0;
  if (db_->GetIntProperty("rocksdb.background-errors", &errors)) return errors == 0;
  return true;
}

}  // namespace warden
