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
#include "audit/store_errors.h"
#include "common/log.h"
#include "common/util.h"

namespace warden::audit {

Error Unavailable(const std::string& what) {
  return Error::ServiceUnavailable("the audit store cannot be written: " + what, "audit_unavailable");
}

std::string FailureReason(const rocksdb::Status& s) {
  if (s.IsNoSpace()) return "no space left on the audit filesystem";
  if (s.IsIOError()) return "I/O error on the audit filesystem";
  if (s.IsCorruption()) return "the audit store is corrupted";
  return "audit store write failed";
}

namespace {

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
  log->checkpointer_ = std::make_unique<Checkpointer>(
      log->signing_,
      Checkpointer::Options{options.checkpoint_file, options.checkpoint_every_records, options.checkpoint_every_ms,
                            options.replica},
      log->ChainForCheckpoints());
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
  log->checkpointer_->Start();
  log->appender_thread_ = std::thread([l = log.get()] { l->AppenderLoop(); });
  log->opened_ = true;
  return log;
}

AuditLog::~AuditLog() {
  if (checkpointer_) checkpointer_->Stop();
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

uint64_t AuditLog::last_seq() const {
  MutexLock lk(mu_);
  return last_seq_;
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

AuditLog::Plain AuditLog::Serialize(const Entry& entry) const {
  Plain p;
  if (!options_.replica.empty() && entry.meta.is_object()) {
    Json meta = entry.meta;
    meta["replica"] = options_.replica;
    p.meta = Dump(meta);
  } else {
    p.meta = Dump(entry.meta);
  }
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
  checkpointer_->Appended(*seq);
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

Result<Checkpoint> AuditLog::WriteCheckpoint() { return checkpointer_->Write(); }

Checkpointer::ChainLog AuditLog::ChainForCheckpoints() {
  Checkpointer::ChainLog chain;
  chain.head = [this] {
    MutexLock lk(mu_);
    return std::make_pair(last_seq_, last_hash_);
  };
  chain.sync = [this](uint64_t seq) { return Sync(seq); };
  chain.store = [this](const Checkpoint& c) -> Status {
    rocksdb::WriteOptions wo;
    wo.sync = true;
    if (Status s = WriteLocked(wo, [&](rocksdb::WriteBatch& b) { b.Put(CheckpointKey(c.seq), EncodeCheckpoint(c)); });
        !s)
      return s;
    MutexLock lk(sync_mu_);
    if (hwm_) (void)hwm_->Sync();
    return Status::Ok();
  };
  chain.now_ms = [this] { return Now(); };
  return chain;
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

}  // namespace warden::audit
