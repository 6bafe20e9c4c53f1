#include "metrics/metrics.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <mutex>

#include "common/money.h"

namespace warden::metrics {
namespace {

// A sample value: integers without a fraction, others in the fewest digits that read back as
// the same double (0.1, not 0.10000000000000001), like Prometheus itself writes them.
std::string Number(double v) {
  if (std::isnan(v)) return "NaN";
  if (std::isinf(v)) return v > 0 ? "+Inf" : "-Inf";
  char buf[40];
  if (v == std::floor(v) && std::fabs(v) < 1e15) {
    std::snprintf(buf, sizeof buf, "%.0f", v);
    return buf;
  }
  for (int precision = 1; precision <= 17; ++precision) {
    std::snprintf(buf, sizeof buf, "%.*g", precision, v);
    if (std::strtod(buf, nullptr) == v) break;
  }
  return buf;
}

// Label values escape backslash, double quote and newline; HELP text backslash and newline.
std::string Escape(const std::string& s, bool quote) {
  std::string out;
  for (char c : s) {
    if (c == '\\') out += "\\\\";
    else if (c == '\n') out += "\\n";
    else if (c == '"' && quote) out += "\\\"";
    else out.push_back(c);
  }
  return out;
}

std::string LabelSet(const std::vector<std::string>& names, const Labels& values, const std::string& extra = "") {
  std::string out;
  for (size_t i = 0; i < names.size(); ++i) {
    out += out.empty() ? "{" : ",";
    out += names[i] + "=\"" + Escape(i < values.size() ? values[i] : "", true) + "\"";
  }
  if (!extra.empty()) out += (out.empty() ? "{" : ",") + extra;
  if (!out.empty()) out += "}";
  return out;
}

}  // namespace

void Counter::Add(double v) { value_.fetch_add(v, std::memory_order_relaxed); }

void Counter::AddUnits(int64_t units) {
  int64_t seen = units_.load(std::memory_order_relaxed);
  while (!units_.compare_exchange_weak(seen, AddPicos(seen, std::max<int64_t>(units, 0)), std::memory_order_relaxed)) {
  }
}

Histogram::Histogram(const std::vector<double>* bounds)
    : bounds_(bounds), buckets_(new std::atomic<uint64_t>[bounds->size() + 1]) {
  for (size_t i = 0; i <= bounds_->size(); ++i) buckets_[i].store(0);
}

void Histogram::Observe(double v) {
  size_t i = 0;
  while (i < bounds_->size() && v > (*bounds_)[i]) ++i;
  buckets_[i].fetch_add(1, std::memory_order_relaxed);
  sum_.fetch_add(v, std::memory_order_relaxed);
}

std::vector<uint64_t> Histogram::counts() const {
  std::vector<uint64_t> out(bounds_->size() + 1);
  for (size_t i = 0; i < out.size(); ++i) out[i] = buckets_[i].load(std::memory_order_relaxed);
  return out;
}

Family::Family(std::string name, std::string help, Type type, std::vector<std::string> label_names,
               std::vector<double> bounds, int fixed_decimals)
    : name_(std::move(name)), help_(std::move(help)), type_(type), label_names_(std::move(label_names)),
      bounds_(std::move(bounds)), fixed_decimals_(fixed_decimals) {}

Family::Cell& Family::Get(const Labels& values) {
  {
    ReaderLock lock(mu_);
    auto it = cells_.find(values);
    if (it != cells_.end()) return *it->second;
  }
  WriterLock lock(mu_);
  auto& cell = cells_[values];
  if (!cell) {
    cell = std::make_unique<Cell>();
    if (type_ == Type::kHistogram) cell->histogram = std::make_unique<Histogram>(&bounds_);
    else cell->counter = std::make_unique<Counter>();
  }
  return *cell;
}

Counter& Family::counter(const Labels& values) { return *Get(values).counter; }
Histogram& Family::histogram(const Labels& values) { return *Get(values).histogram; }
void Family::Set(const Labels& values, double v) { Get(values).gauge.store(v, std::memory_order_relaxed); }

void Family::Render(std::string& out) const {
  static const char* kTypes[] = {"counter", "gauge", "histogram"};
  out += "# HELP " + name_ + " " + Escape(help_, false) + "\n";
  out += "# TYPE " + name_ + " " + kTypes[static_cast<int>(type_)] + "\n";
  ReaderLock lock(mu_);
  for (const auto& [values, cell] : cells_) {
    if (type_ == Type::kCounter) {
      const std::string v = fixed_decimals_ > 0 ? FormatFixed(cell->counter->units(), fixed_decimals_)
                                                : Number(cell->counter->value());
      out += name_ + LabelSet(label_names_, values) + " " + v + "\n";
    } else if (type_ == Type::kGauge) {
      out += name_ + LabelSet(label_names_, values) + " " + Number(cell->gauge.load()) + "\n";
    } else {
      std::vector<uint64_t> counts = cell->histogram->counts();
      uint64_t cumulative = 0;
      for (size_t i = 0; i < counts.size(); ++i) {
        cumulative += counts[i];
        std::string le = i < bounds_.size() ? Number(bounds_[i]) : "+Inf";
        out += name_ + "_bucket" + LabelSet(label_names_, values, "le=\"" + le + "\"") + " " +
               std::to_string(cumulative) + "\n";
      }
      out += name_ + "_sum" + LabelSet(label_names_, values) + " " + Number(cell->histogram->sum()) + "\n";
      out += name_ + "_count" + LabelSet(label_names_, values) + " " + std::to_string(cumulative) + "\n";
    }
  }
}

Family& Registry::Add(std::string name, std::string help, Type type, std::vector<std::string> label_names,
                      std::vector<double> bounds) {
  families_.push_back(std::make_unique<Family>(std::move(name), std::move(help), type, std::move(label_names),
                                               std::move(bounds)));
  return *families_.back();
}

Family& Registry::AddFixed(std::string name, std::string help, std::vector<std::string> label_names, int decimals) {
  families_.push_back(std::make_unique<Family>(std::move(name), std::move(help), Type::kCounter,
                                               std::move(label_names), std::vector<double>{}, decimals));
  return *families_.back();
}

std::string Registry::Render() const {
  for (const auto& fn : on_render_) fn();
  std::string out;
  for (const auto& f : families_) f->Render(out);
  return out;
}

const std::vector<double>& LatencyBuckets() {
  static const std::vector<double> kBuckets = {0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1,
                                               0.25,   0.5,   1,      2.5,   5,    10,   30,    60};
  return kBuckets;
}

}  // namespace warden::metrics
