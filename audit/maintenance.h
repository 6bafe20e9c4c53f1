// AuditMaintenance: the operator's actions on a running audit log — retention purge, erasure of
// one client key's records (crypto-shredding), master-key rotation. Separate from the writer
// (audit_log.h) because none of it is on a request's path.
//
// Contract: each action is itself recorded (a purge, erasure or admin record, durable), then the
// bytes it removed are shredded out of the files (flush, forced bottommost compaction, WAL
// sync), so "removed" means gone from disk, not only from the index. Purge and Forget also sign
// a checkpoint. One purge at a time; everything else is safe beside appends. Borrows the log.
#pragma once

#include <cstdint>
#include <string>

#include "audit/audit_log.h"

namespace warden::audit {

class AuditMaintenance {
 public:
  explicit AuditMaintenance(AuditLog& log) : log_(log) {}

  // Removes payloads whose retention ended before `before_day` (days since epoch; whole days).
  Result<PurgeReport> Purge(uint32_t before_day, const std::string& actor);
  // Destroys `key_id`'s data key: its records can never be opened again. 404 audit_no_data_key
  // when there is nothing to destroy (never an erasure record that names no data key).
  Status Forget(const std::string& key_id, const std::string& actor);
  // Re-wraps every data key under `next`, then uses it. The caller replaces the key file.
  Status RotateMasterKey(MasterKey next, const std::string& actor);

 private:
  Status Shred();
  AuditLog& log_;
};

}  // namespace warden::audit
