// Reading an audit store: iterate records and checkpoints, verify the chain (public key only),
// and open sealed payloads (master key). `warden-audit` and the tests read through here; the
// gateway writes through AuditLog (audit_log.h), which shares the key layout below.
//
// RocksDB keys:  "r"+seq → record (record.h)   "c"+seq → checkpoint   "k"+key_id → wrapped data
// key   "o"+seq → an intent not yet closed by an outcome ({"key_id","request_id"}).
//
// Contract: a reader opened with OpenReadOnly takes no lock, so it can run beside a live
// gateway; it sees the store as of the moment it was opened. Not thread-safe.
#pragma once

#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "audit/crypto.h"
#include "audit/record.h"
#include "common/json.h"
#include "common/result.h"

namespace rocksdb {
class DB;
class Env;
}  // namespace rocksdb

namespace warden::audit {

// How much of a damaged write-ahead log an open replays. kStrict (writers, and readers first):
// only a torn last write is tolerated; other damage fails the open (`audit_corrupt`).
// kUpToDamage (read-only, to show an auditor what is left): replays up to the damage.
enum class WalRecovery { kStrict, kUpToDamage };

// Opens (creating when `create`) the RocksDB database in `dir` for the audit store. `env` is a
// test seam for injecting filesystem faults (null = the real filesystem).
Result<rocksdb::DB*> OpenDatabase(const std::string& dir, bool read_only, bool create,
                                  rocksdb::Env* env = nullptr, WalRecovery recovery = WalRecovery::kStrict);

std::string DataKeyKey(const std::string& key_id);
std::string DataKeyAd(const std::string& key_id, std::string_view data_key_id);
struct WrappedDataKey {
  std::string id;         // 16 bytes
  std::string master_id;  // the master key that wraps it
  std::string wrapped;    // Seal(master, DataKeyAd, key)
};
std::string EncodeWrappedDataKey(const WrappedDataKey& k);
Result<WrappedDataKey> DecodeWrappedDataKey(std::string_view bytes);

// What Verify reads: records in sequence order and the stored checkpoints. AuditReader is the
// real one; the fuzzer feeds an in-memory one.
class RecordSource {
 public:
  virtual ~RecordSource() = default;
  // Every record from `from_seq` on, in key order: (key's seq, raw value). Stops when fn → false.
  virtual Status ForEachRaw(uint64_t from_seq,
                            const std::function<bool(uint64_t seq, std::string_view raw)>& fn) const = 0;
  virtual Result<std::vector<Checkpoint>> Checkpoints() const = 0;
  // Key ids whose wrapped data key is in the store.
  virtual Result<std::set<std::string>> DataKeyIds() const = 0;
  // The highest seq the writer acknowledged as durable (its high-water mark; 0 = unknown).
  virtual uint64_t AcknowledgedSeq() const { return 0; }
  // Damage found when the store was opened ("" = none), e.g. a corrupted write-ahead log.
  virtual std::string Damage() const { return ""; }
};

class AuditReader : public RecordSource {
 public:
  static Result<std::unique_ptr<AuditReader>> OpenReadOnly(const std::string& dir);
  explicit AuditReader(rocksdb::DB* borrowed);  // over a database someone else owns
  ~AuditReader() override;
  // Points a borrowed reader at a reopened database (AuditLog after a failure).
  void Rebind(rocksdb::DB* db) { db_ = db; }
  AuditReader(const AuditReader&) = delete;
  AuditReader& operator=(const AuditReader&) = delete;

  Status ForEachRaw(uint64_t from_seq,
                    const std::function<bool(uint64_t seq, std::string_view raw)>& fn) const override;
  Result<std::optional<Record>> Get(uint64_t seq) const;
  Result<std::vector<Checkpoint>> Checkpoints() const override;
  Result<std::set<std::string>> DataKeyIds() const override;
  uint64_t AcknowledgedSeq() const override { return acknowledged_seq_; }
  std::string Damage() const override { return damage_; }
  Result<std::optional<WrappedDataKey>> DataKey(const std::string& key_id) const;
  // Key ids named by erasure records.
  Result<std::set<std::string>> ForgottenKeys() const;

 private:
  rocksdb::DB* db_;
  std::unique_ptr<rocksdb::DB> owned_;
  uint64_t acknowledged_seq_ = 0;  // OpenReadOnly: the store's high-water mark
  std::string damage_;             // OpenReadOnly: why only part of the store could be read
};

// What `verify` found. ok == problems.empty().
struct VerifyReport {
  uint64_t records = 0;
  uint64_t last_seq = 0;
  uint64_t checkpoints = 0;          // signed checkpoints checked (store + external file)
  uint64_t last_checkpoint_seq = 0;
  uint64_t purged_payloads = 0;      // removed payloads covered by a purge record
  uint64_t purge_records = 0;
  uint64_t erasures = 0;
  uint64_t first_bad_seq = 0;        // 0 = none
  std::set<std::string> replicas;    // a fleet's: the replica its signed checkpoints name
  std::vector<std::string> problems;
  bool ok() const { return problems.empty(); }
};

// Verifies the whole chain with the public key only: sequence without gaps, each record stored
// under its own sequence, each payload matching its hash (or removed under a purge record),
// each link to the previous record, every checkpoint (the store's and `external` ones, e.g.
// the shipped checkpoint file) signed and matching the chain, a store that ends before its
// latest checkpoint or its high-water mark, damage found at open, and every sealed record's data
// key present unless an erasure record destroyed it. A broken link is blamed on the record that
// is out of place: the later one, unless the chain after it (or a checkpoint) vouches for it. `progress` is called every 100000
// records.
VerifyReport Verify(const RecordSource& reader, std::string_view public_key,
                    const std::vector<Checkpoint>& external = {},
                    const std::function<void(uint64_t seq)>& progress = {});

// Opens payloads with the master key (data keys unwrapped once and cached).
class Decryptor {
 public:
  Decryptor(const AuditReader& reader, const MasterKey& master) : reader_(reader), master_(master) {}
  enum class State { kNone, kOk, kPurged, kErased, kNoDataKey, kFailed };
  struct Opened {
    State meta_state = State::kNone;
    Json meta;
    State content_state = State::kNone;
    Json content;
  };
  Opened Open(const Record& r);
  // The content-free metadata only; the content payload is not touched.
  Opened OpenMeta(const Record& r);
  // The raw data key of `key_id` (tests look for it in files after `forget`).
  Result<Secret> UnwrapDataKey(const std::string& key_id, std::string* data_key_id = nullptr);

 private:
  State OpenPayload(const Record& r, const Payload& p, bool content, Json& out);
  const AuditReader& reader_;
  const MasterKey& master_;
  struct CachedKey {
    std::string id;  // data key id
    Secret key;
  };
  std::map<std::string, std::optional<CachedKey>> keys_;  // key_id → data key (nullopt: none)
  std::optional<std::set<std::string>> forgotten_;
};
const char* StateName(Decryptor::State s);

}  // namespace warden::audit
