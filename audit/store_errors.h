// How the audit store's failures are told, shared by the writer (audit_log.cc), its recovery
// (recovery.cc) and maintenance (maintenance.cc). Internal to audit/.
#pragma once

#include <string>

#include "common/error.h"

namespace rocksdb {
class Status;
}

namespace warden::audit {

// 503 audit_unavailable: "the audit store cannot be written: <what>".
Error Unavailable(const std::string& what);
// Why the store failed, in words fit for /readyz and logs: no path, no RocksDB internals.
std::string FailureReason(const rocksdb::Status& s);

}  // namespace warden::audit
