// AuditLog: the writing side of the audit store, owned by the gateway process.
//
// Contract:
// - Append() seals a record under the client key's data key, chains it to the previous record
//   and writes it to RocksDB's WAL in sequence order (one mutex orders seq, chain and WAL). With
//   `durable`, it returns only once the WAL is fsynced: group commit — one SyncWAL covers every
//   record written before it, so 32 concurrent writers share one fsync instead of 32.
//   A record that was appended but not synced survives a process crash (it is in the kernel's
//   page cache), not a power loss; the gateway syncs before it acknowledges a response.
// - An intent (`opens`) leaves an open marker until its outcome (`closes`) removes it in the same
//   atomic batch. Open() closes every marker left by a crash with an `interrupted` outcome.
// - After a write error the log refuses appends (Healthy() false) until Recover() succeeds;
//   Append tries Recover() at most once a second on its own.
// - Checkpoints (signed chain heads) are written every `checkpoint_every_records` records and
//   every `checkpoint_every_ms` when anything is new, to the store and to the checkpoint file,
//   by its Checkpointer (audit/checkpointer.h). Recovery is in recovery.cc; purge, erasure and
//   key rotation in AuditMaintenance (audit/maintenance.h).
// Thread-safe.
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <shared_mutex>
#include <string>
#include <thread>

#include "audit/checkpointer.h"
#include "audit/crypto.h"
#include "audit/high_water.h"
#include "audit/reader.h"
#include "audit/record.h"
#include "common/json.h"
#include "common/result.h"
#include "common/mutex.h"

namespace rocksdb {
class DB;
class Env;
class Status;
class WriteBatch;
struct WriteOptions;
}  // namespace rocksdb

namespace warden::audit {

struct AuditOptions {
  std::string dir;                // the RocksDB directory
  std::string master_key_file;    // created on first start (with a warning) when absent
  std::string signing_key_file;   // created on first start; <file>.pub holds the public key
  std::string checkpoint_file;    // one JSON line per checkpoint; "-" = stdout, "" = none
  uint64_t checkpoint_every_records = 1000;
  int checkpoint_every_ms = 60000;
  std::string replica;            // a fleet's replica: every checkpoint (signed) and record meta names it; "" = a single node
  std::shared_ptr<rocksdb::Env> env;         // test seam (fault injection); null = real files
  std::function<int64_t()> now_ms;           // Unix ms; null = the system clock
  std::function<void(const std::string&)> warn;  // start-up warnings (key files created)
};

struct Entry {
  RecordType type = RecordType::kAdmin;
  std::string key_id;        // client key id; empty = kSystemKeyId
  Json meta;                 // content-free facts
  Json content;              // null = none
  uint32_t content_days = 0;        // retention of `content`
  uint32_t meta_days = 2190;        // retention of `meta` (6 years)
  std::string request_id;    // with `opens`: kept in the open marker
  bool opens = false;        // an intent whose outcome is still to come
  uint64_t closes = 0;       // the intent's seq this outcome closes
};

struct PurgeReport {
  uint64_t content_removed = 0;
  uint64_t meta_removed = 0;
  uint64_t purge_seq = 0;  // the purge record
};

class AuditLog {
 public:
  static Result<std::unique_ptr<AuditLog>> Open(const AuditOptions& options);
  ~AuditLog();  // final checkpoint, then closes
  AuditLog(const AuditLog&) = delete;
  AuditLog& operator=(const AuditLog&) = delete;

  Result<uint64_t> Append(const Entry& entry, bool durable);
  // Appends without waiting (the record is in the store, its WAL bytes not yet written out);
  // `*epoch` receives the store's epoch, which a later sync of the record must still be in (a
  // failure since then may have lost it). Append and the appender thread follow it with a sync.
  Result<uint64_t> AppendNoWait(const Entry& entry, uint64_t* epoch);
  // Appends from an event loop: no thread waits per caller. One appender thread takes every
  // entry queued, appends them in order, makes the batch `durability` (one WAL write, or one
  // group-commit fsync for the lot) and calls each `done` there with its seq — or with the
  // error, if the append failed or the record can never be reported durable (the store failed
  // since it was appended, or the log is closing). `done` must be quick and must not call back
  // into the log.
  enum class Durability {
    kWritten,  // out of the process (a crash of the gateway keeps it; of the machine, not)
    kSynced,   // fsynced
  };
  void AppendAsync(Entry entry, Durability durability, std::function<void(Result<uint64_t>)> done);
  // An administrative action (key created, revoked, rotated, …) as a durable record under the
  // system data key: {"action": action, ...details}. Never put a secret in `details`.
  Result<uint64_t> AppendAdmin(const std::string& action, Json details);
  // Returns once every record up to `seq` is fsynced.
  Status Sync(uint64_t seq);
  // Signs the current chain head now (a no-op returning seq/hash only when nothing is new);
  // see Checkpointer.
  Result<Checkpoint> WriteCheckpoint();

  bool Healthy() const;
  // Why the store is not healthy ("" when it is), e.g. "no space left on the audit filesystem".
  std::string Failure() const;
  Status Recover();

  // Purge, Forget and master-key rotation: AuditMaintenance (audit/maintenance.h).

