// RocksDB's diagnostics, routed into Warden's structured log instead of a `LOG` file.
//
// Why: RocksDB's default info log is a file in the database directory. On a full disk its write
// fails, and Debian's RocksDB (built with assertions) aborts the whole process on the next log
// line (`sync_without_flush_called_` in WritableFileWriter) — a full audit disk took the gateway
// down instead of putting the store into a failed state. Logging in-process removes that file
// and its failure mode; RocksDB's own error handling then reports ENOSPC as a status.
//
// Contract: UseWardenLogger(options, store) sets `options.info_log` to a logger that writes
// warnings and errors as `rocksdb` events naming `store` (messages are RocksDB's: file names and
// statuses, never keys' values; cut to 512 bytes). Thread-safe; no I/O of its own.
#pragma once

#include <string>

namespace rocksdb {
struct DBOptions;
}

namespace warden {

void UseWardenLogger(rocksdb::DBOptions& options, const std::string& store);

}  // namespace warden
