// Checkpointer: signs the audit chain's head (a Checkpoint: seq, chain hash, time, Ed25519
// signature) so that truncating or rewriting the chain shows.
//
// Contract: one checkpoint at a time. Write() signs the head unless it is already signed: it
// first has the log fsync every record up to the head, then stores the checkpoint durably
// (ChainLog::store) and appends it as one JSON line to the checkpoint file (fsynced; "-" =
// stdout, "" = none). Its own thread writes one every `every_ms` when anything is new, and soon
// after Appended() reports `every_records` records since the last. A failed checkpoint is
// retried at the next round (the log's health reports the failure). Thread-safe.
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <string>
#include <thread>
#include <utility>

#include "audit/crypto.h"
#include "audit/record.h"
#include "common/mutex.h"
#include "common/result.h"

namespace warden::audit {

class Checkpointer {
 public:
  // What the checkpointer needs from the log whose head it signs.
  struct ChainLog {
    std::function<std::pair<uint64_t, std::string>()> head;  // last seq and its chain hash
    std::function<Status(uint64_t seq)> sync;                // every record up to seq fsynced
    std::function<Status(const Checkpoint&)> store;          // the checkpoint, durably
    std::function<int64_t()> now_ms;                         // Unix ms
  };
  struct Options {
    std::string file;
    uint64_t every_records = 1000;
    int every_ms = 60000;
    std::string replica = {};  // a fleet's: named in every checkpoint (signed)
  };
  Checkpointer(const SigningKey& key, Options options, ChainLog log);
  ~Checkpointer();  // Stop()
  Checkpointer(const Checkpointer&) = delete;
  Checkpointer& operator=(const Checkpointer&) = delete;

  void Start();  // the periodic thread
  void Stop();   // joins it (no final checkpoint: the owner decides)
  Result<Checkpoint> Write();
  // The record `seq` was appended: asks the thread for a checkpoint once `every_records` are new.
  void Appended(uint64_t seq);
  // The last signed seq (restored from the store at open).
  uint64_t last_signed() const { return last_signed_.load(); }
  void Restore(uint64_t last_signed) { last_signed_ = last_signed; }

 private:
  void Loop();

  const SigningKey& key_;
  const Options options_;
  const ChainLog log_;
  std::atomic<uint64_t> last_signed_{0};
  Mutex write_mu_;  // one checkpoint at a time
  Mutex mu_;
  std::condition_variable cv_;
  bool stop_ GUARDED_BY(mu_) = false;
  bool due_ GUARDED_BY(mu_) = false;
  std::thread thread_;
};

// The highest seq signed in a checkpoint file (0 if none or no file), read from its last 64 KiB,
// where its last lines are; a torn last line is skipped.
uint64_t LastSignedInFile(const std::string& path);

}  // namespace warden::audit
