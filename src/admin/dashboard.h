// The built-in dashboard on the admin listener: static files compiled into the binary (no CDN,
// works air-gapped), browser sessions, and the one JSON document the page draws from.
//
//   GET  /dashboard                 the page (with a session or the bearer token), else the login form (401)
//   POST /dashboard/login           form field `token` = the admin token → session cookie, 303 to /dashboard
//   POST /dashboard/logout          ends the session
//   GET  /dashboard/data?window=1h|6h|24h   the figures (session or bearer token)
//   GET  /dashboard/app.js, app.css the page's code and style: public, the same bytes for everyone, no data
//
// Contract: a browser cannot send a bearer token on navigation, so the admin token is exchanged
// once for a session: 256 random bits in an HttpOnly, SameSite=Strict cookie scoped to
// /dashboard, kept server-side only as a hash, expiring after 8 hours, ended by logout, lost on
// restart. A session authorises only the dashboard's own GETs, never the admin API (no CSRF
// surface). Pages carry a strict Content-Security-Policy (no inline script or style, no other
// origin), no-store and frame-deny headers. The data holds only configured names (aliases,
// providers, entity types), key ids with their admin-given names, counts, tokens and costs — no
// prompt, no key, no token.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>

#include "common/json.h"
#include "common/result.h"
#include "keys/key_store.h"
#include "limits/spend_ledger.h"
#include "limits/usage_ledger.h"
#include "policy/policy.h"
#include "metrics/timeline.h"
#include "common/mutex.h"

namespace warden::dashboard {

struct Asset {
  std::string_view bytes;
  std::string_view content_type;
};
// "index.html", "login.html", "app.js", "app.css"; nullopt for anything else.
std::optional<Asset> FindAsset(std::string_view name);

// The security headers every dashboard response carries.
const std::vector<std::pair<std::string, std::string>>& SecurityHeaders();

class Sessions {
 public:
  static constexpr int64_t kTtlSeconds = 8 * 3600;
  static constexpr size_t kMaxSessions = 64;  // the oldest is ended beyond this
  static constexpr std::string_view kCookie = "warden_dashboard";

  explicit Sessions(std::function<int64_t()> now_s);
  // A new session; returns the cookie value (64 hex characters: 32 random bytes).
  std::string Create();
  bool Valid(std::string_view id);
  void End(std::string_view id);
  // The Set-Cookie header value for `id` (empty id = delete the cookie).
  static std::string SetCookie(std::string_view id);
  // The value of cookie `name` in a Cookie request header, or "".
  static std::string FromCookieHeader(std::string_view header, std::string_view name);

 private:
  std::function<int64_t()> now_s_;
  Mutex mu_;
  std::map<std::string, int64_t> expiry_ GUARDED_BY(mu_);  // BLAKE2b(id) → unix expiry
};

// window: "1h" (60 one-minute points), "6h" (72 × 5 min) or "24h" (72 × 20 min).
struct Window {
  int minutes, step;
};
std::optional<Window> ParseWindow(std::string_view name);

// Where the page's figures come from; any but the timeline may be null.
struct Sources {
  const metrics::Timeline& timeline;
  UsageLedger* usage = nullptr;
  const KeyStore* keys = nullptr;
  SpendSource* spend = nullptr;
  const PolicySet* policies = nullptr;
  // In a fleet, this replica's name: the window's figures are its own, the 30 days and the
  // budgets the fleet's ("" = a single node; "replica" is null in the data).
  std::string replica = {};
};

// The page's figures: the timeline over `window` (refusals by reason apart from errors), the
// usage ledger's last 30 days by model and provider, the top 10 keys by spend over those 30
// days (with their names from `keys`), and every budget in force: each active key's under its
// policy, and each tag value's (budgets.per_tag) seen in this month's usage, with what was
// spent today and this month and the policy's alert percentages.
Result<Json> Data(const Sources& from, int64_t now_s, Window window);

}  // namespace warden::dashboard