  uint64_t last_seq() const;
  uint64_t syncs() const { return syncs_; }  // WAL fsyncs so far (group commit: records/syncs)
  uint64_t interrupted_at_open() const { return interrupted_at_open_; }
  const std::string& public_key() const { return signing_.public_key; }
  const std::string& master_key_id() const { return master_.id; }
  AuditReader& reader() { return *reader_; }

 private:
  AuditLog() = default;
  struct DataKey {
    std::string id;
    Secret key;
  };
  Status LoadTail() REQUIRES(mu_);
  // Refuses a store whose last record is older than what the high-water mark, the store's own
  // checkpoints or the checkpoint file say was written (audit_records_missing).
  Status CheckNothingMissing() REQUIRES(mu_);
  Status CloseDangling();
  // The payloads as JSON text, made before taking mu_ (wiped on destruction).
  struct Plain {
    std::string meta, content;
    bool has_content = false;
    ~Plain();
  };
  // The payloads' text; a fleet's replica adds its name to every record's meta ("replica").
  Plain Serialize(const Entry& entry) const;
  // Under mu_: seals, chains and writes one record (plus `deletes` in the same batch).
  Result<uint64_t> AppendLocked(const Entry& entry, const Plain& plain,
                                const std::vector<std::string>& deletes) REQUIRES(mu_);
  Result<const DataKey*> DataKeyFor(const std::string& key_id, std::vector<std::pair<std::string, std::string>>& puts)
      REQUIRES(mu_);
  uint64_t BackgroundErrors() const;
  Status TryResumeLocked() REQUIRES(mu_);
  void MarkFailedLocked(const rocksdb::Status& s) REQUIRES(mu_);  // starts a new epoch
  // Writes RocksDB's WAL buffer to the file (no fsync), under mu_ like every WAL write.
  rocksdb::Status WriteWalBuffer() EXCLUDES(mu_);
  // One synchronous or buffered batch, taking mu_ (checkpoints, purge rewrites).
  Status WriteLocked(const rocksdb::WriteOptions& wo, const std::function<void(rocksdb::WriteBatch&)>& fill);
  // Sync(seq) for a record appended in `epoch`: fails if the store failed since.
  Status SyncInEpoch(uint64_t seq, uint64_t epoch);
  Status ProbeDisk() REQUIRES(mu_);
  // What the checkpointer reads and writes of this log.
  Checkpointer::ChainLog ChainForCheckpoints();
  int64_t Now() const;

  AuditOptions options_;
  MasterKey master_;
  SigningKey signing_;
  // Replaced only when a failed store is reopened (under mu_ and db_mu_ exclusive); code that
  // uses it outside mu_ (sync, checkpoints, purge, compaction) holds db_mu_ shared.
  // Lock order: mu_ before db_mu_; never take mu_ while holding db_mu_. (Either lock keeps db_
  // from being replaced, which the analysis cannot express: db_ itself is not annotated.)
  std::unique_ptr<rocksdb::DB> db_;
  mutable SharedMutex db_mu_;
  std::unique_ptr<AuditReader> reader_;

  mutable Mutex mu_ ACQUIRED_BEFORE(db_mu_, sync_mu_);  // orders seq, chain and WAL writes
  uint64_t last_seq_ GUARDED_BY(mu_) = 0;
  std::string last_hash_ GUARDED_BY(mu_);
  std::map<std::string, DataKey> data_keys_ GUARDED_BY(mu_);
  bool poisoned_ GUARDED_BY(mu_) = false;
  std::string failure_ GUARDED_BY(mu_);  // why poisoned_ (FailureReason)
  // Bumped by every failure: a record appended in an earlier epoch may be lost (and its sequence
  // number reused after a reopen), so it is never reported durable. Written under mu_.
  std::atomic<uint64_t> epoch_{0};
  uint64_t errors_accepted_ GUARDED_BY(mu_) = 0;  // RocksDB's background-error count when last healthy
  int64_t last_recover_ms_ GUARDED_BY(mu_) = 0;

  Mutex sync_mu_;
  std::condition_variable round_cv_[2];  // waiters of the running sync round / of the next one
  uint64_t sync_round_ GUARDED_BY(sync_mu_) = 0;
  uint64_t sync_target_ GUARDED_BY(sync_mu_) = 0;  // what the running round covers
  bool syncing_ GUARDED_BY(sync_mu_) = false;
  uint64_t synced_seq_ GUARDED_BY(sync_mu_) = 0;
  std::optional<HighWaterMark> hwm_ GUARDED_BY(sync_mu_);  // advanced to synced_seq_
  std::atomic<uint64_t> written_seq_{0};
  std::atomic<uint64_t> syncs_{0};

  // AppendAsync's queue and the thread that appends and syncs for it (AppenderLoop).
  struct QueuedAppend {
    Entry entry;
    Durability durability;
    std::function<void(Result<uint64_t>)> done;
  };
  void AppenderLoop();
  Mutex queue_mu_;  // never held with another of these mutexes
  std::vector<QueuedAppend> queue_ GUARDED_BY(queue_mu_);
  bool appender_stop_ GUARDED_BY(queue_mu_) = false;
  std::condition_variable queue_cv_;
  std::thread appender_thread_;

  std::unique_ptr<Checkpointer> checkpointer_;
  Mutex purge_mu_;  // one purge at a time (AuditMaintenance)
  friend class AuditMaintenance;

  uint64_t interrupted_at_open_ = 0;
  bool opened_ = false;  // Open() completed: only then may the destructor sign a checkpoint
};

}  // namespace warden::audit
