// Audit append throughput: sealed, chained records from 32 threads, each waiting until its
// record is durable (group commit), against two baselines measured in the same run:
//   no-sync   the same appends without waiting for fsync (the ceiling: sealing + chaining + WAL)
//   per-record one fsync per record (a RocksDB synced write per record under the chain mutex),
//              what the log would do without group commit.
//
//   build/bench/audit_bench [seconds per run, default 3] [threads, default 32]
#include <rocksdb/db.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "audit/audit_log.h"
#include "common/util.h"

namespace {

using warden::Json;
namespace audit = warden::audit;

// A realistic outcome record: ~500 bytes of JSON.
audit::Entry SampleEntry(int thread) {
  audit::Entry e;
  e.type = audit::RecordType::kOutcome;
  e.key_id = "3f9a1c2b7d4e" + std::to_string(thread % 8);
  e.meta = Json{{"request_id", "req_4f1d2a9c8b7e6d5c4b3a2918"}, {"endpoint", "chat.completions"},
                {"policy", "hipaa"}, {"policy_hash", std::string(64, 'a')}, {"model", "gpt-4o-mini"},
                {"intent_seq", 123456}, {"outcome", "completed"}, {"status", 200},
                {"attempts", Json::array({Json{{"deployment", "azure-eu/gpt-4o-mini"}, {"region", "eu-west"},
                                               {"status", 200}, {"latency_ms", 412.5}}})},
                {"deployment", "azure-eu/gpt-4o-mini"}, {"region", "eu-west"}, {"prompt_tokens", 812},
                {"completion_tokens", 96}, {"usage_estimated", false}, {"cost_usd", 0.00018},
                {"upstream_ms", 412.5}, {"overhead_ms", 0.31}, {"latency_ms", 412.8},
                {"bytes_in", 2048}, {"bytes_out", 1024}};
  return e;
}

template <typename F>
double Run(int threads, double seconds, F append) {
  std::atomic<bool> stop{false};
  std::atomic<uint64_t> done{0};
  std::vector<std::thread> ts;
  auto t0 = std::chrono::steady_clock::now();
  for (int t = 0; t < threads; ++t)
    ts.emplace_back([&, t] {
      audit::Entry e = SampleEntry(t);
      uint64_t n = 0;
      while (!stop) {
        if (!append(e)) std::abort();
        ++n;
      }
      done += n;
    });
  std::this_thread::sleep_for(std::chrono::duration<double>(seconds));
  stop = true;
  for (auto& th : ts) th.join();
  double elapsed = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  return static_cast<double>(done) / elapsed;
}

std::unique_ptr<audit::AuditLog> OpenLog(const std::string& dir) {
  audit::AuditOptions o;
  o.dir = dir + "/audit";
  o.master_key_file = dir + "/master.key";
  o.signing_key_file = dir + "/signing.key";
  o.checkpoint_file = dir + "/checkpoints.jsonl";
  auto log = audit::AuditLog::Open(o);
  if (!log) {
    std::fprintf(stderr, "%s\n", log.error().message.c_str());
    std::exit(1);
  }
  return std::move(*log);
}

}  // namespace

int main(int argc, char** argv) {
  warden::InitCrypto();
  const double seconds = argc > 1 ? std::atof(argv[1]) : 3.0;
  const int threads = argc > 2 ? std::atoi(argv[2]) : 32;
  const std::string base = std::filesystem::temp_directory_path() / ("warden-audit-bench-" + std::to_string(getpid()));
  std::filesystem::remove_all(base);

  auto log = OpenLog(base + "/group");
  double group = Run(threads, seconds, [&](const audit::Entry& e) { return log->Append(e, true).ok(); });
  const double per_sync = static_cast<double>(log->last_seq()) / static_cast<double>(log->syncs());
  double nosync = Run(threads, seconds, [&](const audit::Entry& e) { return log->Append(e, false).ok(); });
  // One request's worth at light load, one thread: an intent (flushed, not synced) then its
  // outcome (synced) — the latency `audit: required` adds to an otherwise idle gateway.
  double pair_us = 0, intent_us = 0;
  {
    audit::Entry intent = SampleEntry(0), outcome = SampleEntry(0);
    intent.type = audit::RecordType::kIntent;
    intent.opens = true;
    const int n = 2000;
    auto t0 = std::chrono::steady_clock::now();
    std::chrono::duration<double, std::micro> in_intent{0};
    for (int i = 0; i < n; ++i) {
      auto a = std::chrono::steady_clock::now();
      auto seq = log->Append(intent, false);
      in_intent += std::chrono::steady_clock::now() - a;
      outcome.closes = *seq;
      if (!log->Append(outcome, true).ok()) std::abort();
    }
    pair_us = std::chrono::duration<double, std::micro>(std::chrono::steady_clock::now() - t0).count() / n;
    intent_us = in_intent.count() / n;
  }
  const uint64_t records = log->last_seq();
  log.reset();

  // Per-record fsync: the same sealed, chained append followed by its own fsync, serialised.
  auto naive = OpenLog(base + "/naive");
  std::mutex one_at_a_time;
  double per_record = Run(threads, seconds, [&](const audit::Entry& e) {
    std::lock_guard<std::mutex> lk(one_at_a_time);
    auto seq = naive->Append(e, false);
    return seq.ok() && naive->Sync(*seq).ok();
  });
  naive.reset();
  std::filesystem::remove_all(base);

  std::printf("audit appends, %d threads, %.0f s each (sealed XChaCha20-Poly1305, chained, ~500-byte records)\n",
              threads, seconds);
  std::printf("  group commit (durable)  %9.0f records/s   (target >= 30000), %.1f records per fsync\n",
              group, per_sync);
  std::printf("  no sync (ceiling)       %9.0f records/s   group/no-sync = %.2f\n", nosync, group / nosync);
  std::printf("  fsync per record        %9.0f records/s   group/per-record = %.1fx\n", per_record,
              group / per_record);
  std::printf("  one request at light load (intent + synced outcome, 1 thread): %.0f us (intent %.0f us)\n",
              pair_us, intent_us);
  std::printf("  (%llu records written in the group + no-sync runs)\n", static_cast<unsigned long long>(records));
  return 0;
}
