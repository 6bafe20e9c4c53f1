// The audit component alone: format, chain, checkpoints, group commit, crash markers, purge,
// forget, master key rotation, fail-closed writes, and the tamper matrix.
#include "audit/audit_log.h"
#include "audit/maintenance.h"

#include <gtest/gtest.h>
#include <rocksdb/db.h>

#include <condition_variable>
#include <filesystem>
#include <fstream>
#include <future>
#include <set>
#include <mutex>
#include <sstream>
#include <thread>

#include "audit/reader.h"
#include "common/util.h"
#include "support/failing_fs.h"
#include "support/harness.h"

namespace warden::audit {
namespace {

constexpr int64_t kDayMs = 86400000;


class AuditTest : public ::testing::Test {
 protected:
  void SetUp() override {
    InitCrypto();
    Open();
  }
  AuditOptions Options() {
    AuditOptions o;
    o.dir = dir_.path() + "/audit";
    o.master_key_file = dir_.path() + "/master.key";
    o.signing_key_file = dir_.path() + "/signing.key";
    o.checkpoint_file = dir_.path() + "/checkpoints.jsonl";
    o.checkpoint_every_records = every_;
    o.checkpoint_every_ms = 3600000;
    o.now_ms = [this] { return now_ms_; };
    o.env = env_;
    return o;
  }
  void Open() {
    auto log = AuditLog::Open(Options());
    ASSERT_TRUE(log.ok()) << log.error().message;
    log_ = std::move(*log);
  }
  void Close() { log_.reset(); }
  uint64_t Add(const std::string& key_id, const std::string& text, bool with_content = false) {
    Entry e;
    e.type = RecordType::kOutcome;
    e.key_id = key_id;
    e.meta = Json{{"request_id", text}, {"model", "m"}, {"status", 200}};
    if (with_content) e.content = Json{{"request", text}};
    auto seq = log_->Append(e, true);
    EXPECT_TRUE(seq.ok()) << seq.error().message;
    return seq.ok() ? *seq : 0;
  }
  std::string PublicKey() { return *LoadPublicKey(dir_.path() + "/signing.key.pub"); }
  VerifyReport VerifyNow(bool with_file = false) {
    auto reader = AuditReader::OpenReadOnly(dir_.path() + "/audit");
    EXPECT_TRUE(reader.ok());
    std::vector<Checkpoint> external;
    if (with_file) {
      std::ifstream in(dir_.path() + "/checkpoints.jsonl");
      for (std::string line; std::getline(in, line);) external.push_back(*ParseCheckpointLine(line));
    }
    return Verify(**reader, PublicKey(), external);
  }
  // Raw access to the closed store, as an attacker with the files has.
  template <typename F>
  void Tamper(F f) {
    Close();
    rocksdb::DB* db = nullptr;
    rocksdb::Options o;
    ASSERT_TRUE(rocksdb::DB::Open(o, dir_.path() + "/audit", &db).ok());
    f(*db);
    delete db;
  }
  std::string Raw(rocksdb::DB& db, uint64_t seq) {
    std::string v;
    EXPECT_TRUE(db.Get(rocksdb::ReadOptions(), RecordKey(seq), &v).ok());
    return v;
  }

