#include "metrics/timeline.h"

#include <algorithm>
#include <cmath>

#include "metrics/gateway_metrics.h"

namespace warden::metrics {
namespace {

constexpr double kFirstBin = 10e-6;  // seconds
constexpr double kGrowth = 1.2;

void AddUsage(std::map<std::string, Timeline::Usage>& to, const std::map<std::string, Timeline::Usage>& from) {
  for (const auto& [name, u] : from) {
    to[name].tokens += u.tokens;
    to[name].cost += u.cost;
  }
}

}  // namespace

int Timeline::Bin(double seconds) {
  if (!(seconds > kFirstBin)) return 0;  // also NaN
  const int bin = static_cast<int>(std::log(seconds / kFirstBin) / std::log(kGrowth)) + 1;
  return std::min(bin, kOverheadBins - 1);
}

double Timeline::BinValue(int bin) {
  if (bin <= 0) return kFirstBin;
  // Bin b holds (kFirstBin·g^(b-1), kFirstBin·g^b]: its geometric middle.
  return kFirstBin * std::pow(kGrowth, bin - 0.5);
}

double Timeline::Quantile(const std::array<uint32_t, kOverheadBins>& bins, double q) {
  uint64_t total = 0;
  for (uint32_t n : bins) total += n;
  if (total == 0) return 0;
  // The smallest bin whose cumulative count reaches q of the total (nearest-rank).
  const auto rank = static_cast<uint64_t>(std::ceil(q * static_cast<double>(total)));
  uint64_t seen = 0;
  for (int b = 0; b < kOverheadBins; ++b) {
    seen += bins[b];
    if (seen >= std::max<uint64_t>(rank, 1)) return BinValue(b);
  }
  return BinValue(kOverheadBins - 1);
}

void Timeline::Bucket::Merge(const Bucket& o) {
  Point& c = counts;
  c.requests += o.counts.requests;
  c.client_errors += o.counts.client_errors;
  c.server_errors += o.counts.server_errors;
  c.refusals += o.counts.refusals;
  for (const auto& [code, n] : o.counts.refusal_reasons) c.refusal_reasons[code] += n;
  c.retries += o.counts.retries;
  c.failovers += o.counts.failovers;
  AddUsage(c.by_model, o.counts.by_model);
  AddUsage(c.by_provider, o.counts.by_provider);
  for (const auto& [entity, n] : o.counts.redactions) c.redactions[entity] += n;
  for (int b = 0; b < kOverheadBins; ++b) overhead[b] += o.overhead[b];
}

void Timeline::Record(int64_t now_s, const RequestSample& s) {
  const int64_t minute = now_s / 60;
  MutexLock lock(mu_);
  Bucket& b = ring_[static_cast<size_t>(minute % kMinutes)];
  if (b.minute != minute) b = Bucket{minute, {}, {}};
  Point& c = b.counts;
  ++c.requests;
  if (!s.refusal.empty() && GatewayMetrics::IsRefusalCode(s.refusal)) {
    ++c.refusals;
    ++c.refusal_reasons[s.refusal];  // a fixed set of codes
  } else if (s.status >= 400 && s.status < 500) {
    ++c.client_errors;
  } else if (s.status >= 500) {
    ++c.server_errors;
  }
  s.ForEachMove([&](const RequestSample::Try&, bool same) { ++(same ? c.retries : c.failovers); });
  if (s.upstream) ++b.overhead[static_cast<size_t>(Bin(s.overhead_s))];
  const int64_t tokens = s.prompt_tokens + s.completion_tokens;
  if (tokens > 0 || s.cost > 0) {
    auto add = [&](std::map<std::string, Usage>& by, const std::string& name) {
      if (name.empty()) return;  // refusals carry no tokens; this is only a guard
      by[name].tokens += tokens;
      by[name].cost += s.cost;
    };
    add(c.by_model, s.model);
    add(c.by_provider, s.provider);
  }
  for (const auto& [entity, n] : s.redactions) c.redactions[entity] += n;
}

Timeline::Point Timeline::Sum(int64_t first, int64_t last, int64_t now_minute) const {
  Bucket sum;
  for (int64_t m = std::max(first, now_minute - kMinutes + 1); m <= last; ++m) {
    const Bucket& b = ring_[static_cast<size_t>(m % kMinutes)];
    if (b.minute == m) sum.Merge(b);
  }
  Point p = std::move(sum.counts);
  p.start_s = first * 60;
  p.overhead_p50_ms = Quantile(sum.overhead, 0.50) * 1e3;
  p.overhead_p99_ms = Quantile(sum.overhead, 0.99) * 1e3;
  return p;
}

std::vector<Timeline::Point> Timeline::Series(int64_t now_s, int minutes, int step) const {
  minutes = std::clamp(minutes, 1, kMinutes);
  step = std::clamp(step, 1, minutes);
  const int64_t last = now_s / 60;
  // Points start at multiples of `step` minutes, so a refresh does not reshuffle the buckets;
  // the first point may reach up to step-1 minutes before the window.
  const int64_t first = (last - minutes + 1) / step * step;
  std::vector<Point> out;
  MutexLock lock(mu_);
  for (int64_t start = first; start <= last; start += step)
    out.push_back(Sum(start, std::min(start + step - 1, last), last));
  return out;
}

Timeline::Point Timeline::Summary(int64_t now_s, int minutes) const {
  minutes = std::clamp(minutes, 1, kMinutes);
  const int64_t last = now_s / 60;
  MutexLock lock(mu_);
  return Sum(last - minutes + 1, last, last);
}

}  // namespace warden::metrics
