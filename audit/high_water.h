// HighWaterMark: the highest audit sequence number ever reported durable, kept in a small file
// in the store's directory but outside RocksDB (`WARDEN_HIGH_WATER`, decimal text).
//
// Why: RocksDB recovers a damaged write-ahead log by dropping what it cannot read. The store
// alone then looks like a shorter, intact chain, and a writer would reuse the lost sequence
// numbers and sign over them. Compared with this mark at open, a store that ends before what
// was acknowledged is refused instead (AuditLog::Open) and reported (warden-audit verify).
//
// Contract: Advance() is one pwrite of the new value (no fsync: a process crash keeps it, a
// power loss may leave an older value — which can only under-report, never accuse). Sync()
// fsyncs it (checkpoints, close). Read() is 0 when the file does not exist. Not thread-safe;
// AuditLog calls it from its sync leader and checkpoint writer under its own ordering.
#pragma once

#include <cstdint>
#include <string>

#include "common/result.h"

namespace warden::audit {

class HighWaterMark {
 public:
  static constexpr const char* kFileName = "WARDEN_HIGH_WATER";
  // The mark of the store in `dir` (0 when absent); an unreadable file is an error.
  static Result<uint64_t> Read(const std::string& dir);
  // Opens (creating, 0600) the mark of the store in `dir`.
  static Result<HighWaterMark> Open(const std::string& dir);

  HighWaterMark(HighWaterMark&& other) noexcept;
  HighWaterMark& operator=(HighWaterMark&& other) noexcept;
  HighWaterMark(const HighWaterMark&) = delete;
  HighWaterMark& operator=(const HighWaterMark&) = delete;
  ~HighWaterMark();

  uint64_t value() const { return value_; }
  // Raises the mark to `seq` (never lowers it). False if the write failed.
  bool Advance(uint64_t seq);
  bool Sync();

 private:
  HighWaterMark(int fd, uint64_t value) : fd_(fd), value_(value) {}
  int fd_ = -1;
  uint64_t value_ = 0;
};

}  // namespace warden::audit