  testing::TempDir dir_;
  uint64_t every_ = 1000000;  // checkpoints only where a test writes them (deterministic)
  int64_t now_ms_ = 20000 * kDayMs + 5000;
  std::shared_ptr<rocksdb::Env> env_;
  std::unique_ptr<AuditLog> log_;
};

TEST_F(AuditTest, RoundTripSealedChainedAndSigned) {
  for (int i = 0; i < 10; ++i) Add("key1", "req_" + std::to_string(i), true);
  auto c = log_->WriteCheckpoint();
  ASSERT_TRUE(c.ok());
  EXPECT_EQ(c->seq, 10u);
  Close();
  VerifyReport rep = VerifyNow(true);
  EXPECT_TRUE(rep.ok()) << rep.problems[0];
  EXPECT_EQ(rep.records, 10u);
  EXPECT_EQ(rep.last_checkpoint_seq, 10u);
  // Payloads are sealed: the plaintext is nowhere in the files, yet the master key opens them.
  EXPECT_TRUE(testing::FilesContaining(dir_.path() + "/audit", "req_7").empty());
  auto reader = AuditReader::OpenReadOnly(dir_.path() + "/audit");
  auto master = MasterKey::Load(dir_.path() + "/master.key");
  ASSERT_TRUE(master.ok());
  Decryptor d(**reader, *master);
  auto r = (*reader)->Get(8);
  ASSERT_TRUE(r.ok() && *r);
  auto opened = d.Open(**r);
  ASSERT_EQ(opened.meta_state, Decryptor::State::kOk);
  EXPECT_EQ(opened.meta["request_id"], "req_7");
  EXPECT_EQ(opened.content["request"], "req_7");
  // Another master key opens nothing.
  MasterKey other = MasterKey::FromBytes(Secret(RandomBytes(32)));
  Decryptor wrong(**reader, other);
  EXPECT_NE(wrong.Open(**r).meta_state, Decryptor::State::kOk);
}

TEST_F(AuditTest, HeaderIsBoundAsAssociatedData) {
  Add("key1", "a");
  Add("key1", "b");
  Close();
  auto reader = AuditReader::OpenReadOnly(dir_.path() + "/audit");
  auto master = MasterKey::Load(dir_.path() + "/master.key");
  Decryptor d(**reader, *master);
  Record r1 = **(*reader)->Get(1), r2 = **(*reader)->Get(2);
  r1.meta = r2.meta;  // record 2's sealed payload under record 1's header
  EXPECT_EQ(d.Open(r1).meta_state, Decryptor::State::kFailed);
}

TEST_F(AuditTest, TamperFlipByteIsDetectedAtThatSeq) {
  for (int i = 0; i < 8; ++i) Add("key1", "r" + std::to_string(i));
  Tamper([&](rocksdb::DB& db) {
    std::string v = Raw(db, 5);
    v[v.size() - 3] ^= 0x01;  // inside the sealed meta payload
    ASSERT_TRUE(db.Put(rocksdb::WriteOptions(), RecordKey(5), v).ok());
  });
  VerifyReport rep = VerifyNow();
  ASSERT_FALSE(rep.ok());
  EXPECT_EQ(rep.first_bad_seq, 5u);
}

TEST_F(AuditTest, TamperHeaderByteBreaksTheNextLink) {
  for (int i = 0; i < 8; ++i) Add("key1", "r" + std::to_string(i));
  Tamper([&](rocksdb::DB& db) {
    std::string v = Raw(db, 3);
    v[12] ^= 0x40;  // inside the time field of the header
    ASSERT_TRUE(db.Put(rocksdb::WriteOptions(), RecordKey(3), v).ok());
  });
  VerifyReport rep = VerifyNow();
  ASSERT_FALSE(rep.ok());
  EXPECT_EQ(rep.first_bad_seq, 3u);
}

TEST_F(AuditTest, TamperDeleteIsDetectedAsAGap) {
  for (int i = 0; i < 8; ++i) Add("key1", "r" + std::to_string(i));
  Tamper([&](rocksdb::DB& db) { ASSERT_TRUE(db.Delete(rocksdb::WriteOptions(), RecordKey(4)).ok()); });
  VerifyReport rep = VerifyNow();
  ASSERT_FALSE(rep.ok());
  EXPECT_EQ(rep.first_bad_seq, 4u);
  EXPECT_NE(rep.problems[0].find("missing"), std::string::npos) << rep.problems[0];
}

TEST_F(AuditTest, TamperSwapIsDetected) {
  for (int i = 0; i < 8; ++i) Add("key1", "r" + std::to_string(i));
  Tamper([&](rocksdb::DB& db) {
    std::string a = Raw(db, 2), b = Raw(db, 6);
    ASSERT_TRUE(db.Put(rocksdb::WriteOptions(), RecordKey(2), b).ok());
    ASSERT_TRUE(db.Put(rocksdb::WriteOptions(), RecordKey(6), a).ok());
  });
  VerifyReport rep = VerifyNow();
  ASSERT_FALSE(rep.ok());
  EXPECT_EQ(rep.first_bad_seq, 2u);  // the record out of place, not record 1 before it
  bool names_swap = false;
  for (const auto& p : rep.problems) names_swap = names_swap || p.find("swapped") != std::string::npos;
  EXPECT_TRUE(names_swap);
}

TEST_F(AuditTest, TamperTruncatedTailIsDetectedByCheckpoints) {
  for (int i = 0; i < 8; ++i) {
    Add("key1", "r" + std::to_string(i));
    if (i == 3) {
      ASSERT_TRUE(log_->WriteCheckpoint().ok());
    }
  }
  ASSERT_TRUE(log_->WriteCheckpoint().ok());
  Tamper([&](rocksdb::DB& db) {
    for (uint64_t s = 6; s <= 8; ++s) ASSERT_TRUE(db.Delete(rocksdb::WriteOptions(), RecordKey(s)).ok());
  });
  VerifyReport rep = VerifyNow();
  ASSERT_FALSE(rep.ok());
  EXPECT_EQ(rep.first_bad_seq, 6u);
  // An attacker who also deletes the checkpoints in the store is caught by the shipped file.
  Tamper([&](rocksdb::DB& db) {
    for (uint64_t s = 6; s <= 8; ++s) ASSERT_TRUE(db.Delete(rocksdb::WriteOptions(), CheckpointKey(s)).ok());
  });
  // The store alone still knows: its high-water mark (outside RocksDB) says seq 8 was acknowledged.
  VerifyReport store_only = VerifyNow(false);
  ASSERT_FALSE(store_only.ok());
  EXPECT_EQ(store_only.first_bad_seq, 6u);
  EXPECT_NE(store_only.problems[0].find("high-water mark"), std::string::npos) << store_only.problems[0];
  // One who also removes the mark leaves a store that looks consistent on its own…
  std::filesystem::remove(dir_.path() + "/audit/" + HighWaterMark::kFileName);
  VerifyReport without_mark = VerifyNow(false);
  EXPECT_TRUE(without_mark.ok()) << without_mark.problems[0];
  VerifyReport with_file = VerifyNow(true);
  ASSERT_FALSE(with_file.ok());  // …but not against the checkpoint file
  EXPECT_EQ(with_file.first_bad_seq, 6u);
}

// Issue 16: one flipped byte in the write-ahead log made RocksDB drop records 21..41 on open;
// verify called the rest intact, and the gateway reused seq 21.. and signed over them.
TEST_F(AuditTest, ADamagedWriteAheadLogIsRefusedNeverTruncated) {
  for (int i = 0; i < 41; ++i) Add("key1", "r" + std::to_string(i));
  Close();
  std::string wal;
  for (const auto& f : std::filesystem::directory_iterator(dir_.path() + "/audit"))
    if (f.path().extension() == ".log") wal = f.path();
  ASSERT_FALSE(wal.empty());
  std::string bytes = testing::ReadFile(wal);
  ASSERT_GT(bytes.size(), 1000u);
  bytes[bytes.size() / 2] ^= 0x5a;
  std::ofstream(wal, std::ios::binary | std::ios::trunc) << bytes;

  auto reopened = AuditLog::Open(Options());
  ASSERT_FALSE(reopened.ok());
  EXPECT_EQ(reopened.error().code, "audit_corrupt");
  // Nothing was appended over the damage: the log file is as it was.
  EXPECT_EQ(testing::ReadFile(wal), bytes);
  // The auditor sees what is readable and is told it is not everything.
  VerifyReport rep = VerifyNow();
  ASSERT_FALSE(rep.ok());
  EXPECT_LT(rep.last_seq, 41u);
  EXPECT_EQ(rep.first_bad_seq, rep.last_seq + 1);
  bool says_damaged = false, says_acknowledged = false;
  for (const auto& p : rep.problems) {
    says_damaged = says_damaged || p.find("write-ahead log is damaged") != std::string::npos;
    says_acknowledged = says_acknowledged || p.find("acknowledged seq 41") != std::string::npos;
  }
  EXPECT_TRUE(says_damaged);
  EXPECT_TRUE(says_acknowledged);
}

// A tail lost cleanly (a truncated log, an older copy of the store) opens in RocksDB's eyes; the
// high-water mark and the checkpoint file refuse it, and nothing reuses a sequence number.
TEST_F(AuditTest, AStoreEndingBeforeWhatWasAcknowledgedIsRefusedAtOpen) {
  for (int i = 0; i < 5; ++i) Add("key1", "r" + std::to_string(i));
  ASSERT_TRUE(log_->WriteCheckpoint().ok());
  for (int i = 5; i < 9; ++i) Add("key1", "r" + std::to_string(i));
  Tamper([&](rocksdb::DB& db) {
    for (uint64_t s = 7; s <= 9; ++s) ASSERT_TRUE(db.Delete(rocksdb::WriteOptions(), RecordKey(s)).ok());
  });
  auto refused = AuditLog::Open(Options());
  ASSERT_FALSE(refused.ok());
  EXPECT_EQ(refused.error().code, "audit_records_missing");
  EXPECT_NE(refused.error().message.find("ends at seq 6, but seq 9 was acknowledged"), std::string::npos)
      << refused.error().message;
  // Without the mark, the checkpoint file still refuses a store that lost signed records.
  Tamper([&](rocksdb::DB& db) {
    for (uint64_t s = 4; s <= 6; ++s) ASSERT_TRUE(db.Delete(rocksdb::WriteOptions(), RecordKey(s)).ok());
    for (uint64_t s : {5, 9})  // the one written above and the one written at close
      ASSERT_TRUE(db.Delete(rocksdb::WriteOptions(), CheckpointKey(s)).ok());
  });
  std::filesystem::remove(dir_.path() + "/audit/" + HighWaterMark::kFileName);
  auto refused_by_file = AuditLog::Open(Options());
  ASSERT_FALSE(refused_by_file.ok());
  EXPECT_EQ(refused_by_file.error().code, "audit_records_missing");
  EXPECT_NE(refused_by_file.error().message.find("checkpoint file"), std::string::npos) << refused_by_file.error().message;
  EXPECT_EQ(VerifyNow().last_seq, 3u);  // and nothing was appended
}

// Issue 16: for an append or a copy, verify's summary named the record before the bad one.
TEST_F(AuditTest, VerifyBlamesTheRecordThatIsOutOfPlace) {
  for (int i = 0; i < 8; ++i) Add("key1", "r" + std::to_string(i));
  Tamper([&](rocksdb::DB& db) {
    // A copy of record 3 stored as record 9, re-numbered so it does not give itself away.
    auto r = Decode(Raw(db, 3));
    ASSERT_TRUE(r.ok());
    r->header.seq = 9;
    ASSERT_TRUE(db.Put(rocksdb::WriteOptions(), RecordKey(9), Encode(*r)).ok());
  });
  std::filesystem::remove(dir_.path() + "/audit/" + HighWaterMark::kFileName);
  VerifyReport appended = VerifyNow();
  ASSERT_FALSE(appended.ok());
  EXPECT_EQ(appended.first_bad_seq, 9u) << appended.problems[0];

  Tamper([&](rocksdb::DB& db) {
    ASSERT_TRUE(db.Delete(rocksdb::WriteOptions(), RecordKey(9)).ok());
    ASSERT_TRUE(db.Put(rocksdb::WriteOptions(), RecordKey(6), Raw(db, 5)).ok());  // copy over 6
  });
  VerifyReport copied = VerifyNow();
  ASSERT_FALSE(copied.ok());
  EXPECT_EQ(copied.first_bad_seq, 6u) << copied.problems[0];
}

TEST_F(AuditTest, AWrappedDataKeyDeletedWithoutAnErasureRecordIsReported) {
  Add("key1", "a");
  Add("key2", "b");
  Add("key1", "c");
  ASSERT_TRUE(AuditMaintenance(*log_).Forget("key2", "test").ok());  // erased properly: not a problem
  ASSERT_TRUE(VerifyNow().ok());
  Tamper([&](rocksdb::DB& db) { ASSERT_TRUE(db.Delete(rocksdb::WriteOptions(), DataKeyKey("key1")).ok()); });
  VerifyReport rep = VerifyNow();
  ASSERT_FALSE(rep.ok());
  EXPECT_EQ(rep.first_bad_seq, 1u);
  EXPECT_NE(rep.problems[0].find("deleted without an erasure record"), std::string::npos) << rep.problems[0];
}

TEST_F(AuditTest, TamperRechainingWithoutTheSigningKeyIsDetected) {
  for (int i = 0; i < 8; ++i) {
    Add("key1", "r" + std::to_string(i));
    if (i == 3) {
      ASSERT_TRUE(log_->WriteCheckpoint().ok());
    }
  }
  ASSERT_TRUE(log_->WriteCheckpoint().ok());
  // The attacker rewrites record 6's payload and recomputes every hash after it.
  Tamper([&](rocksdb::DB& db) {
    std::string prev;
    for (uint64_t s = 1; s <= 8; ++s) {
      Record r = *Decode(Raw(db, s));
      if (s == 6) {
        r.meta.bytes = "{\"request_id\":\"forged\"}";
        r.header.data_key_id.clear();
      }
      if (s > 6) r.header.prev_hash = prev;
      r.meta.hash = PayloadHash(r.meta.bytes);
      ASSERT_TRUE(db.Put(rocksdb::WriteOptions(), RecordKey(s), Encode(r)).ok());
      prev = ChainHash(r);
    }
  });
  VerifyReport rep = VerifyNow();
  ASSERT_FALSE(rep.ok());
  EXPECT_EQ(rep.first_bad_seq, 8u);  // the checkpoint covering it
  EXPECT_NE(rep.problems[0].find("after seq 4 and up to 8"), std::string::npos) << rep.problems[0];
}

TEST_F(AuditTest, ForgedCheckpointSignatureIsDetected) {
  for (int i = 0; i < 4; ++i) Add("key1", "r" + std::to_string(i));
  ASSERT_TRUE(log_->WriteCheckpoint().ok());
  Tamper([&](rocksdb::DB& db) {
    std::string v;
    ASSERT_TRUE(db.Get(rocksdb::ReadOptions(), CheckpointKey(4), &v).ok());
    v[v.size() - 1] ^= 1;
    ASSERT_TRUE(db.Put(rocksdb::WriteOptions(), CheckpointKey(4), v).ok());
  });
  VerifyReport rep = VerifyNow();
  ASSERT_FALSE(rep.ok());
  EXPECT_EQ(rep.first_bad_seq, 4u);
}

TEST_F(AuditTest, GroupCommitFrom32ThreadsKeepsOneGaplessChain) {
  std::vector<std::thread> threads;
  for (int t = 0; t < 32; ++t)
    threads.emplace_back([&, t] {
      for (int i = 0; i < 50; ++i) Add("key" + std::to_string(t % 4), "t" + std::to_string(t));
    });
  for (auto& th : threads) th.join();
  EXPECT_EQ(log_->last_seq(), 1600u);
  Close();
  VerifyReport rep = VerifyNow(true);
  EXPECT_TRUE(rep.ok()) << rep.problems[0];
  EXPECT_EQ(rep.records, 1600u);
  EXPECT_EQ(rep.last_checkpoint_seq, 1600u);  // the close writes a final checkpoint
}

TEST_F(AuditTest, DanglingIntentsAreClosedAsInterruptedOnOpen) {
  Entry intent;
  intent.type = RecordType::kIntent;
  intent.key_id = "key1";
  intent.meta = Json{{"request_id", "req_x"}};
  intent.request_id = "req_x";
  intent.opens = true;
  auto seq = log_->Append(intent, true);
  ASSERT_TRUE(seq.ok());
  Entry other = intent;
  other.request_id = "req_y";
  auto closed = log_->Append(other, true);
  Entry outcome;
  outcome.type = RecordType::kOutcome;
  outcome.key_id = "key1";
  outcome.meta = Json{{"request_id", "req_y"}, {"outcome", "completed"}};
  outcome.closes = *closed;
  ASSERT_TRUE(log_->Append(outcome, true).ok());
  Close();
  Open();
  EXPECT_EQ(log_->interrupted_at_open(), 1u);
  auto master = MasterKey::Load(dir_.path() + "/master.key");
  Decryptor d(log_->reader(), *master);
  auto last = log_->reader().Get(log_->last_seq());
  auto opened = d.Open(**last);
  EXPECT_EQ(opened.meta["outcome"], "interrupted");
  EXPECT_EQ(opened.meta["request_id"], "req_x");
  EXPECT_EQ(opened.meta["intent_seq"], *seq);
  Close();
  Open();  // closed once, not again
  EXPECT_EQ(log_->interrupted_at_open(), 0u);
}

TEST_F(AuditTest, PurgeRemovesExpiredPayloadsAndVerifyExplainsIt) {
  Entry e;
  e.type = RecordType::kOutcome;
  e.key_id = "key1";
  e.meta = Json{{"request_id", "old"}};
  e.content = Json{{"request", "CANARY-OLD-CONTENT"}};
  e.content_days = 0;
  e.meta_days = 1;
  ASSERT_TRUE(log_->Append(e, true).ok());
  now_ms_ += 3 * kDayMs;
  Add("key1", "new", true);
  auto rep = AuditMaintenance(*log_).Purge(DayOf(now_ms_), "test");
  ASSERT_TRUE(rep.ok()) << rep.error().message;
  EXPECT_EQ(rep->content_removed, 1u);
  EXPECT_EQ(rep->meta_removed, 1u);
  Close();
  VerifyReport v = VerifyNow(true);
  EXPECT_TRUE(v.ok()) << v.problems[0];
  EXPECT_EQ(v.purged_payloads, 2u);
  auto reader = AuditReader::OpenReadOnly(dir_.path() + "/audit");
  auto master = MasterKey::Load(dir_.path() + "/master.key");
  Decryptor d(**reader, *master);
  EXPECT_EQ(d.Open(**(*reader)->Get(1)).content_state, Decryptor::State::kPurged);
  EXPECT_EQ(d.Open(**(*reader)->Get(2)).content["request"], "new");  // not expired
  reader->reset();
  // Removing a payload by hand (no purge record covers it) fails verification.
  Tamper([&](rocksdb::DB& db) {
    Record r = *Decode(Raw(db, 2));
    r.content.bytes.clear();
    ASSERT_TRUE(db.Put(rocksdb::WriteOptions(), RecordKey(2), Encode(r)).ok());
  });
  VerifyReport bad = VerifyNow();
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(bad.first_bad_seq, 2u);
}

TEST_F(AuditTest, ForgetShredsTheDataKeyButTheChainStillVerifies) {
  Add("victim", "CANARY-VICTIM", true);
  Add("other", "kept", true);
  auto master = MasterKey::Load(dir_.path() + "/master.key");
  std::string raw_key, wrapped;
  {
    Decryptor d(log_->reader(), *master);
    auto k = d.UnwrapDataKey("victim");
    ASSERT_TRUE(k.ok());
    raw_key = k->Reveal();
    wrapped = (*log_->reader().DataKey("victim"))->wrapped;
  }
  ASSERT_TRUE(AuditMaintenance(*log_).Forget("victim", "test").ok());
  Close();
  EXPECT_TRUE(testing::FilesContaining(dir_.path() + "/audit", raw_key).empty());
  EXPECT_TRUE(testing::FilesContaining(dir_.path() + "/audit", wrapped).empty());
  EXPECT_TRUE(testing::FilesContaining(dir_.path(), "CANARY-VICTIM").empty());
  VerifyReport v = VerifyNow(true);
  EXPECT_TRUE(v.ok()) << v.problems[0];
  EXPECT_EQ(v.erasures, 1u);
  auto reader = AuditReader::OpenReadOnly(dir_.path() + "/audit");
  Decryptor d(**reader, *master);
  EXPECT_EQ(d.Open(**(*reader)->Get(1)).meta_state, Decryptor::State::kErased);
  EXPECT_EQ(d.Open(**(*reader)->Get(2)).meta["request_id"], "kept");
}

TEST_F(AuditTest, MasterKeyRotationRewrapsDataKeys) {
  Add("key1", "before");
  MasterKey next = MasterKey::FromBytes(Secret(RandomBytes(32)));
  MasterKey next_copy = MasterKey::FromBytes(next.key);
  auto old_master = MasterKey::Load(dir_.path() + "/master.key");
  ASSERT_TRUE(AuditMaintenance(*log_).RotateMasterKey(std::move(next), "test").ok());
  Add("key1", "after");
  Close();
  auto reader = AuditReader::OpenReadOnly(dir_.path() + "/audit");
  Decryptor with_new(**reader, next_copy);
  EXPECT_EQ(with_new.Open(**(*reader)->Get(1)).meta["request_id"], "before");
  EXPECT_EQ(with_new.Open(**(*reader)->Get(3)).meta["request_id"], "after");
  Decryptor with_old(**reader, *old_master);
  EXPECT_NE(with_old.Open(**(*reader)->Get(1)).meta_state, Decryptor::State::kOk);
  EXPECT_TRUE(VerifyNow().ok());
}

TEST_F(AuditTest, WriteFailureRefusesUntilTheStoreRecovers) {
  Close();
  auto [fs, env] = testing::FailingFileSystem::Make();
  env_ = env;
  Open();
  Add("key1", "ok-1");
  fs->failing = true;
  Entry e;
  e.key_id = "key1";
  e.type = RecordType::kOutcome;
  e.meta = Json{{"request_id", "lost"}};
  auto failed = log_->Append(e, true);
  ASSERT_FALSE(failed.ok());
  EXPECT_EQ(failed.error().code, "audit_unavailable");
  EXPECT_FALSE(log_->Healthy());
  fs->failing = false;
  now_ms_ += 2000;  // past the one-second recovery back-off
  Status recovered = log_->Recover();
  ASSERT_TRUE(recovered.ok()) << recovered.error().message;
  EXPECT_TRUE(log_->Healthy());
  Add("key1", "ok-2");
  Close();
  VerifyReport v = VerifyNow();
  EXPECT_TRUE(v.ok()) << v.problems[0];
}

TEST_F(AuditTest, DecodeRejectsTruncationsAndGarbage) {
  Add("key1", "x", true);
  std::string raw;
  (void)log_->reader().ForEachRaw(1, [&](uint64_t, std::string_view v) {
    raw = std::string(v);
    return false;
  });
  ASSERT_TRUE(Decode(raw).ok());
  for (size_t n = 0; n < raw.size(); ++n) EXPECT_FALSE(Decode(raw.substr(0, n)).ok()) << n;
  EXPECT_FALSE(Decode(raw + "x").ok());
}

TEST_F(AuditTest, AppendAsyncAnswersEveryEntryFromOneGroupCommit) {
  // 400 appends whose durability is awaited by callbacks, not by threads: every callback is
  // called once, with its own seq, only after its record is synced, and far fewer fsyncs than
  // records are needed. Entries asking only to be written share the same appender.
  constexpr int kRecords = 400;
  std::mutex mu;
  std::condition_variable cv;
  int answered = 0, failed = 0;
  std::set<uint64_t> seqs;
  uint64_t max_synced_seq = 0;
  const uint64_t syncs_before = log_->syncs();
  for (int i = 0; i < kRecords; ++i) {
    Entry e;
    e.type = RecordType::kOutcome;
    e.key_id = "key1";
    e.meta = Json{{"request_id", "async-" + std::to_string(i)}};
    const auto durability = i % 2 ? AuditLog::Durability::kSynced : AuditLog::Durability::kWritten;
    log_->AppendAsync(std::move(e), durability, [&, durability](Result<uint64_t> seq) {
      std::lock_guard lock(mu);
      ++answered;
      if (!seq) {
        ++failed;
      } else {
        seqs.insert(*seq);
        if (durability == AuditLog::Durability::kSynced) max_synced_seq = std::max(max_synced_seq, *seq);
      }
      cv.notify_all();
    });
  }
  std::unique_lock lock(mu);
  ASSERT_TRUE(cv.wait_for(lock, std::chrono::seconds(20), [&] { return answered == kRecords; }));
  EXPECT_EQ(failed, 0);
  EXPECT_EQ(seqs.size(), static_cast<size_t>(kRecords));  // one record each
  EXPECT_EQ(*seqs.rbegin() - *seqs.begin() + 1, static_cast<uint64_t>(kRecords));
  EXPECT_LT(log_->syncs() - syncs_before, static_cast<uint64_t>(kRecords / 4));
  // Everything reported synced is on disk: a blocking Sync of it has nothing left to wait for.
  const uint64_t syncs_now = log_->syncs();
  EXPECT_TRUE(log_->Sync(max_synced_seq).ok());
  EXPECT_EQ(log_->syncs(), syncs_now);
  lock.unlock();
  Close();
  VerifyReport v = VerifyNow();
  EXPECT_TRUE(v.ok()) << v.problems[0];
}

TEST_F(AuditTest, AppendAsyncReportsARecordLostToAFailureAsAnError) {
  Close();
  auto [fs, env] = testing::FailingFileSystem::Make();
  env_ = env;
  Open();
  Entry e;
  e.type = RecordType::kOutcome;
  e.key_id = "key1";
  e.meta = Json{{"request_id", "doomed"}};
  fs->failing = true;  // the write and fsync fail: the record must never be reported durable
  std::promise<Result<uint64_t>> result;
  log_->AppendAsync(e, AuditLog::Durability::kSynced, [&](Result<uint64_t> s) { result.set_value(std::move(s)); });
  auto future = result.get_future();
  ASSERT_EQ(future.wait_for(std::chrono::seconds(20)), std::future_status::ready);
  const Result<uint64_t> s = future.get();
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.error().code, "audit_unavailable");
  // While the store is failed, the next entry is refused too, and says so.
  std::promise<Result<uint64_t>> again;
  log_->AppendAsync(e, AuditLog::Durability::kWritten, [&](Result<uint64_t> st) { again.set_value(std::move(st)); });
  const Result<uint64_t> second = again.get_future().get();
  ASSERT_FALSE(second.ok());
  EXPECT_EQ(second.error().code, "audit_unavailable");
  fs->failing = false;
}

// A fleet's checkpoint names its replica under the signature: stored and shipped forms keep
// the name, a single node's (version 1) bytes are unchanged, and the name cannot be altered.
TEST(CheckpointTest, AReplicasCheckpointSignsItsName) {
  testing::TempDir dir;
  bool created = false;
  auto key = SigningKey::LoadOrCreate(dir.path() + "/signing.key", &created);
  ASSERT_TRUE(key.ok());
  Checkpoint single{42, 1700000000000, std::string(kHashBytes, '\x07'), ""};
  Checkpoint named = single;
  named.replica = "warden-2";
  EXPECT_EQ(single.SignedBytes().rfind("warden-audit-checkpoint-v1", 0), 0u);
  EXPECT_EQ(named.SignedBytes().rfind("warden-audit-checkpoint-v2", 0), 0u);
  EXPECT_NE(named.SignedBytes().find("warden-2"), std::string::npos);
  single.signature = key->Sign(single.SignedBytes());
  named.signature = key->Sign(named.SignedBytes());
  EXPECT_EQ(EncodeCheckpoint(single).size(), 8u + 8u + kHashBytes + 64u);  // version 1, as before
  for (const Checkpoint& c : {single, named}) {
    auto stored = DecodeCheckpoint(EncodeCheckpoint(c));
    ASSERT_TRUE(stored.ok());
    EXPECT_EQ(stored->replica, c.replica);
    EXPECT_TRUE(VerifySignature(key->public_key, stored->SignedBytes(), stored->signature));
    auto shipped = ParseCheckpointLine(CheckpointLine(c));
    ASSERT_TRUE(shipped.ok());
    EXPECT_EQ(shipped->replica, c.replica);
    EXPECT_TRUE(VerifySignature(key->public_key, shipped->SignedBytes(), shipped->signature));
  }
  Checkpoint renamed = named;
  renamed.replica = "warden-3";
  EXPECT_FALSE(VerifySignature(key->public_key, renamed.SignedBytes(), renamed.signature));
  Checkpoint stripped = named;
  stripped.replica.clear();
  EXPECT_FALSE(VerifySignature(key->public_key, stripped.SignedBytes(), stripped.signature));
  std::string truncated = EncodeCheckpoint(named);
  truncated.pop_back();
  EXPECT_FALSE(DecodeCheckpoint(truncated).ok());
}

}  // namespace
}  // namespace warden::audit
