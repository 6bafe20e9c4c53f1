#include "admin/dashboard.h"

#include <algorithm>

#include "admin/budgets.h"
#include "admin/embedded_files.h"
#include "common/util.h"

namespace warden::dashboard {
namespace {

std::string_view ContentType(std::string_view name) {
  auto ends = [&](std::string_view ext) {
    return name.size() >= ext.size() && name.substr(name.size() - ext.size()) == ext;
  };
  if (ends(".html")) return "text/html; charset=utf-8";
  if (ends(".js")) return "text/javascript; charset=utf-8";
  if (ends(".css")) return "text/css; charset=utf-8";
  return "application/octet-stream";
}

// name → [value per point], every name over every point (zeros where absent).
template <typename Points, typename Get>
Json SeriesByName(const Points& points, Get get) {
  Json out = Json::object();
  for (size_t i = 0; i < points.size(); ++i) {
    for (const auto& [name, value] : get(points[i])) {
      Json& series = out[name];
      if (series.is_null()) series = Json(std::vector<double>(points.size(), 0.0));
      series[i] = series[i].template get<double>() + static_cast<double>(value);
    }
  }
  return out;
}

}  // namespace

std::optional<Asset> FindAsset(std::string_view name) {
  for (const assets::File* f = assets::kFiles; f->name; ++f)
    if (name == f->name) return Asset{{reinterpret_cast<const char*>(f->data), f->size}, ContentType(name)};
  return std::nullopt;
}

const std::vector<std::pair<std::string, std::string>>& SecurityHeaders() {
  static const std::vector<std::pair<std::string, std::string>> kHeaders = {
      {"Content-Security-Policy",
       "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; connect-src 'self'; "
       "form-action 'self'; frame-ancestors 'none'; base-uri 'none'"},
      {"X-Frame-Options", "DENY"},
      {"X-Content-Type-Options", "nosniff"},
      {"Referrer-Policy", "no-referrer"},
      {"Cache-Control", "no-store"},
  };
  return kHeaders;
}

Sessions::Sessions(std::function<int64_t()> now_s) : now_s_(std::move(now_s)) {}

std::string Sessions::Create() {
  std::string id = ToHex(RandomBytes(32));
  const int64_t now = now_s_();
  MutexLock lock(mu_);
  for (auto it = expiry_.begin(); it != expiry_.end();) it = it->second <= now ? expiry_.erase(it) : std::next(it);
  while (expiry_.size() >= kMaxSessions) {
    auto oldest = std::min_element(expiry_.begin(), expiry_.end(),
                                   [](const auto& a, const auto& b) { return a.second < b.second; });
    expiry_.erase(oldest);
  }
  expiry_[Blake2b(id)] = now + kTtlSeconds;
  return id;
}

bool Sessions::Valid(std::string_view id) {
  if (id.size() != 64) return false;
  // The map is keyed by a hash of the id, so the lookup's timing says nothing about valid ids.
  const std::string hash = Blake2b(id);
  MutexLock lock(mu_);
  auto it = expiry_.find(hash);
  if (it == expiry_.end()) return false;
  if (it->second <= now_s_()) {
    expiry_.erase(it);
    return false;
  }
  return true;
}

void Sessions::End(std::string_view id) {
  const std::string hash = Blake2b(id);
  MutexLock lock(mu_);
  expiry_.erase(hash);
}

std::string Sessions::SetCookie(std::string_view id) {
  std::string c = std::string(kCookie) + "=" + std::string(id) + "; Path=/dashboard; HttpOnly; SameSite=Strict";
  c += id.empty() ? "; Max-Age=0" : "; Max-Age=" + std::to_string(kTtlSeconds);
  return c;
}

std::string Sessions::FromCookieHeader(std::string_view header, std::string_view name) {
  while (!header.empty()) {
    std::string_view pair = header.substr(0, header.find(';'));
    header.remove_prefix(std::min(header.size(), pair.size() + 1));
    while (!pair.empty() && pair.front() == ' ') pair.remove_prefix(1);
    const size_t eq = pair.find('=');
    if (eq != std::string_view::npos && pair.substr(0, eq) == name) return std::string(pair.substr(eq + 1));
  }
  return "";
}

std::optional<Window> ParseWindow(std::string_view name) {
  if (name == "1h") return Window{60, 1};
  if (name == "6h") return Window{360, 5};
  if (name == "24h") return Window{1440, 20};
  return std::nullopt;
}

Result<Json> Data(const Sources& from, int64_t now_s, Window window) {
  const metrics::Timeline& timeline = from.timeline;
  UsageLedger* usage = from.usage;
  const KeyStore* keys = from.keys;
  using Point = metrics::Timeline::Point;
  const std::vector<Point> points = timeline.Series(now_s, window.minutes, window.step);
  Json t = Json::array(), requests = Json::array(), client_errors = Json::array(), server_errors = Json::array(),
       refusals = Json::array(), retries = Json::array(), failovers = Json::array(), p50 = Json::array(),
       p99 = Json::array();
  for (const Point& p : points) {
    t.push_back(p.start_s);
    requests.push_back(p.requests);
    client_errors.push_back(p.client_errors);
    server_errors.push_back(p.server_errors);
    refusals.push_back(p.refusals);
    retries.push_back(p.retries);
    failovers.push_back(p.failovers);
    p50.push_back(p.overhead_p50_ms);
    p99.push_back(p.overhead_p99_ms);
  }
  auto costs = [](const std::map<std::string, metrics::Timeline::Usage>& by) {
    std::map<std::string, double> out;
    for (const auto& [name, u] : by) out[name] = UsdNumber(u.cost);
    return out;
  };
  auto tokens = [](const std::map<std::string, metrics::Timeline::Usage>& by) {
    std::map<std::string, int64_t> out;
    for (const auto& [name, u] : by) out[name] = u.tokens;
    return out;
  };
  Json recent = {
      {"t", t},
      {"step_seconds", window.step * 60},
      {"requests", requests},
      {"client_errors", client_errors},
      {"server_errors", server_errors},
      {"refusals", refusals},
      {"retries", retries},
      {"failovers", failovers},
      {"overhead_p50_ms", p50},
      {"overhead_p99_ms", p99},
      {"cost_by_model", SeriesByName(points, [&](const Point& p) { return costs(p.by_model); })},
      {"tokens_by_model", SeriesByName(points, [&](const Point& p) { return tokens(p.by_model); })},
      {"cost_by_provider", SeriesByName(points, [&](const Point& p) { return costs(p.by_provider); })},
      {"tokens_by_provider", SeriesByName(points, [&](const Point& p) { return tokens(p.by_provider); })},
      {"redactions", SeriesByName(points, [](const Point& p) { return p.redactions; })},
      {"refusals_by_reason", SeriesByName(points, [](const Point& p) { return p.refusal_reasons; })},
  };
  const Point sum = timeline.Summary(now_s, window.minutes);
  int64_t redacted = 0;
  for (const auto& [entity, n] : sum.redactions) redacted += n;
  Json totals = {{"requests", sum.requests},         {"client_errors", sum.client_errors},
                 {"server_errors", sum.server_errors}, {"refusals", sum.refusals},
                 {"retries", sum.retries},           {"failovers", sum.failovers},
                 {"overhead_p50_ms", sum.overhead_p50_ms}, {"overhead_p99_ms", sum.overhead_p99_ms},
                 {"redactions", redacted},           {"refusals_by_reason", sum.refusal_reasons}};

  // The last 30 days from the usage ledger (persisted: survives restarts).
  constexpr int kDays = 30;
  std::vector<std::string> days;
  for (int i = kDays - 1; i >= 0; --i) days.push_back(UtcDate(now_s - int64_t{i} * 86400));
  struct Day {
    std::map<std::string, Picos> cost_by_model, cost_by_provider;
    std::map<std::string, int64_t> tokens_by_model, tokens_by_provider;
  };
  std::vector<Day> by_day(days.size());
  std::map<std::string, UsageTotals> by_key;
  if (usage) {
    Status s = usage->ForEachCell(days.front(), days.back(),
                                  [&](const std::string& day, const UsageCell& c, const UsageTotals& u) {
                                    auto it = std::lower_bound(days.begin(), days.end(), day);
                                    if (it == days.end() || *it != day) return;
                                    Day& d = by_day[static_cast<size_t>(it - days.begin())];
                                    const int64_t tok = u.prompt_tokens + u.completion_tokens;
                                    d.cost_by_model[c.model] = AddPicos(d.cost_by_model[c.model], u.cost);
                                    d.cost_by_provider[c.provider] = AddPicos(d.cost_by_provider[c.provider], u.cost);
                                    d.tokens_by_model[c.model] += tok;
                                    d.tokens_by_provider[c.provider] += tok;
                                    by_key[c.key_id].Add(u);
                                  });
    if (!s) return s.error();
  }
  auto usd = [](const std::map<std::string, Picos>& by) {
    std::map<std::string, double> out;
    for (const auto& [name, p] : by) out[name] = UsdNumber(p);
    return out;
  };
  Json daily = {
      {"days", days},
      {"cost_by_model", SeriesByName(by_day, [&](const Day& d) { return usd(d.cost_by_model); })},
      {"cost_by_provider", SeriesByName(by_day, [&](const Day& d) { return usd(d.cost_by_provider); })},
      {"tokens_by_model", SeriesByName(by_day, [](const Day& d) { return d.tokens_by_model; })},
      {"tokens_by_provider", SeriesByName(by_day, [](const Day& d) { return d.tokens_by_provider; })},
  };
  {
    Picos c = 0;
    int64_t tk = 0;
    for (const auto& [n, v] : by_day.back().cost_by_model) c = AddPicos(c, v);
    for (const auto& [n, v] : by_day.back().tokens_by_model) tk += v;
    totals["cost_usd_today"] = UsdNumber(c);
    totals["tokens_today"] = tk;
  }

  std::vector<std::pair<std::string, UsageTotals>> ranked(by_key.begin(), by_key.end());
  std::stable_sort(ranked.begin(), ranked.end(), [](const auto& a, const auto& b) {
    if (a.second.cost != b.second.cost) return a.second.cost > b.second.cost;
    return a.second.prompt_tokens + a.second.completion_tokens > b.second.prompt_tokens + b.second.completion_tokens;
  });
  if (ranked.size() > 10) ranked.resize(10);
  std::map<std::string, std::string> names;
  if (keys && !ranked.empty()) {
    if (auto all = keys->List())
      for (const auto& r : *all) names[r.id] = r.name;
  }
  Json top = Json::array();
  for (const auto& [id, u] : ranked) {
    top.push_back({{"id", id},
                   {"name", names.count(id) ? names[id] : ""},
                   {"requests", u.requests},
                   {"tokens", u.prompt_tokens + u.completion_tokens},
                   {"cost_usd", UsdNumber(u.cost)}});
  }
  Json budget_rows = Json::array();
  if (from.spend && from.policies && keys) {
    auto all = keys->List();
    if (!all) return all.error();
    auto budgets = BudgetsInForce(*all, *from.policies, usage, *from.spend, now_s);
    if (!budgets) return budgets.error();
    budget_rows = BudgetRows(*budgets);
  }
  return Json{{"now", now_s},     {"recent", recent},   {"totals", totals},
              {"daily", daily},   {"top_keys", top},    {"budgets", std::move(budget_rows)},
              {"replica", from.replica.empty() ? Json() : Json(from.replica)}};
}

}  // namespace warden::dashboard
