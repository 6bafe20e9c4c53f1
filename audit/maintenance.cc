#include "audit/maintenance.h"

#include <rocksdb/db.h>
#include <rocksdb/options.h>
#include <rocksdb/write_batch.h>

#include "audit/store_errors.h"
#include "common/util.h"

namespace warden::audit {

Status AuditMaintenance::Shred() {
  {
    ReaderLock db_lock(log_.db_mu_);
    if (!log_.db_) return Unavailable("the store is closed");
    rocksdb::FlushOptions fo;
    fo.wait = true;
    rocksdb::Status s = log_.db_->Flush(fo);
    if (s.ok()) {
      rocksdb::CompactRangeOptions co;
      co.bottommost_level_compaction = rocksdb::BottommostLevelCompaction::kForce;
      s = log_.db_->CompactRange(co, nullptr, nullptr);
    }
    if (!s.ok()) return Unavailable("compaction failed: " + FailureReason(s));
  }
  rocksdb::Status s = log_.WriteWalBuffer();
  if (s.ok()) {
    ReaderLock db_lock(log_.db_mu_);
    s = log_.db_ ? log_.db_->SyncWAL() : rocksdb::Status::IOError("audit store closed");
  }
  return s.ok() ? Status::Ok() : Unavailable(FailureReason(s));
}

Result<PurgeReport> AuditMaintenance::Purge(uint32_t before_day, const std::string& actor) {
  MutexLock pl(log_.purge_mu_);
  PurgeReport rep;
  rocksdb::WriteOptions wo;
  wo.sync = true;
  // In rounds of at most 1000 rewritten records: scan under the shared store lock, then write
  // under the log's mu_ (lock order: mu_ before db_mu_, so never both from inside the scan).
  for (uint64_t from = 1; from != 0;) {
    std::vector<std::pair<std::string, std::string>> rewrites;
    uint64_t next = 0;
    {
      ReaderLock db_lock(log_.db_mu_);
      if (!log_.db_) return Unavailable("the store is closed");
      Status scan = log_.reader_->ForEachRaw(from, [&](uint64_t seq, std::string_view raw) {
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
      if (Status s = log_.WriteLocked(wo, [&](rocksdb::WriteBatch& b) {
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
  auto seq = log_.Append(e, true);
  if (!seq) return seq.error();
  rep.purge_seq = *seq;
  if (auto c = log_.WriteCheckpoint(); !c) return c.error();
  if (Status s = Shred(); !s) return s.error();
  return rep;
}

Status AuditMaintenance::Forget(const std::string& key_id, const std::string& actor) {
  Result<uint64_t> seq = Error::Internal("unreached");
  uint64_t epoch = 0;
  {
    MutexLock lk(log_.mu_);
    std::string data_key_id;
    if (auto it = log_.data_keys_.find(key_id); it != log_.data_keys_.end()) {
      data_key_id = it->second.id;
      log_.data_keys_.erase(it);  // Secret wipes the key
    } else if (auto w = log_.reader_->DataKey(key_id); !w) {
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
    epoch = log_.epoch_.load();
    seq = log_.AppendLocked(e, log_.Serialize(e), {DataKeyKey(key_id)});
  }
  if (!seq) return seq.error();
  if (Status s = log_.SyncInEpoch(*seq, epoch); !s) return s;
  if (auto c = log_.WriteCheckpoint(); !c) return c.error();
  return Shred();
}

Status AuditMaintenance::RotateMasterKey(MasterKey next, const std::string& actor) {
  Result<uint64_t> seq = Error::Internal("unreached");
  uint64_t epoch = 0;
  {
    MutexLock lk(log_.mu_);
    rocksdb::WriteBatch batch;
    std::unique_ptr<rocksdb::Iterator> it(log_.db_->NewIterator(rocksdb::ReadOptions()));
    uint64_t n = 0;
    for (it->Seek("k"); it->Valid() && it->key().starts_with("k"); it->Next()) {
      std::string key_id(it->key().data() + 1, it->key().size() - 1);
      auto w = DecodeWrappedDataKey(std::string_view(it->value().data(), it->value().size()));
      if (!w) return w.error();
      if (w->master_id != log_.master_.id)
        return Error::Internal("data key of " + key_id + " is wrapped by master key " + w->master_id +
                                   ", not the current " + log_.master_.id,
                               "audit_wrong_master_key");
      auto key = Unseal(log_.master_.key, DataKeyAd(key_id, w->id), w->wrapped);
      if (!key) return key.error();
      WrappedDataKey re{w->id, next.id, Seal(next.key, DataKeyAd(key_id, w->id), *key)};
      WipeString(*key);
      batch.Put(it->key(), EncodeWrappedDataKey(re));
      ++n;
    }
    rocksdb::WriteOptions wo;
    wo.sync = true;
    if (rocksdb::Status s = log_.db_->Write(wo, &batch); !s.ok()) return Unavailable(s.ToString());
    const std::string old_id = log_.master_.id;
    log_.master_ = std::move(next);
    Entry e;
    e.type = RecordType::kAdmin;
    e.meta = Json{{"action", "audit_master_key_rotated"}, {"from", old_id}, {"to", log_.master_.id},
                  {"data_keys", n}, {"actor", actor}};
    epoch = log_.epoch_.load();
    seq = log_.AppendLocked(e, log_.Serialize(e), {});
  }
  if (!seq) return seq.error();
  if (Status s = log_.SyncInEpoch(*seq, epoch); !s) return s;
  return Shred();  // the copies wrapped by the old master key leave the files
}

}  // namespace warden::audit
