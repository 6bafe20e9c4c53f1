#include "audit/audit_log.h"

#include <rocksdb/db.h>
#include <rocksdb/env.h>
#include <rocksdb/file_system.h>
#include <rocksdb/options.h>
#include <rocksdb/write_batch.h>
#include <fcntl.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <shared_mutex>
#include <thread>

#include "audit/high_water.h"
#include "common/log.h"
#include "common/util.h"

namespace warden::audit {
namespace {

Error Unavailable(const std::string& what) {
  return Error::ServiceUnavailable("the audit store cannot be written: " + what, "audit_unavailable");
}

// Why the store failed, in words fit for /readyz and logs: no path, no RocksDB internals.
std::string FailureReason(const rocksdb::Status& s) {
  if (s.IsNoSpace()) return "no space left on the audit filesystem";
  if (s.IsIOError()) return "I/O error on the audit filesystem";
  if (s.IsCorruption()) return "the audit store is corrupted";
  return "audit store write failed";
}

std::string OpenMarkerKey(uint64_t seq) { return "o" + RecordKey(seq).substr(1); }

int64_t SystemNowMs() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

}  // namespace

int64_t AuditLog::Now() const { return options_.now_ms ? options_.now_ms() : SystemNowMs(); }

Result<std::unique_ptr<AuditLog>> AuditLog::Open(const AuditOptions& options) {
  std::unique_ptr<AuditLog> log(new AuditLog());
  log->options_ = options;
  bool created = false;
  auto master = MasterKey::LoadOrCreate(options.master_key_file, &created);
  if (!master) return master.error();
  log->master_ = std::move(*master);
  if (created && options.warn)
    options.warn("created a new audit master key in " + options.master_key_file +
                 ": back it up and keep it off this host; without it no audit record can be read");
  auto signing = SigningKey::LoadOrCreate(options.signing_key_file, &created);
  if (!signing) return signing.error();
  log->signing_ = std::move(*signing);
  if (created && options.warn)
    options.warn("created a new audit signing key in " + options.signing_key_file +
                 "; give auditors " + options.signing_key_file + ".pub");
  auto db = OpenDatabase(options.dir, false, true, options.env.get());
  if (!db) return db.error();
  log->db_.reset(*db);
  log->reader_ = std::make_unique<AuditReader>(log->db_.get());
  auto hwm = HighWaterMark::Open(options.dir);
  if (!hwm) return hwm.error();
  {
    MutexLock lock(log->sync_mu_);
    log->hwm_.emplace(std::move(*hwm));
  }
  {
    MutexLock lock(log->mu_);  // not shared yet: taken for the contracts of what follows
    if (Status s = log->LoadTail(); !s) return s.error();
    // Before anything is appended: a store that lost acknowledged records must not be extended.
    if (Status s = log->CheckNothingMissing(); !s) return s.error();
  }
  if (Status s = log->CloseDangling(); !s) return s.error();
  log->cp_thread_ = std::thread([l = log.get()] { l->CheckpointLoop(); });
  log->appender_thread_ = std::thread([l = log.get()] { l->AppenderLoop(); });
  log->opened_ = true;
  return log;
}

AuditLog::~AuditLog() {
  {
    MutexLock lk(cp_mu_);
    stop_ = true;
  }
  cp_cv_.notify_all();
  if (cp_thread_.joinable()) cp_thread_.join();
  {
    MutexLock lk(queue_mu_);
    appender_stop_ = true;
  }
  queue_cv_.notify_all();
  if (appender_thread_.joinable()) appender_thread_.join();  // after answering everything queued
  // Only a log that opened signs at close: one refused at open (records missing) must not sign
  // the store it refused.
  if (opened_ && db_ && Healthy()) (void)WriteCheckpoint();
  reader_.reset();
  if (db_) {
    (void)db_->FlushWAL(true);
    (void)db_->Close();
  }
  if (hwm_) (void)hwm_->Sync();
}

namespace {

// The highest sequence signed in the checkpoint file (0 if none or no file): read from its last
// 64 KiB, where its last lines are; a torn last line is skipped.
uint64_t LastSignedInFile(const std::string& path) {
  if (path.empty() || path == "-") return 0;
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return 0;
  const off_t size = ::lseek(fd, 0, SEEK_END);
  if (size <= 0) {
    ::close(fd);
    return 0;
  }
  const off_t from = size > 65536 ? size - 65536 : 0;
  std::string tail(static_cast<size_t>(size - from), '\0');
  const ssize_t n = ::pread(fd, tail.data(), tail.size(), from);
  ::close(fd);
  if (n <= 0) return 0;
  tail.resize(static_cast<size_t>(n));
  uint64_t last = 0;
  size_t at = 0;
  while (at < tail.size()) {
    size_t end = tail.find('\n', at);
    if (end == std::string::npos) end = tail.size();
    if (auto c = ParseCheckpointLine(std::string_view(tail).substr(at, end - at)); c && c->seq > last)
      last = c->seq;
    at = end + 1;
  }
  return last;
}

}  // namespace

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
      {last_checkpoint_seq_.load(), "is covered by a signed checkpoint in the store"},
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
  last_checkpoint_seq_ = it->Valid() && it->key().starts_with("c")
                             ? SeqOfKey(std::string_view(it->key().data(), it->key().size()))
                             : 0;
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

uint64_t AuditLog::last_seq() const {
  MutexLock lk(mu_);
  return last_seq_;
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

Result<const AuditLog::DataKey*> AuditLog::DataKeyFor(
    const std::string& key_id, std::vector<std::pair<std::string, std::string>>& puts) {
  auto it = data_keys_.find(key_id);
  if (it != data_keys_.end()) return &it->second;
  std::string stored;
  rocksdb::Status s = db_->Get(rocksdb::ReadOptions(), DataKeyKey(key_id), &stored);
  DataKey dk;
  if (s.ok()) {
    auto w = DecodeWrappedDataKey(stored);
    if (!w) return w.error();
    if (w->master_id != master_.id)
      return Error::Internal("the audit data keys are wrapped by master key " + w->master_id +
                                 " but the master key file holds " + master_.id,
                             "audit_wrong_master_key");
    auto key = Unseal(master_.key, DataKeyAd(key_id, w->id), w->wrapped);
    if (!key) return key.error();
    dk.id = w->id;
    dk.key = Secret(std::move(*key));
  } else if (s.IsNotFound()) {
    dk.id = RandomBytes(kDataKeyIdBytes);
    dk.key = Secret(RandomBytes(kDataKeyBytes));
    WrappedDataKey w{dk.id, master_.id, Seal(master_.key, DataKeyAd(key_id, dk.id), dk.key.Reveal())};
    puts.emplace_back(DataKeyKey(key_id), EncodeWrappedDataKey(w));
  } else {
    return Unavailable(s.ToString());
  }
  return &data_keys_.emplace(key_id, std::move(dk)).first->second;
}

AuditLog::Plain AuditLog::Serialize(const Entry& entry) {
  Plain p;
  p.meta = Dump(entry.meta);
  p.has_content = !entry.content.is_null();
  if (p.has_content) p.content = Dump(entry.content);
  return p;
}

AuditLog::Plain::~Plain() {
  WipeString(meta);
  WipeString(content);
}

Result<uint64_t> AuditLog::AppendLocked(const Entry& entry, const Plain& plain,
                                        const std::vector<std::string>& deletes) {
  // A background error (a flush or compaction that failed, e.g. on a full disk) stops RocksDB's
  // writes as surely as a failed append.
  if (!poisoned_ && BackgroundErrors() != errors_accepted_)
    MarkFailedLocked(rocksdb::Status::IOError("background error"));
  if (poisoned_) {
    // Try to come back on our own, at most once a second.
    if (Now() - last_recover_ms_ < 1000) return Unavailable(failure_);
    if (Status s = TryResumeLocked(); !s) return s.error();
  }
  const std::string key_id = entry.key_id.empty() ? std::string(kSystemKeyId) : entry.key_id;
  if (key_id.size() > kMaxKeyIdBytes) return Error::Internal("audit key id too long");
  const bool sealed = entry.type != RecordType::kPurge && entry.type != RecordType::kErasure;
  std::vector<std::pair<std::string, std::string>> puts;
  const DataKey* dk = nullptr;
  if (sealed) {
    auto k = DataKeyFor(key_id, puts);
    if (!k) return k.error();
    dk = *k;
  }
  Record r;
  Header& h = r.header;
  h.type = entry.type;
  h.seq = last_seq_ + 1;
  h.time_ms = Now();
  const uint32_t today = DayOf(h.time_ms);
  h.meta_expiry_day = sealed ? today + entry.meta_days : kNeverExpires;
  h.content_expiry_day = plain.has_content ? today + entry.content_days : kNeverExpires;
  h.key_id = key_id;
  if (dk) h.data_key_id = dk->id;
  h.prev_hash = last_hash_;
  auto fill = [&](Payload& p, const std::string& text, bool content) {
    p.bytes = dk ? Seal(dk->key, PayloadAd(h, content), text) : text;
    p.hash = PayloadHash(p.bytes);
  };
  fill(r.meta, plain.meta, false);
  if (plain.has_content) fill(r.content, plain.content, true);

  rocksdb::WriteBatch batch;
  batch.Put(RecordKey(h.seq), Encode(r));
  for (const auto& [k, v] : puts) batch.Put(k, v);
  if (entry.opens)
    batch.Put(OpenMarkerKey(h.seq), Dump(Json{{"key_id", key_id}, {"request_id", entry.request_id}}));
  if (entry.closes) batch.Delete(OpenMarkerKey(entry.closes));
  for (const auto& k : deletes) batch.Delete(k);
  rocksdb::WriteOptions wo;
  wo.sync = false;  // synced by Sync(): group commit
  rocksdb::Status s = db_->Write(wo, &batch);
  if (!s.ok()) {
    MarkFailedLocked(s);
    if (!puts.empty()) data_keys_.erase(key_id);  // the new data key was not stored
    return Unavailable(failure_);
  }
  last_seq_ = h.seq;
  last_hash_ = ChainHash(r);
  written_seq_ = h.seq;
  return h.seq;
}

Result<uint64_t> AuditLog::AppendNoWait(const Entry& entry, uint64_t* epoch) {
  const Plain plain = Serialize(entry);  // outside the lock: it orders only what must be ordered
  Result<uint64_t> seq = [&] {
    MutexLock lk(mu_);
    *epoch = epoch_.load();
    return AppendLocked(entry, plain, {});
  }();
  if (!seq) return seq;
  if (*seq - last_checkpoint_seq_ >= options_.checkpoint_every_records) {
    {
      MutexLock lk(cp_mu_);
      cp_due_ = true;
    }
    cp_cv_.notify_one();
  }
  return seq;
}

Result<uint64_t> AuditLog::Append(const Entry& entry, bool durable) {
  uint64_t epoch = 0;
  Result<uint64_t> seq = AppendNoWait(entry, &epoch);
  if (!seq) return seq;
  if (durable) {
    if (Status s = SyncInEpoch(*seq, epoch); !s) return s.error();
    return seq;
  }
  // Not durable, but out of our process: a crash of the gateway (not of the machine) keeps it.
  if (rocksdb::Status s = WriteWalBuffer(); !s.ok()) return Unavailable(FailureReason(s));
  return seq;
}

void AuditLog::AppendAsync(Entry entry, Durability durability, std::function<void(Result<uint64_t>)> done) {
  {
    MutexLock lk(queue_mu_);
    // Once the log is closing nothing more is appended; an entry refused here is answered at
    // once rather than left waiting for an appender that has stopped.
    if (!appender_stop_) {
      queue_.push_back({std::move(entry), durability, std::move(done)});
      lk.Unlock();
      queue_cv_.notify_one();
      return;
    }
  }
  done(Unavailable("the audit log is closing"));
}

void AuditLog::AppenderLoop() {
  // Takes everything queued, appends it in order, makes the batch as durable as its most
  // demanding entry asks — one WAL write, or one fsync through the same group commit as the
  // blocking writers (SyncInEpoch) — answers every entry, repeats. While it works, the next
  // batch queues up: the busier the gateway, the more records share a write and an fsync.
  MutexLock lk(queue_mu_);
  for (;;) {
    while (!appender_stop_ && queue_.empty()) lk.Wait(queue_cv_);
    if (queue_.empty()) return;  // stopping, and nothing is queued
    std::vector<QueuedAppend> batch;
    batch.swap(queue_);
    lk.Unlock();
    std::vector<Result<uint64_t>> seqs;
    seqs.reserve(batch.size());
    std::vector<uint64_t> epochs(batch.size(), 0);
    uint64_t last = 0, epoch = 0;
    bool sync = false, write = false;
    for (size_t i = 0; i < batch.size(); ++i) {
      seqs.push_back(AppendNoWait(batch[i].entry, &epochs[i]));
      if (!seqs.back()) continue;
      last = *seqs.back();
      epoch = epochs[i];
      (batch[i].durability == Durability::kSynced ? sync : write) = true;
    }
    Status durable = Status::Ok();
    if (sync) durable = SyncInEpoch(last, epoch);
    else if (write) {
      const rocksdb::Status s = WriteWalBuffer();
      if (!s.ok()) durable = Unavailable(FailureReason(s));
    }
    for (size_t i = 0; i < batch.size(); ++i) {
      if (!seqs[i]) batch[i].done(seqs[i].error());
      else if (!durable) batch[i].done(durable.error());
      else if (epochs[i] != epoch) batch[i].done(Unavailable("the record was lost when the store failed"));
      else batch[i].done(*seqs[i]);
    }
    lk.Lock();
  }
}

Result<uint64_t> AuditLog::AppendAdmin(const std::string& action, Json details) {
  Entry e;
  e.type = RecordType::kAdmin;
  e.meta = Json{{"action", action}};
  for (auto& [k, v] : details.items()) e.meta[k] = std::move(v);
  return Append(e, true);
}

Status AuditLog::Sync(uint64_t seq) { return SyncInEpoch(seq, epoch_.load()); }

rocksdb::Status AuditLog::WriteWalBuffer() {
  // Under mu_, like every Write: RocksDB aborts (an assertion in its file writer) when a thread
  // appends to a WAL whose buffer write just failed on another thread, before the failure has
  // become the store's background error. Ordered here, the appender sees poisoned_ instead.
  MutexLock lk(mu_);
  if (poisoned_) return rocksdb::Status::IOError(failure_);
  ReaderLock db_lock(db_mu_);
  rocksdb::Status s = db_ ? db_->FlushWAL(false) : rocksdb::Status::IOError("audit store closed");
  if (!s.ok()) MarkFailedLocked(s);
  return s;
}

Status AuditLog::SyncInEpoch(uint64_t seq, uint64_t epoch) {
  // Group commit without a thundering herd: writers covered by the sync in progress wait on that
  // round's condition variable; writers that arrived too late for it wait on the next round's,
  // and only one of them is woken to lead it — its sync then covers the others.
  MutexLock lk(sync_mu_);
  while (synced_seq_ < seq) {
    // A failure since the record was appended may have lost it, and a reopened store reuses its
    // sequence number: it can never be reported durable.
    if (epoch_.load() != epoch) return Unavailable("the record was lost when the store failed");
    if (syncing_) {
      const bool covered = seq <= sync_target_;
      lk.Wait(round_cv_[(sync_round_ + (covered ? 0 : 1)) % 2]);
      continue;
    }
    syncing_ = true;
    ++syncs_;
    const uint64_t round = ++sync_round_;
    const uint64_t target = sync_target_ = written_seq_.load();
    lk.Unlock();
    // One write() of everything buffered, then one fsync, for every waiting writer.
    rocksdb::Status s = WriteWalBuffer();
    if (s.ok()) {
      ReaderLock db_lock(db_mu_);
      s = db_ ? db_->SyncWAL() : rocksdb::Status::IOError("audit store closed");
    }
    lk.Lock();
    syncing_ = false;
    if (s.ok() && target > synced_seq_) synced_seq_ = target;
    if (s.ok() && hwm_) (void)hwm_->Advance(synced_seq_);  // a failed write only under-reports
    round_cv_[round % 2].notify_all();      // everyone this sync covered (or failed for)
    round_cv_[(round + 1) % 2].notify_one();  // the next leader, if anyone is waiting
    if (!s.ok()) {
      lk.Unlock();
      MutexLock g(mu_);
      MarkFailedLocked(s);
      return Unavailable(failure_);
    }
  }
  return Status::Ok();
}

Result<Checkpoint> AuditLog::WriteCheckpoint() {
  MutexLock cw(cp_write_mu_);
  Checkpoint c;
  {
    MutexLock lk(mu_);
    c.seq = last_seq_;
    c.hash = last_hash_;
  }
  if (c.seq == 0 || c.seq == last_checkpoint_seq_) return c;  // nothing new to sign
  if (Status s = Sync(c.seq); !s) return s.error();
  c.time_ms = Now();
  c.signature = signing_.Sign(c.SignedBytes());
  rocksdb::WriteOptions wo;
  wo.sync = true;
  if (Status s = WriteLocked(wo, [&](rocksdb::WriteBatch& b) { b.Put(CheckpointKey(c.seq), EncodeCheckpoint(c)); }); !s)
    return s.error();
  last_checkpoint_seq_ = c.seq;
  {
    MutexLock lk(sync_mu_);
    if (hwm_) (void)hwm_->Sync();
  }
  const std::string line = CheckpointLine(c) + "\n";
  if (options_.checkpoint_file == "-") {
    std::fwrite(line.data(), 1, line.size(), stdout);
    std::fflush(stdout);
  } else if (!options_.checkpoint_file.empty()) {
    int fd = ::open(options_.checkpoint_file.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
    bool ok = fd >= 0 && ::write(fd, line.data(), line.size()) == static_cast<ssize_t>(line.size()) &&
              ::fsync(fd) == 0;
    if (fd >= 0) ::close(fd);
    if (!ok) return Unavailable("cannot append to the checkpoint file " + options_.checkpoint_file);
  }
  return c;
}

void AuditLog::CheckpointLoop() {
  MutexLock lk(cp_mu_);
  while (!stop_) {
    // Until due (an append asked) or the period is over, whichever comes first.
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(options_.checkpoint_every_ms);
    while (!stop_ && !cp_due_ && lk.WaitUntil(cp_cv_, deadline) == std::cv_status::no_timeout) {
    }
    if (stop_) break;
    cp_due_ = false;
    lk.Unlock();
    (void)WriteCheckpoint();  // a failure shows as an unhealthy store; retried next round
    lk.Lock();
  }
}

Status AuditLog::WriteLocked(const rocksdb::WriteOptions& wo,
                             const std::function<void(rocksdb::WriteBatch&)>& fill) {
  MutexLock lk(mu_);  // every WAL write under mu_: see WriteWalBuffer
  if (poisoned_) return Unavailable(failure_);
  ReaderLock db_lock(db_mu_);
  if (!db_) return Unavailable("the store is closed");
  rocksdb::WriteBatch batch;
  fill(batch);
  rocksdb::Status s = db_->Write(wo, &batch);
  if (!s.ok()) {
    MarkFailedLocked(s);
    return Unavailable(failure_);
  }
  return Status::Ok();
}

Status AuditLog::Shred() {
  {
    ReaderLock db_lock(db_mu_);
    if (!db_) return Unavailable("the store is closed");
    rocksdb::FlushOptions fo;
    fo.wait = true;
    rocksdb::Status s = db_->Flush(fo);
    if (s.ok()) {
      rocksdb::CompactRangeOptions co;
      co.bottommost_level_compaction = rocksdb::BottommostLevelCompaction::kForce;
      s = db_->CompactRange(co, nullptr, nullptr);
    }
    if (!s.ok()) return Unavailable("compaction failed: " + FailureReason(s));
  }
  rocksdb::Status s = WriteWalBuffer();
  if (s.ok()) {
    ReaderLock db_lock(db_mu_);
    s = db_ ? db_->SyncWAL() : rocksdb::Status::IOError("audit store closed");
  }
  return s.ok() ? Status::Ok() : Unavailable(FailureReason(s));
}

Result<PurgeReport> AuditLog::Purge(uint32_t before_day, const std::string& actor) {
  MutexLock pl(purge_mu_);
  PurgeReport rep;
  rocksdb::WriteOptions wo;
  wo.sync = true;
  // In rounds of at most 1000 rewritten records: scan under the shared store lock, then write
  // under mu_ (lock order: mu_ before db_mu_, so never both from inside the scan).
  for (uint64_t from = 1; from != 0;) {
    std::vector<std::pair<std::string, std::string>> rewrites;
    uint64_t next = 0;
    {
      ReaderLock db_lock(db_mu_);
      if (!db_) return Unavailable("the store is closed");
      Status scan = reader_->ForEachRaw(from, [&](uint64_t seq, std::string_view raw) {
        auto r = Decode(raw);
        if (!r) return true;  // verify reports it; purge never rewrites what it cannot read
        bool changed = false;
        if (r->content.present() && !r->content.removed() && r->header.content_expiry_day < before_day) {
          r->content.bytes.clear();
          ++rep.content_removed;
          changed = true;
        }
        if (r->meta.present() && !r->meta.removed() && r->header.meta_expiry_day < before_day) {
          r->meta.bytes.clear();
          ++rep.meta_removed;
          changed = true;
        }
        if (changed) rewrites.emplace_back(RecordKey(r->header.seq), Encode(*r));
        if (rewrites.size() < 1000) return true;
        next = seq + 1;
        return false;
      });
      if (!scan) return scan.error();
    }
    if (!rewrites.empty())
      if (Status s = WriteLocked(wo, [&](rocksdb::WriteBatch& b) {
            for (const auto& [k, v] : rewrites) b.Put(k, v);
          });
          !s)
        return s.error();
    from = next;
  }
  Entry e;
  e.type = RecordType::kPurge;
  e.meta = Json{{"action", "purge"}, {"before_day", before_day},
                {"content_removed", rep.content_removed}, {"meta_removed", rep.meta_removed},
                {"actor", actor}};
  auto seq = Append(e, true);
  if (!seq) return seq.error();
  rep.purge_seq = *seq;
  if (auto c = WriteCheckpoint(); !c) return c.error();
  if (Status s = Shred(); !s) return s.error();
  return rep;
}

Status AuditLog::Forget(const std::string& key_id, const std::string& actor) {
  Result<uint64_t> seq = Error::Internal("unreached");
  uint64_t epoch = 0;
  {
    MutexLock lk(mu_);
    std::string data_key_id;
    if (auto it = data_keys_.find(key_id); it != data_keys_.end()) {
      data_key_id = it->second.id;
      data_keys_.erase(it);  // Secret wipes the key
    } else if (auto w = reader_->DataKey(key_id); !w) {
      return w.error();
    } else if (*w) {
      data_key_id = (**w).id;
    } else {
      // Nothing to destroy: an unknown id, a key with no sealed record, or one already forgotten.
      // Never an erasure record that names no data key.
      return Error::NotFound("the audit store has no data key for key '" + key_id +
                                 "' (no sealed record of that key, or already forgotten): nothing was erased",
                             "audit_no_data_key");
    }
    Entry e;
    e.type = RecordType::kErasure;
    e.meta = Json{{"action", "forget"}, {"key_id", key_id}, {"data_key_id", ToHex(data_key_id)},
                  {"actor", actor}};
    // The erasure record and the deletion of the wrapped key are one atomic batch.
    epoch = epoch_.load();
    seq = AppendLocked(e, Serialize(e), {DataKeyKey(key_id)});
  }
  if (!seq) return seq.error();
  if (Status s = SyncInEpoch(*seq, epoch); !s) return s;
  if (auto c = WriteCheckpoint(); !c) return c.error();
  return Shred();
}

Status AuditLog::RotateMasterKey(MasterKey next, const std::string& actor) {
  Result<uint64_t> seq = Error::Internal("unreached");
  uint64_t epoch = 0;
  {
    MutexLock lk(mu_);
    rocksdb::WriteBatch batch;
    std::unique_ptr<rocksdb::Iterator> it(db_->NewIterator(rocksdb::ReadOptions()));
    uint64_t n = 0;
    for (it->Seek("k"); it->Valid() && it->key().starts_with("k"); it->Next()) {
      std::string key_id(it->key().data() + 1, it->key().size() - 1);
      auto w = DecodeWrappedDataKey(std::string_view(it->value().data(), it->value().size()));
      if (!w) return w.error();
      if (w->master_id != master_.id)
        return Error::Internal("data key of " + key_id + " is wrapped by master key " + w->master_id +
                                   ", not the current " + master_.id,
                               "audit_wrong_master_key");
      auto key = Unseal(master_.key, DataKeyAd(key_id, w->id), w->wrapped);
      if (!key) return key.error();
      WrappedDataKey re{w->id, next.id, Seal(next.key, DataKeyAd(key_id, w->id), *key)};
      WipeString(*key);
      batch.Put(it->key(), EncodeWrappedDataKey(re));
      ++n;
    }
    rocksdb::WriteOptions wo;
    wo.sync = true;
    if (rocksdb::Status s = db_->Write(wo, &batch); !s.ok()) return Unavailable(s.ToString());
    const std::string old_id = master_.id;
    master_ = std::move(next);
    Entry e;
    e.type = RecordType::kAdmin;
    e.meta = Json{{"action", "audit_master_key_rotated"}, {"from", old_id}, {"to", master_.id},
                  {"data_keys", n}, {"actor", actor}};
    epoch = epoch_.load();
    seq = AppendLocked(e, Serialize(e), {});
  }
  if (!seq) return seq.error();
  if (Status s = SyncInEpoch(*seq, epoch); !s) return s;
  return Shred();  // the copies wrapped by the old master key leave the files
}

}  // namespace warden::audit
