// Timeline: the last 24 hours of traffic in one-minute buckets, in memory, for the built-in
// dashboard (Prometheus keeps history for shops that run it; the usage ledger keeps spend per
// day across restarts). Each bucket holds request, error, retry and failover counts, a
// log-binned histogram of gateway overhead (quantiles within ~10%), tokens and cost by model
// alias and by provider, and redactions by entity type.
//
// Contract: Record() files a sample under the minute of `now_s`; a bucket is reused once its
// minute is 24 hours old. Series() sums `minutes` minutes ending at the minute of `now_s` into
// points of `step` minutes, oldest first; minutes with no traffic are zero points. Label values
// are the same bounded, config-derived ones as the metrics (see metrics.h). Memory is bounded by
// 1440 buckets × the configured aliases, providers and entity types. Thread-safe (one mutex;
// Record is a few map updates).
#pragma once

#include <array>
#include <cstdint>
#include <map>
#include <mutex>
#include <string>
#include <vector>

#include "metrics/request_sample.h"
#include "common/mutex.h"

namespace warden::metrics {

class Timeline {
 public:
  static constexpr int kMinutes = 24 * 60;
  static constexpr int kOverheadBins = 80;  // log bins of ×1.2 from 10 µs: 10 µs … ~20 s

  struct Usage {
    int64_t tokens = 0;
    int64_t cost = 0;  // pico-dollars (common/money.h)
  };
  struct Point {
    int64_t start_s = 0;  // the first second of the point
    // A refusal (policy, limits, budgets: GatewayMetrics::IsRefusalCode) counts under refusals
    // and its reason, not as a client or server error.
    int64_t requests = 0, client_errors = 0, server_errors = 0, refusals = 0, retries = 0, failovers = 0;
    std::map<std::string, int64_t> refusal_reasons;  // code → count
    double overhead_p50_ms = 0, overhead_p99_ms = 0;  // 0 when nothing went upstream
    std::map<std::string, Usage> by_model, by_provider;
    std::map<std::string, int64_t> redactions;
  };

  void Record(int64_t now_s, const RequestSample& s);
  std::vector<Point> Series(int64_t now_s, int minutes, int step) const;
  // The `minutes` minutes ending at the minute of `now_s` as one point (quantiles over all).
  Point Summary(int64_t now_s, int minutes) const;

  // The bin of a duration in seconds, and the representative value (geometric middle) of a bin.
  static int Bin(double seconds);
  static double BinValue(int bin);

 private:
  struct Bucket {
    int64_t minute = -1;  // unix minute held; -1 = empty
    Point counts;          // overhead quantiles unused here: the histogram below holds them
    std::array<uint32_t, kOverheadBins> overhead{};
    void Merge(const Bucket& other);
  };
  static double Quantile(const std::array<uint32_t, kOverheadBins>& bins, double q);
  // The minutes [first, last] (unix minutes; older than the ring's 24 hours count as empty).
  Point Sum(int64_t first, int64_t last, int64_t now_minute) const REQUIRES(mu_);

  mutable Mutex mu_;
  std::vector<Bucket> ring_ GUARDED_BY(mu_) = std::vector<Bucket>(kMinutes);  // index = minute % kMinutes
};

}  // namespace warden::metrics
