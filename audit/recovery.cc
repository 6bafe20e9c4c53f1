// AuditLog's recovery: what Open() checks before the log is extended (nothing acknowledged is
// missing, crash-dangling intents closed) and how a failed store comes back (probe the disk,
// resume or reopen, re-read the tail). See audit_log.h for the contract.
#include <rocksdb/db.h>
#include <rocksdb/env.h>
#include <rocksdb/file_system.h>
#include <rocksdb/options.h>

#include "audit/audit_log.h"
#include "audit/checkpointer.h"
#include "audit/store_errors.h"
#include "common/log.h"

namespace warden::audit {

Status AuditLog::CheckNothingMissing() {
  struct Witness {
    uint64_t seq;
    std::string what;
  };
  uint64_t acknowledged = 0;
  {
    MutexLock lk(sync_mu_);  // lock order: mu_ (held by callers) before sync_mu_
    acknowledged = hwm_ ? hwm_->value() : 0;
  }
  const Witness witnesses[] = {
      {acknowledged, "was acknowledged as durable (the store's high-water mark)"},
      {checkpointer_->last_signed(), "is covered by a signed checkpoint in the store"},
      {LastSignedInFile(options_.checkpoint_file),
       "is covered by a signed checkpoint in the checkpoint file " + options_.checkpoint_file},
  };
  for (const Witness& w : witnesses) {
    if (w.seq <= last_seq_) continue;
    return Error::Internal(
        "the audit store in " + options_.dir + " ends at seq " + std::to_string(last_seq_) + ", but seq " +
            std::to_string(w.seq) + " " + w.what + ": records " + std::to_string(last_seq_ + 1) + ".." +
            std::to_string(w.seq) +
            " are missing (a damaged or lost write-ahead log, or a store restored from an older copy). "
            "Warden will not reuse their sequence numbers or sign over the gap. Run `warden-audit verify`, "
            "then restore the store from a backup (to start a new store on purpose, move the old store's "
            "checkpoint file away too)",
        "audit_records_missing");
  }
  return Status::Ok();
}

Status AuditLog::LoadTail() {
  std::unique_ptr<rocksdb::Iterator> it(db_->NewIterator(rocksdb::ReadOptions()));
  it->SeekForPrev("s");  // the last "r" key
  last_seq_ = 0;
  last_hash_.assign(kHashBytes, '\0');
  if (it->Valid() && it->key().starts_with("r")) {
    auto r = Decode(std::string_view(it->value().data(), it->value().size()));
    if (!r) return Error::Internal("the last audit record cannot be decoded; run `warden-audit verify`",
                                   "audit_corrupt");
    last_seq_ = r->header.seq;
    last_hash_ = ChainHash(*r);
  }
  it->SeekForPrev("d");  // the last "c" key
  checkpointer_->Restore(it->Valid() && it->key().starts_with("c")
                             ? SeqOfKey(std::string_view(it->key().data(), it->key().size()))
                             : 0);
  written_seq_ = last_seq_;
  {
    MutexLock lk(sync_mu_);  // lock order: mu_ (held by callers) before sync_mu_
    synced_seq_ = last_seq_;
  }
  return it->status().ok() ? Status::Ok() : Unavailable(it->status().ToString());
}

Status AuditLog::CloseDangling() {
  std::vector<std::pair<uint64_t, Json>> open;
  {
    std::unique_ptr<rocksdb::Iterator> it(db_->NewIterator(rocksdb::ReadOptions()));
    for (it->Seek("o"); it->Valid() && it->key().starts_with("o"); it->Next()) {
      auto j = ParseJson(std::string_view(it->value().data(), it->value().size()));
      open.emplace_back(SeqOfKey(std::string_view(it->key().data(), it->key().size())),
                        j ? *j : Json::object());
    }
  }
  for (auto& [seq, marker] : open) {
    Entry e;
    e.type = RecordType::kOutcome;
    e.key_id = marker.value("key_id", "");
    e.meta = Json{{"request_id", marker.value("request_id", "")},
                  {"intent_seq", seq},
                  {"outcome", "interrupted"},
                  {"note", "the gateway stopped before this request ended"}};
    e.closes = seq;
    auto r = Append(e, false);
    if (!r) return r.error();
    ++interrupted_at_open_;
  }
  if (!open.empty())
    if (Status s = Sync(last_seq()); !s) return s;
  return Status::Ok();
}

uint64_t AuditLog::BackgroundErrors() const {
  uint64_t errors = 0;
  if (!db_) return UINT64_MAX;  // a reopen failed: never healthy
  db_->GetIntProperty("rocksdb.background-errors", &errors);  // cumulative since open
  return errors;
}

bool AuditLog::Healthy() const {
  MutexLock lk(mu_);
  return !poisoned_ && BackgroundErrors() == errors_accepted_;
}

Status AuditLog::ProbeDisk() {
  const std::shared_ptr<rocksdb::FileSystem> fs =
      options_.env ? options_.env->GetFileSystem() : rocksdb::FileSystem::Default();
  const std::string path = options_.dir + "/PROBE";
  std::unique_ptr<rocksdb::FSWritableFile> f;
  rocksdb::IOOptions io;
  rocksdb::IOStatus s = fs->NewWritableFile(path, rocksdb::FileOptions(), &f, nullptr);
  // Bigger than one page: a file system with a few bytes left would pass a tiny probe and fail
  // the next WAL write.
  if (s.ok()) s = f->Append(std::string(64 * 1024, 'p'), io, nullptr);
  if (s.ok()) s = f->Sync(io, nullptr);
  if (f) (void)f->Close(io, nullptr);
  (void)fs->DeleteFile(path, io, nullptr);
  if (!s.ok()) {
    failure_ = FailureReason(s);
    return Unavailable(failure_);
  }
  return Status::Ok();
}

void AuditLog::MarkFailedLocked(const rocksdb::Status& s) {
  if (!poisoned_) {  // the first failure of an episode says why; later ones are its echoes
    failure_ = FailureReason(s);
    log::Error("audit_store_failed", {{"reason", failure_}});
  }
  poisoned_ = true;
  last_recover_ms_ = Now();
  ++epoch_;
}

Status AuditLog::TryResumeLocked() {
  last_recover_ms_ = Now();
  // First a probe file through the same filesystem: asking RocksDB to resume while the disk
  // still fails turns a recoverable error into one that only a restart clears.
  if (Status probe = ProbeDisk(); !probe) return probe;
  rocksdb::WriteOptions wo;
  wo.sync = true;
  // Resume() brings back a store whose background work failed. It cannot bring back a failed
  // WAL write (fatal to the open handle), and after ENOSPC RocksDB's own recovery answers Busy
  // while it waits for more free space than a small volume may ever have: in those cases close
  // and reopen. Recovery replays the WAL up to the last whole write — a prefix of the chain —
  // and everything acknowledged was synced before it was acknowledged.
  bool back = db_ && db_->Resume().ok() && db_->Put(wo, "h", std::to_string(Now())).ok();
  if (!back) {
    WriterLock excl(db_mu_);
    if (db_) (void)db_->Close();
    db_.reset();
    auto db = OpenDatabase(options_.dir, false, true, options_.env.get());
    if (!db) {
      reader_->Rebind(nullptr);
      failure_ = db.error().message;
      return db.error();
    }
    db_.reset(*db);
    reader_->Rebind(db_.get());
    rocksdb::Status s = db_->Put(wo, "h", std::to_string(Now()));
    if (!s.ok()) {
      failure_ = FailureReason(s);
      return Unavailable(failure_);
    }
  }
  // The failed write may or may not have reached the WAL: re-read the tail from the store.
  if (Status t = LoadTail(); !t) return t;
  // Never resume over records that were acknowledged and are now gone: stay failed.
  if (Status m = CheckNothingMissing(); !m) {
    failure_ = "acknowledged audit records are missing";
    log::Error("audit_records_missing", {{"last_seq", last_seq_}});
    return m;
  }
  poisoned_ = false;
  failure_.clear();
  errors_accepted_ = BackgroundErrors();
  log::Info("audit_store_recovered", {{"last_seq", last_seq_}});
  return Status::Ok();
}

std::string AuditLog::Failure() const {
  MutexLock lk(mu_);
  if (!poisoned_ && BackgroundErrors() == errors_accepted_) return "";
  return failure_.empty() ? "audit store write failed" : failure_;
}

Status AuditLog::Recover() {
  MutexLock lk(mu_);
  if (!poisoned_ && BackgroundErrors() == errors_accepted_) return Status::Ok();
  return TryResumeLocked();  // one attempt: callers (readiness probes) must not stall appends
}

}  // namespace warden::audit
