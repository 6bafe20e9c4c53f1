// FailingFileSystem: the real filesystem, except that while `failing` is set every write, flush
// and sync of a file (WAL, SST, MANIFEST) returns an I/O error — a broken disk, injected through
// RocksDB's FileSystem seam. (Not "no space": RocksDB's SstFileManager then starts its own
// recovery because the real disk has room, and that races the injected fault.)
#pragma once

#include <rocksdb/env.h>
#include <rocksdb/file_system.h>

#include <atomic>
#include <memory>

namespace warden::testing {

class FailingFileSystem : public rocksdb::FileSystemWrapper {
 public:
  FailingFileSystem() : rocksdb::FileSystemWrapper(rocksdb::FileSystem::Default()) {}
  const char* Name() const override { return "FailingFileSystem"; }

  std::atomic<bool> failing{false};

  rocksdb::IOStatus NewWritableFile(const std::string& f, const rocksdb::FileOptions& o,
                                    std::unique_ptr<rocksdb::FSWritableFile>* r,
                                    rocksdb::IODebugContext* dbg) override {
    if (failing) return rocksdb::IOStatus::IOError("injected: write failed");
    rocksdb::IOStatus s = target()->NewWritableFile(f, o, r, dbg);
    if (s.ok()) *r = std::make_unique<File>(std::move(*r), &failing);
    return s;
  }

  // One Env over this filesystem, as RocksDB's Options want it.
  static std::pair<std::shared_ptr<FailingFileSystem>, std::shared_ptr<rocksdb::Env>> Make() {
    auto fs = std::make_shared<FailingFileSystem>();
    std::shared_ptr<rocksdb::Env> env(rocksdb::NewCompositeEnv(fs).release());
    return {fs, env};
  }

 private:
  class File : public rocksdb::FSWritableFileOwnerWrapper {
   public:
    File(std::unique_ptr<rocksdb::FSWritableFile>&& t, const std::atomic<bool>* failing)
        : rocksdb::FSWritableFileOwnerWrapper(std::move(t)), failing_(failing) {}
    rocksdb::IOStatus Append(const rocksdb::Slice& d, const rocksdb::IOOptions& o,
                             rocksdb::IODebugContext* dbg) override {
      return *failing_ ? Injected() : FSWritableFileOwnerWrapper::Append(d, o, dbg);
    }
    rocksdb::IOStatus Append(const rocksdb::Slice& d, const rocksdb::IOOptions& o,
                             const rocksdb::DataVerificationInfo& v, rocksdb::IODebugContext* dbg) override {
      return *failing_ ? Injected() : FSWritableFileOwnerWrapper::Append(d, o, v, dbg);
    }
    rocksdb::IOStatus Flush(const rocksdb::IOOptions& o, rocksdb::IODebugContext* dbg) override {
      return *failing_ ? Injected() : FSWritableFileOwnerWrapper::Flush(o, dbg);
    }
    rocksdb::IOStatus Sync(const rocksdb::IOOptions& o, rocksdb::IODebugContext* dbg) override {
      return *failing_ ? Injected() : FSWritableFileOwnerWrapper::Sync(o, dbg);
    }
    rocksdb::IOStatus Fsync(const rocksdb::IOOptions& o, rocksdb::IODebugContext* dbg) override {
      return *failing_ ? Injected() : FSWritableFileOwnerWrapper::Fsync(o, dbg);
    }

   private:
    static rocksdb::IOStatus Injected() { return rocksdb::IOStatus::IOError("injected: write failed"); }
    const std::atomic<bool>* failing_;
  };
};

}  // namespace warden::testing
