// Metrics: counters, gauges and histograms with a small in-house Prometheus text-format writer
// (exposition format 0.0.4). In-house because the needs are small (no push, no protobuf) and
// prometheus-cpp is not packaged for Debian 12; the format is checked by a strict parser in the
// tests.
//
// Contract: families are created once, at start-up, with fixed label names; every label value
// must come from configuration (aliases, deployment and provider names, entity types) or from a
// fixed set in the code (endpoints, status classes, error codes) — never from a client request,
// so cardinality stays bounded and no secret or prompt can appear in a label. Updates are
// lock-free on a cell once it exists (atomics); finding or creating a cell takes a shared lock
// (exclusive only the first time a label combination is seen). Render() is consistent per cell,
// not across cells. Thread-safe; families live as long as the registry.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <shared_mutex>
#include <string>
#include <vector>

#include "common/mutex.h"

namespace warden::metrics {

using Labels = std::vector<std::string>;  // values, in the family's label-name order

class Counter {
 public:
  void Add(double v = 1);
  double value() const { return value_.load(std::memory_order_relaxed); }
  // Fixed-point counters (Registry::AddFixed) count non-negative integer units, exactly
  // (saturating at INT64_MAX: $9.2 million of pico-dollars per series and process).
  void AddUnits(int64_t units);
  int64_t units() const { return units_.load(std::memory_order_relaxed); }

 private:
  std::atomic<double> value_{0};
  std::atomic<int64_t> units_{0};
};

class Histogram {
 public:
  explicit Histogram(const std::vector<double>* bounds);
  void Observe(double v);
  const std::vector<double>& bounds() const { return *bounds_; }
  // Per-bucket counts (not cumulative), then +Inf last; sum; count.
  std::vector<uint64_t> counts() const;
  double sum() const { return sum_.load(std::memory_order_relaxed); }

 private:
  const std::vector<double>* bounds_;
  std::unique_ptr<std::atomic<uint64_t>[]> buckets_;  // bounds_->size() + 1
  std::atomic<double> sum_{0};
};

enum class Type { kCounter, kGauge, kHistogram };

class Family {
 public:
  Family(std::string name, std::string help, Type type, std::vector<std::string> label_names,
         std::vector<double> bounds = {}, int fixed_decimals = 0);
  Counter& counter(const Labels& values);      // kCounter or kGauge (a gauge is set with Set)
  Histogram& histogram(const Labels& values);  // kHistogram
  void Set(const Labels& values, double v);    // kGauge
  void Render(std::string& out) const;
  const std::string& name() const { return name_; }

 private:
  struct Cell {
    std::unique_ptr<Counter> counter;
    std::unique_ptr<Histogram> histogram;
    std::atomic<double> gauge{0};
  };
  Cell& Get(const Labels& values);

  const std::string name_, help_;
  const Type type_;
  const std::vector<std::string> label_names_;
  const std::vector<double> bounds_;
  const int fixed_decimals_;  // > 0: a counter of integer units of 10^-fixed_decimals, rendered exactly
  mutable SharedMutex mu_;
  std::map<Labels, std::unique_ptr<Cell>> cells_ GUARDED_BY(mu_);
};

class Registry {
 public:
  Family& Add(std::string name, std::string help, Type type, std::vector<std::string> label_names,
              std::vector<double> bounds = {});
  // A counter of integer units of 10^-decimals (Counter::AddUnits), rendered as the exact
  // decimal: money in pico-dollars (common/money.h) sums without rounding.
  Family& AddFixed(std::string name, std::string help, std::vector<std::string> label_names, int decimals);
  // Called at the start of Render(), e.g. to refresh gauges read from elsewhere.
  void OnRender(std::function<void()> fn) { on_render_.push_back(std::move(fn)); }
  std::string Render() const;

 private:
  std::vector<std::unique_ptr<Family>> families_;
  std::vector<std::function<void()>> on_render_;
};

// Latency buckets in seconds, 0.5 ms to 60 s.
const std::vector<double>& LatencyBuckets();

}  // namespace warden::metrics
