#include "audit/reader.h"

#include <rocksdb/cache.h>
#include <rocksdb/db.h>
#include <rocksdb/table.h>
#include <rocksdb/options.h>
#include <sys/stat.h>

#include <filesystem>

#include "audit/high_water.h"
#include "common/rocks_log.h"
#include "common/util.h"

namespace warden::audit {
namespace {

Error StoreError(const std::string& what, const rocksdb::Status& s) {
  return Error::ServiceUnavailable("audit store: " + what + ": " + s.ToString(), "audit_unavailable");
}

std::string Problem(uint64_t seq, const std::string& what) {
  return "seq " + std::to_string(seq) + ": " + what;
}

}  // namespace

Result<rocksdb::DB*> OpenDatabase(const std::string& dir, bool read_only, bool create, rocksdb::Env* env,
                                  WalRecovery recovery) {
  if (create) {
    std::error_code ec;
    std::filesystem::create_directories(dir, ec);
    if (ec) return Error::Internal("cannot create the audit directory " + dir + ": " + ec.message());
    ::chmod(dir.c_str(), 0700);
  }
  rocksdb::Options o;
  o.create_if_missing = create;
  if (env) o.env = env;
  UseWardenLogger(o, "audit");
  // A WAL that ends in a torn write (a crash mid-write; nothing in it was acknowledged) is
  // recovered up to the last whole record. Corruption anywhere else fails the open instead of
  // being replayed up to the damage and silently dropping the rest (point-in-time recovery lost
  // 21 acknowledged records to one flipped byte). AuditLog::Open also compares the tail with
  // the high-water mark and the checkpoints, which catches a cleanly lost tail.
  o.wal_recovery_mode = recovery == WalRecovery::kUpToDamage ? rocksdb::WALRecoveryMode::kPointInTimeRecovery
                                                             : rocksdb::WALRecoveryMode::kTolerateCorruptedTailRecords;
  // Obsolete WAL files are deleted at once (not archived, not recycled): after `forget` the
  // wrapped data key must be gone from every file once flushed and compacted.
  o.WAL_ttl_seconds = 0;
  o.WAL_size_limit_MB = 0;
  o.recycle_log_file_num = 0;
  o.write_buffer_size = 16 << 20;
  // No automatic resume after an I/O error: RocksDB retrying while the disk still fails turns
  // the error into one only a restart clears. AuditLog resumes itself once a probe write works.
  o.max_bgerror_resume_count = 0;
  // WAL bytes stay in RocksDB's buffer until AuditLog flushes them: a durable append costs no
  // write() of its own — the group-commit leader writes the whole group and fsyncs once — and
  // appends are not stalled behind an fsync in progress on the same file.
  o.manual_wal_flush = true;
  // Sealed payloads do not compress: compressing them in flushes and compactions is CPU spent
  // for nothing.
  o.compression = rocksdb::kNoCompression;
  // Index and filter blocks live in a bounded block cache instead of beside every open table:
  // an audit store keeps years of records, and unbounded, their index alone grew with it
  // (10 MB of a gateway's memory for a 1.8 GB store). Appends never read; the reads (the tail
  // at open, verify, export, purge, forget) can afford a cache miss.
  rocksdb::BlockBasedTableOptions table;
  table.cache_index_and_filter_blocks = true;
  table.pin_l0_filter_and_index_blocks_in_cache = true;
  table.block_cache = rocksdb::NewLRUCache(8 << 20);
  o.table_factory.reset(rocksdb::NewBlockBasedTableFactory(table));
  rocksdb::DB* db = nullptr;
  rocksdb::Status s = read_only ? rocksdb::DB::OpenForReadOnly(o, dir, &db)
                                : rocksdb::DB::Open(o, dir, &db);
  if (!s.ok()) {
    if (s.IsIOError() && s.ToString().find("lock") != std::string::npos)
      return Error::ServiceUnavailable("the audit store " + dir +
                                           " is in use by a running warden; stop it first (read-only "
                                           "commands — verify, list, show, export — work beside it)",
                                       "store_locked");
    if (s.IsCorruption())
      return Error::Internal("the audit store " + dir + " is damaged (" + s.ToString() +
                                 "): Warden will not open it and drop what it cannot read. Run "
                                 "`warden-audit verify` (it reads up to the damage), then restore the store "
                                 "from a backup",
                             "audit_corrupt");
    return Error::ServiceUnavailable("cannot open the audit store " + dir + ": " + s.ToString(),
                                     "audit_unavailable");
  }
  return db;
}

std::string DataKeyKey(const std::string& key_id) { return "k" + key_id; }
std::string DataKeyAd(const std::string& key_id, std::string_view data_key_id) {
  return "warden-audit-data-key-v1" + key_id + "/" + std::string(data_key_id);
}

std::string EncodeWrappedDataKey(const WrappedDataKey& k) {
  std::string out;
  out.push_back(static_cast<char>(k.id.size()));
  out += k.id;
  out.push_back(static_cast<char>(k.master_id.size()));
  out += k.master_id;
  out += k.wrapped;
  return out;
}

Result<WrappedDataKey> DecodeWrappedDataKey(std::string_view bytes) {
  WrappedDataKey k;
  size_t pos = 0;
  for (std::string* field : {&k.id, &k.master_id}) {
    if (pos >= bytes.size()) return Error::Internal("malformed data key entry", "audit_malformed");
    size_t n = static_cast<unsigned char>(bytes[pos++]);
    if (bytes.size() - pos < n) return Error::Internal("malformed data key entry", "audit_malformed");
    *field = std::string(bytes.substr(pos, n));
    pos += n;
  }
  k.wrapped = std::string(bytes.substr(pos));
  return k;
}

Result<std::unique_ptr<AuditReader>> AuditReader::OpenReadOnly(const std::string& dir) {
  if (!std::filesystem::exists(dir + "/CURRENT"))
    return Error::NotFound("no audit store in " + dir, "audit_not_found");
  auto db = OpenDatabase(dir, /*read_only=*/true, /*create=*/false);
  std::string damage;
  if (!db && db.error().code == "audit_corrupt") {
    // Show the auditor what is readable, and say that it is not all there is.
    damage = "the write-ahead log is damaged; only the records before the damage could be read";
    db = OpenDatabase(dir, true, false, nullptr, WalRecovery::kUpToDamage);
  }
  if (!db) return db.error();
  auto reader = std::make_unique<AuditReader>(*db);
  reader->owned_.reset(*db);
  reader->damage_ = std::move(damage);
  auto acknowledged = HighWaterMark::Read(dir);
  if (!acknowledged) {
    if (!reader->damage_.empty()) reader->damage_ += "; ";
    reader->damage_ += acknowledged.error().message;
  } else {
    reader->acknowledged_seq_ = *acknowledged;
  }
  return reader;
}

AuditReader::AuditReader(rocksdb::DB* borrowed) : db_(borrowed) {}
AuditReader::~AuditReader() = default;

Status AuditReader::ForEachRaw(uint64_t from_seq,
                               const std::function<bool(uint64_t, std::string_view)>& fn) const {
  std::unique_ptr<rocksdb::Iterator> it(db_->NewIterator(rocksdb::ReadOptions()));
  for (it->Seek(RecordKey(from_seq)); it->Valid() && it->key().starts_with("r"); it->Next()) {
    uint64_t seq = SeqOfKey(std::string_view(it->key().data(), it->key().size()));
    if (!fn(seq, std::string_view(it->value().data(), it->value().size()))) break;
  }
  if (!it->status().ok()) return StoreError("read failed", it->status());
  return Status::Ok();
}

Result<std::optional<Record>> AuditReader::Get(uint64_t seq) const {
  std::string value;
  rocksdb::Status s = db_->Get(rocksdb::ReadOptions(), RecordKey(seq), &value);
  if (s.IsNotFound()) return std::optional<Record>();
  if (!s.ok()) return StoreError("read failed", s);
  auto r = Decode(value);
  if (!r) return r.error();
  return std::optional<Record>(std::move(*r));
}

Result<std::vector<Checkpoint>> AuditReader::Checkpoints() const {
  std::vector<Checkpoint> out;
  std::unique_ptr<rocksdb::Iterator> it(db_->NewIterator(rocksdb::ReadOptions()));
  for (it->Seek("c"); it->Valid() && it->key().starts_with("c"); it->Next()) {
    auto c = DecodeCheckpoint(std::string_view(it->value().data(), it->value().size()));
    if (!c) {
      // Kept with an impossible signature so Verify reports it instead of skipping it.
      Checkpoint bad;
      bad.seq = SeqOfKey(std::string_view(it->key().data(), it->key().size()));
      out.push_back(bad);
      continue;
    }
    out.push_back(std::move(*c));
  }
  if (!it->status().ok()) return StoreError("read failed", it->status());
  return out;
}

Result<std::optional<WrappedDataKey>> AuditReader::DataKey(const std::string& key_id) const {
  std::string value;
  rocksdb::Status s = db_->Get(rocksdb::ReadOptions(), DataKeyKey(key_id), &value);
  if (s.IsNotFound()) return std::optional<WrappedDataKey>();
  if (!s.ok()) return StoreError("read failed", s);
  auto k = DecodeWrappedDataKey(value);
  if (!k) return k.error();
  return std::optional<WrappedDataKey>(std::move(*k));
}

Result<std::set<std::string>> AuditReader::DataKeyIds() const {
  std::set<std::string> out;
  std::unique_ptr<rocksdb::Iterator> it(db_->NewIterator(rocksdb::ReadOptions()));
  for (it->Seek("k"); it->Valid() && it->key().starts_with("k"); it->Next())
    out.emplace(it->key().data() + 1, it->key().size() - 1);
  if (!it->status().ok()) return StoreError("read failed", it->status());
  return out;
}

namespace {

// The key id an erasure record names (its plaintext meta: {"action":"forget","key_id",…}); nullopt
// for any other record or a meta that does not say.
std::optional<std::string> ErasedKeyId(const Record& r) {
  if (r.header.type != RecordType::kErasure) return std::nullopt;
  auto j = ParseJson(r.meta.bytes);
  if (!j || !j->is_object() || !(*j)["key_id"].is_string()) return std::nullopt;
  return (*j)["key_id"].get<std::string>();
}

}  // namespace

Result<std::set<std::string>> AuditReader::ForgottenKeys() const {
  std::set<std::string> out;
  Status s = ForEachRaw(1, [&](uint64_t, std::string_view raw) {
    auto r = Decode(raw);
    if (r)
      if (auto id = ErasedKeyId(*r)) out.insert(std::move(*id));
    return true;
  });
  if (!s) return s.error();
  return out;
}

VerifyReport Verify(const RecordSource& reader, std::string_view public_key,
                    const std::vector<Checkpoint>& external,
                    const std::function<void(uint64_t)>& progress) {
  VerifyReport rep;
  auto fail = [&](uint64_t seq, const std::string& what) {
    if (rep.first_bad_seq == 0 || seq < rep.first_bad_seq) rep.first_bad_seq = seq;
    if (rep.problems.size() < 50) rep.problems.push_back(Problem(seq, what));
  };
  std::multimap<uint64_t, Checkpoint> checkpoints;
  auto stored = reader.Checkpoints();
  if (!stored) {
    rep.problems.push_back("cannot read the checkpoints: " + stored.error().message);
    return rep;
  }
  for (auto& c : *stored) checkpoints.emplace(c.seq, std::move(c));
  for (const auto& c : external) checkpoints.emplace(c.seq, c);
  for (const auto& [seq, c] : checkpoints) {
    if (!VerifySignature(public_key, c.SignedBytes(), c.signature))
      fail(seq, "checkpoint signature is not valid (forged, altered, or another key)");
    else if (!c.replica.empty())
      rep.replicas.insert(c.replica);
  }
  // A chain has one writer: checkpoints of one store that name two replicas are two chains
  // mixed up (or a replica renamed — set cluster.replica to keep a name).
  if (rep.replicas.size() > 1) {
    std::string names;
    for (const auto& n : rep.replicas) names += (names.empty() ? "" : ", ") + n;
    fail(checkpoints.rbegin()->first, "checkpoints of one chain name several replicas: " + names);
  }

  struct Removed { uint64_t seq; uint32_t expiry_day; };
  std::vector<Removed> removed;
  std::vector<std::pair<uint64_t, uint32_t>> purges;  // (seq, before_day)
  std::map<std::string, uint64_t> first_sealed;       // key id → its first sealed record
  std::set<std::string> erased;                       // key ids named by erasure records
  uint64_t expected = 1;
  uint64_t last_good_checkpoint = 0;
  std::string prev(kHashBytes, '\0');
  bool linked = true;  // false right after an undecodable record or a gap: no link to check
  // A record whose link to the one before it is broken, not yet blamed: either it is out of
  // place (replaced, copied, added) or the one before it was altered. The next record chaining
  // to it, or a checkpoint matching it, vouches for it and moves the blame to the one before.
  uint64_t pending = 0;
  auto blame_pending = [&](bool vouched) {
    if (vouched)
      fail(pending - 1, "record " + std::to_string(pending - 1) + " was altered: record " +
                            std::to_string(pending) + ", which the chain after it vouches for, no longer chains to it");
    else
      fail(pending, "record " + std::to_string(pending) + " does not chain to record " +
                        std::to_string(pending - 1) + " (added, replaced or copied; or record " +
                        std::to_string(pending - 1) + " was altered)");
    pending = 0;
  };
  Status scan = reader.ForEachRaw(1, [&](uint64_t seq, std::string_view raw) {
    ++rep.records;
    if (progress && rep.records % 100000 == 0) progress(seq);
    if (seq != expected) {
      if (seq > expected)
        fail(expected, seq - expected == 1 ? "record missing (deleted without a purge record)"
                                           : "records " + std::to_string(expected) + ".." +
                                                 std::to_string(seq - 1) +
                                                 " missing (deleted without a purge record)");
      else
        fail(seq, "malformed record key");
      linked = false;
    }
    expected = seq + 1;
    rep.last_seq = seq;
    auto r = Decode(raw);
    if (!r) {
      if (pending) blame_pending(false);
      fail(seq, "record cannot be decoded (altered)");
      linked = false;
      return true;
    }
    const Header& h = r->header;
    const bool out_of_place = h.seq != seq;
    if (out_of_place) fail(seq, "the record stored here says it is seq " + std::to_string(h.seq) +
                                    " (records swapped or moved)");
    const bool link_ok = !linked || h.prev_hash == prev;
    if (pending) blame_pending(pending == seq - 1 && linked && link_ok && !out_of_place);
    if (!link_ok && !out_of_place) pending = seq;  // an out-of-place record is blamed already
    for (const Payload* p : {&r->meta, &r->content}) {
      if (!p->present()) continue;
      if (p->removed()) {
        removed.push_back({seq, p == &r->content ? h.content_expiry_day : h.meta_expiry_day});
      } else if (PayloadHash(p->bytes) != p->hash) {
        fail(seq, std::string(p == &r->content ? "content" : "meta") + " payload altered");
      }
    }
    if (!h.data_key_id.empty()) first_sealed.emplace(h.key_id, seq);
    if (h.type == RecordType::kPurge) {
      ++rep.purge_records;
      auto j = ParseJson(r->meta.bytes);
      if (j && j->is_object() && (*j)["before_day"].is_number_unsigned())
        purges.emplace_back(seq, (*j)["before_day"].get<uint32_t>());
    }
    if (h.type == RecordType::kErasure) {
      ++rep.erasures;
      if (auto id = ErasedKeyId(*r)) erased.insert(std::move(*id));
    }
    std::string hash = ChainHash(*r);
    auto [lo, hi] = checkpoints.equal_range(seq);
    for (auto it = lo; it != hi; ++it) {
      ++rep.checkpoints;
      if (it->second.hash != hash) {
        fail(seq, "the chain does not match the signed checkpoint: a record after seq " +
                      std::to_string(last_good_checkpoint) + " and up to " + std::to_string(seq) +
                      " was altered or re-chained");
      } else {
        last_good_checkpoint = seq;
        if (pending == seq) blame_pending(true);  // signed as it is: the one before is at fault
      }
    }
    rep.last_checkpoint_seq = lo != hi ? seq : rep.last_checkpoint_seq;
    prev = std::move(hash);
    linked = true;
    return true;
  });
  if (pending) blame_pending(false);
  if (!scan) {
    rep.problems.push_back("cannot read the records: " + scan.error().message);
    return rep;
  }
  for (const auto& [seq, c] : checkpoints)
    if (seq > rep.last_seq) {
      fail(rep.last_seq + 1, "records " + std::to_string(rep.last_seq + 1) + ".." + std::to_string(seq) +
                                 " missing: a signed checkpoint covers seq " + std::to_string(seq) +
                                 " (tail truncated)");
      break;
    }
  if (const uint64_t acked = reader.AcknowledgedSeq(); acked > rep.last_seq)
    fail(rep.last_seq + 1, "records " + std::to_string(rep.last_seq + 1) + ".." + std::to_string(acked) +
                               " missing: the writer acknowledged seq " + std::to_string(acked) +
                               " as durable (the store's high-water mark); its write-ahead log was damaged or lost");
  if (const std::string damage = reader.Damage(); !damage.empty()) fail(rep.last_seq + 1, damage);
  if (!first_sealed.empty()) {
    auto present = reader.DataKeyIds();
    if (!present) {
      rep.problems.push_back("cannot read the data keys: " + present.error().message);
    } else {
      for (const auto& [key_id, seq] : first_sealed)
        if (!present->count(key_id) && !erased.count(key_id))
          fail(seq, "the data key of key '" + key_id +
                        "' was deleted without an erasure record: its records can no longer be opened");
    }
  }
  for (const Removed& m : removed) {
    bool covered = false;
    for (const auto& [pseq, before] : purges) covered = covered || (pseq > m.seq && m.expiry_day < before);
    if (covered) ++rep.purged_payloads;
    else fail(m.seq, "payload removed without a purge record covering it");
  }
  return rep;
}

const char* StateName(Decryptor::State s) {
  switch (s) {
    case Decryptor::State::kNone: return "none";
    case Decryptor::State::kOk: return "ok";
    case Decryptor::State::kPurged: return "purged by policy";
    case Decryptor::State::kErased: return "erased (key forgotten)";
    case Decryptor::State::kNoDataKey: return "data key missing";
    case Decryptor::State::kFailed: return "cannot be opened (altered or wrong master key)";
  }
  return "?";
}

Result<Secret> Decryptor::UnwrapDataKey(const std::string& key_id, std::string* data_key_id) {
  auto wrapped = reader_.DataKey(key_id);
  if (!wrapped) return wrapped.error();
  if (!*wrapped) return Error::NotFound("no data key for key " + key_id, "audit_no_data_key");
  const WrappedDataKey& w = **wrapped;
  if (w.master_id != master_.id)
    return Error::Internal("the data key of " + key_id + " is wrapped by master key " + w.master_id +
                               ", not by the given master key " + master_.id,
                           "audit_wrong_master_key");
  auto key = Unseal(master_.key, DataKeyAd(key_id, w.id), w.wrapped);
  if (!key) return key.error();
  if (data_key_id) *data_key_id = w.id;
  return Secret(std::move(*key));
}

Decryptor::State Decryptor::OpenPayload(const Record& r, const Payload& p, bool content, Json& out) {
  if (!p.present()) return State::kNone;
  if (p.removed()) return State::kPurged;
  std::string plain;
  if (r.header.data_key_id.empty()) {
    plain = p.bytes;
  } else {
    auto it = keys_.find(r.header.key_id);
    if (it == keys_.end()) {
      std::string id;
      auto key = UnwrapDataKey(r.header.key_id, &id);
      std::optional<CachedKey> entry;
      if (key) entry = CachedKey{id, std::move(*key)};
      it = keys_.emplace(r.header.key_id, std::move(entry)).first;
    }
    // A different data key id: the key was forgotten (and a new one made for later records).
    const bool same_key = it->second && it->second->id == r.header.data_key_id;
    if (!same_key) {
      if (!forgotten_) {
        auto f = reader_.ForgottenKeys();
        forgotten_ = f ? *f : std::set<std::string>();
      }
      return forgotten_->count(r.header.key_id) ? State::kErased : State::kNoDataKey;
    }
    auto opened = Unseal(it->second->key, PayloadAd(r.header, content), p.bytes);
    if (!opened) return State::kFailed;
    plain = std::move(*opened);
  }
  // Payloads wrap a client body or an answer (each at most kMaxJsonDepth deep) in a few levels.
  auto j = ParseJson(plain, nullptr, kMaxJsonDepth + 8);
  WipeString(plain);
  if (!j) return State::kFailed;
  out = std::move(*j);
  return State::kOk;
}

Decryptor::Opened Decryptor::Open(const Record& r) {
  Opened o;
  o.meta_state = OpenPayload(r, r.meta, false, o.meta);
  o.content_state = OpenPayload(r, r.content, true, o.content);
  return o;
}

Decryptor::Opened Decryptor::OpenMeta(const Record& r) {
  Opened o;
  o.meta_state = OpenPayload(r, r.meta, false, o.meta);
  return o;
}

}  // namespace warden::audit
