#include "admin/admin_api.h"

#include <sodium.h>
#include <strings.h>

#include "admin/budgets.h"
#include "audit/maintenance.h"
#include "common/json.h"
#include "common/cli.h"
#include "common/log.h"
#include "common/util.h"

namespace warden {
Json KeyJson(const KeyRecord& r, int64_t now) {
  std::string status = !r.active() ? "revoked" : r.expired(now) ? "expired" : "active";
  Json j = {{"id", r.id},           {"name", r.name},
            {"policy", r.policy},   {"env", KeyEnvName(r.env)},
            {"status", status},     {"created_at", r.created_at},
            {"revoked_at", r.revoked_at ? Json(r.revoked_at) : Json()},
            {"expires_at", r.expires_at ? Json(r.expires_at) : Json()},
            {"replaced_by", r.replaced_by.empty() ? Json() : Json(r.replaced_by)}};
  return j;
}

KeyRecord KeyFromJson(const Json& j) {
  KeyRecord r;
  auto text = [&](const char* k) { return j.contains(k) && j[k].is_string() ? j[k].get<std::string>() : std::string(); };
  auto number = [&](const char* k) { return j.contains(k) && j[k].is_number_integer() ? j[k].get<int64_t>() : int64_t{0}; };
  r.id = text("id");
  r.name = text("name");
  r.policy = text("policy");
  r.env = ParseKeyEnv(text("env")).value_or(KeyEnv::kProduction);
  r.created_at = number("created_at");
  r.revoked_at = number("revoked_at");
  r.expires_at = number("expires_at");
  r.replaced_by = text("replaced_by");
  return r;
}

namespace {

std::string TokenHash(std::string_view token) { return Blake2b(token); }


Json PolicyJson(const Policy& p) {
  return {{"name", p.name},
          {"description", p.description},
          {"hash", p.hash},
          {"models", p.models},
          {"providers", p.providers},
          {"regions", p.regions},
          {"zero_retention", p.zero_retention},
          {"content_logging", ContentLoggingName(p.content_logging)},
          {"redaction", {{"rule_sets", p.redaction_rule_sets}, {"mode", RedactionModeName(p.redaction_mode)}}},
          {"rate_limits", {{"requests_per_minute", p.requests_per_minute}, {"tokens_per_minute", p.tokens_per_minute}}},
          {"budgets", {{"usd_per_day", UsdNumber(p.budget_per_day)}, {"usd_per_month", UsdNumber(p.budget_per_month)}}},
          {"audit", AuditModeName(p.audit)}};
}

}  // namespace

struct AdminApi::Reply {
  int status = 200;
  Json body;
  std::string action;  // for the admin log line; empty = read-only
  std::string content_type;  // set: `text` is the answer (metrics, dashboard) instead of `body`
  std::string text;
  std::vector<std::pair<std::string, std::string>> headers;
  std::string key_id;
  bool recorded = false;  // the action wrote its own audit record (purge, forget)
  Reply() = default;
  Reply(int s, Json b) : status(s), body(std::move(b)) {}
  Reply(const Error& e) : status(e.status()), body(ErrorJson(e)) {}  // NOLINT: implicit by design
};

AdminApi::AdminApi(std::shared_ptr<const Config> config, std::shared_ptr<const PolicySet> policies,
                   KeyStore* keys, Limits* limits,
                   audit::AuditLog* audit, UsageLedger* usage, metrics::GatewayMetrics* metrics)
    : config_(std::move(config)),
      policies_(std::move(policies)),
      keys_(keys),
      limits_(limits),
      audit_(audit),
      usage_(usage),
      metrics_(metrics),
      sessions_(UnixSeconds),
      token_hash_(TokenHash(config_->admin.token.Reveal())) {}

void AdminApi::Handle(ClientExchange& client) noexcept {
  Reply reply;
  try {
    client.SetHeader("x-request-id", NewRequestId());
    reply = Dispatch(client);
  } catch (const std::exception&) {
    reply = Reply(Error::Internal("The admin API had an error."));
  }
  try {
    // A body this API did not read (an error, or a GET with a body) must not be taken for the
    // next request on the connection.
    if (client.has_body() && (reply.status >= 400 || client.method() != "POST")) client.CloseAfterResponse();
    if (audit_ && !reply.action.empty() && !reply.recorded) {
      auto seq = audit_->AppendAdmin(reply.action, {{"key_id", reply.key_id},
                                                    {"actor", "admin_api"},
                                                    {"client", client.client_address()}});
      if (!seq) log::Warn("audit_write_failed", {{"action", reply.action}, {"error", seq.error().code}});
    }
    for (const auto& [name, value] : reply.headers) client.SetHeader(name, value);
    if (!reply.content_type.empty()) {
      client.Send(reply.status, reply.content_type, reply.text);
    } else {
      std::string text = Dump(reply.body);
      client.Send(reply.status, "application/json", text);
    }
    log::Fields f;
    f["method"] = std::string(client.method());
    f["path"] = std::string(client.path().substr(0, 128));
    f["client"] = client.client_address();
    f["status"] = reply.status;
    if (!reply.action.empty()) f["action"] = reply.action;
    if (!reply.key_id.empty()) f["key_id"] = reply.key_id;
    log::Info("admin", std::move(f));
  } catch (...) {
  }
}

bool AdminApi::TokenValid(std::string_view token) const {
  // Constant time over equal-length hashes, whatever the presented length.
  const std::string hash = TokenHash(token);
  return sodium_memcmp(hash.data(), token_hash_.data(), token_hash_.size()) == 0;
}

AdminApi::TokenCheck AdminApi::CheckToken(const ClientExchange& client, std::string_view presented) {
  if (presented.empty()) return TokenCheck::kMissing;
  const std::string who = client.client_address();
  if (throttle_.RetryAfter(who) > 0) return TokenCheck::kThrottled;  // not even compared
  if (TokenValid(presented)) return TokenCheck::kValid;
  throttle_.Failed(who);
  if (metrics_) metrics_->AdminAuthFailure();
  log::Warn("admin_auth_failed", {{"client", who}, {"path", std::string(client.path().substr(0, 128))}});
  return TokenCheck::kInvalid;
}

AdminApi::TokenCheck AdminApi::CheckBearer(const ClientExchange& client) {
  std::string auth = client.header("Authorization");
  const bool bearer = auth.size() >= 6 && strncasecmp(auth.data(), "Bearer", 6) == 0 && (auth.size() == 6 || auth[6] == ' ');
  std::string presented = bearer ? auth.substr(6) : auth;
  while (!presented.empty() && presented.front() == ' ') presented.erase(0, 1);
  // Another scheme with credentials is a wrong token (counted); "Bearer" with nothing is none.
  if (!bearer && !presented.empty()) presented = " ";
  const TokenCheck check = CheckToken(client, presented);
  WipeString(presented);
  WipeString(auth);
  return check;
}

AdminApi::Reply AdminApi::Throttled(const ClientExchange& client) {
  const int64_t wait = throttle_.RetryAfter(client.client_address());
  if (metrics_) metrics_->AdminAuthThrottled();
  log::Warn("admin_auth_throttled", {{"client", client.client_address()}, {"retry_after_s", wait}});
  Reply r(Error::TooManyRequests("Too many wrong admin tokens; try again in " + std::to_string(wait) + "s.",
                                 "too_many_auth_failures", "rate_limit_error"));
  r.headers.emplace_back("Retry-After", std::to_string(std::max<int64_t>(wait, 1)));
  return r;
}

AdminApi::Reply AdminApi::Dashboard(ClientExchange& client, const std::string& path) {
  if (!metrics_) return Error::NotFound("The dashboard is not available.", "dashboard_disabled");
  const std::string method(client.method());
  auto page = [&](int status, std::string_view name) {
    auto asset = dashboard::FindAsset(name);
    Reply r(status, nullptr);
    r.content_type = std::string(asset->content_type);
    r.text = std::string(asset->bytes);
    r.headers = dashboard::SecurityHeaders();
    return r;
  };
  auto redirect = [&](std::string cookie, std::string action) {
    Reply r(303, nullptr);
    r.content_type = "text/plain; charset=utf-8";
    r.text = "See /dashboard\n";
    r.headers = dashboard::SecurityHeaders();
    r.headers.emplace_back("Location", "/dashboard");
    r.headers.emplace_back("Set-Cookie", dashboard::Sessions::SetCookie(cookie));
    r.action = std::move(action);
    return r;
  };
  const std::string cookie =
      dashboard::Sessions::FromCookieHeader(client.header("Cookie"), dashboard::Sessions::kCookie);

  if (path == "/dashboard/app.js" || path == "/dashboard/app.css") {
    if (method != "GET") return Error::MethodNotAllowed("Use GET on " + path + ".");
    return page(200, path.substr(sizeof("/dashboard/") - 1));
  }
  if (path == "/dashboard/login") {
    if (method != "POST") return Error::MethodNotAllowed("Use POST on /dashboard/login.");
    auto raw = client.ReadBody(4096);
    if (!raw) return raw.error();
    std::string token;
    for (const auto& [name, value] : SplitPairs(*raw))
      if (name == "token") token = FormDecode(value).value_or("");
    const TokenCheck check = CheckToken(client, token.empty() ? " " : token);  // an empty form is a wrong token
    WipeString(token);
    WipeString(*raw);
    if (check == TokenCheck::kThrottled) return Throttled(client);
    if (check != TokenCheck::kValid) {
      Reply r = page(401, "login.html");
      const size_t at = r.text.find("<!--error-->");
      if (at != std::string::npos) r.text.replace(at, 12, "<p class=\"error\">That token is not valid.</p>");
      return r;
    }
    return redirect(sessions_.Create(), "dashboard_login");
  }
  if (path == "/dashboard/logout") {
    if (method != "POST") return Error::MethodNotAllowed("Use POST on /dashboard/logout.");
    sessions_.End(cookie);
    return redirect("", "");
  }
  if (path != "/dashboard" && path != "/dashboard/data")
    return Error::NotFound("Invalid URL (" + method + " " + path.substr(0, 200) + ")", "unknown_url");
  if (method != "GET") return Error::MethodNotAllowed("Use GET on " + path + ".");
  bool authorised = sessions_.Valid(cookie);
  if (!authorised) {
    const TokenCheck check = CheckBearer(client);
    if (check == TokenCheck::kThrottled) return Throttled(client);
    authorised = check == TokenCheck::kValid;
  }
  if (path == "/dashboard") return authorised ? page(200, "index.html") : page(401, "login.html");
  if (!authorised) return Error::Unauthorized("Log in to the dashboard or send the admin token.", "invalid_admin_token");
  dashboard::Window window{60, 1};
  for (const auto& [name, value] : SplitPairs(client.query())) {
    if (name != "window") return Error::BadRequest("Unknown query parameter; use window.", "query");
    auto w = dashboard::ParseWindow(value);
    if (!w) return Error::BadRequest("window must be 1h, 6h or 24h", "window");
    window = *w;
  }
  const std::shared_ptr<const PolicySet> policies = policies_.Load();
  auto data = dashboard::Data({metrics_->timeline(), usage_, keys_, limits_, policies.get(), replica_}, metrics_->now_s(), window);
  if (!data) return data.error();
  Reply r(200, std::move(*data));
  r.headers = dashboard::SecurityHeaders();
  return r;
}

void AdminApi::SetPolicies(std::shared_ptr<const PolicySet> policies) { policies_.Store(std::move(policies)); }

AdminApi::Reply AdminApi::Dispatch(ClientExchange& client) {
  const std::string path(client.path());
  if (path == "/dashboard" || path.rfind("/dashboard/", 0) == 0) return Dashboard(client, path);
  // Authenticate before anything else.
  if (const TokenCheck check = CheckBearer(client); check != TokenCheck::kValid)
    return check == TokenCheck::kThrottled ? Throttled(client)
                                           : Reply(Error::Unauthorized("A valid admin token is required.", "invalid_admin_token"));
  const std::shared_ptr<const PolicySet> policies = policies_.Load();  // one set for the whole request

  const std::string method(client.method());
  const int64_t now = UnixSeconds();
  Json body = Json::object();
  if (method == "POST" && client.has_body()) {
    auto raw = client.ReadBody(64 * 1024);
    if (!raw) return raw.error();
    auto parsed = ParseJson(*raw);
    if (!parsed || !parsed->is_object())
      return Error::BadRequest("The body must be a JSON object.", "", "invalid_json");
    body = std::move(*parsed);
  }

  if (path == "/admin/policies" && method == "GET") {
    Json list = Json::array();
    for (const auto& name : policies->Names()) list.push_back(PolicyJson(*policies->Find(name)));
    return Reply(200, {{"object", "list"}, {"data", list}});
  }
  if (path == "/metrics") {
    if (method != "GET") return Error::MethodNotAllowed("Use GET on /metrics.");
    if (!metrics_) return Error::NotFound("Metrics are not available.", "metrics_disabled");
    Reply r(200, nullptr);
    r.content_type = "text/plain; version=0.0.4; charset=utf-8";
    r.text = metrics_->registry().Render();
    return r;
  }
  if (path == "/admin/budgets") {
    if (method != "GET") return Error::MethodNotAllowed("Use GET on /admin/budgets.");
    auto all = keys_->List();
    if (!all) return all.error();
    auto budgets = BudgetsInForce(*all, *policies, usage_, *limits_, metrics_ ? metrics_->now_s() : UnixSeconds());
    if (!budgets) return budgets.error();
    return Reply(200, Json{{"object", "list"}, {"data", BudgetRows(*budgets)}});
  }
  if (path == "/admin/usage") {
    if (method != "GET") return Error::MethodNotAllowed("Use GET on /admin/usage.");
    if (!usage_) return Error::NotFound("Usage accounting is not available.", "usage_disabled");
    UsageGroup by;
    std::string since, until;
    for (const auto& [raw_name, raw_value] : SplitPairs(client.query())) {
      const std::string name(raw_name), value(raw_value);
      if (name == "by") {
        auto g = ParseUsageGroup(value);
        if (!g) return Error::BadRequest("by must be key, policy, model, deployment, provider, day or tag:<name>", "by");
        by = *g;
      } else if (name == "since" || name == "until") {
        if (!cli::ParseTime(value)) return Error::BadRequest(name + " must be a date YYYY-MM-DD", name);
        (name == "since" ? since : until) = value.substr(0, 10);
      } else {
        return Error::BadRequest("Unknown query parameter; use by, since, until.", name.substr(0, 40));
      }
    }
    auto rows = usage_->Query(by, since, until);
    if (!rows) return rows.error();
    return Reply(200, UsageJson(by, *rows));
  }
  if (path == "/admin/audit" || path == "/admin/audit/purge") {
    if (!audit_) return Error::NotFound("The audit store is disabled in the configuration.", "audit_disabled");
    if (path == "/admin/audit") {
      if (method != "GET") return Error::MethodNotAllowed("Use GET on /admin/audit.");
      return Reply(200, {{"healthy", audit_->Healthy()},
                         {"last_seq", audit_->last_seq()},
                         {"master_key_id", audit_->master_key_id()},
                         {"public_key", ToHex(audit_->public_key())}});
    }
    if (method != "POST") return Error::MethodNotAllowed("Use POST on /admin/audit/purge.");
    int64_t before = now;
    if (body.contains("before")) {
      auto t = body["before"].is_string() ? cli::ParseTime(body["before"].get<std::string>()) : std::nullopt;
      if (!t) return Error::BadRequest("before must be a date YYYY-MM-DD", "before");
      before = std::min(*t, now);  // never ahead of today: retention is counted to the day
    }
    auto rep = audit::AuditMaintenance(*audit_).Purge(audit::DayOf(before * 1000), "admin_api");
    if (!rep) return rep.error();
    Reply r(200, {{"content_removed", rep->content_removed},
                  {"meta_removed", rep->meta_removed},
                  {"purge_seq", rep->purge_seq}});
    r.action = "audit_purged";
    r.recorded = true;
    return r;
  }
  if (path == "/admin/keys") {
    if (method == "GET") {
      auto all = keys_->List();
      if (!all) return all.error();
      Json list = Json::array();
      for (const auto& r : *all) list.push_back(KeyJson(r, now));
      return Reply(200, {{"object", "list"}, {"data", list}});
    }
    if (method != "POST") return Error::MethodNotAllowed("Use GET or POST on /admin/keys.");
    std::string name = body.value("name", "");
    std::string policy = body.value("policy", "default");
    if (!policies->Find(policy))
      return Error::BadRequest("No policy named '" + policy + "' is loaded.", "policy", "policy_not_found");
    KeyOptions options;
    if (body.contains("env")) {
      auto env = body["env"].is_string() ? ParseKeyEnv(body["env"].get<std::string>()) : std::nullopt;
      if (!env) return Error::BadRequest("env must be development, staging or production", "env");
      options.env = *env;
    }
    if (body.contains("expires_in_seconds")) {
      if (!body["expires_in_seconds"].is_number_integer() || body["expires_in_seconds"].get<int64_t>() <= 0)
        return Error::BadRequest("expires_in_seconds must be a positive integer", "expires_in_seconds");
      options.expires_at = now + body["expires_in_seconds"].get<int64_t>();
    }
    auto created = keys_->Create(name, policy, options);
    if (!created) return created.error();
    Reply r(201, {{"key", created->key.Reveal()}, {"record", KeyJson(created->record, now)}});
    r.action = "key_created";
    r.key_id = created->record.id;
    return r;
  }
  constexpr std::string_view kKeys = "/admin/keys/";
  if (path.rfind(kKeys, 0) == 0) {
    std::string rest = path.substr(kKeys.size());
    std::string id = rest.substr(0, rest.find('/'));
    std::string verb = rest.size() > id.size() ? rest.substr(id.size() + 1) : "";
    auto record = keys_->Get(id);
    if (!record) return record.error();
    if (verb.empty()) {
      if (method != "GET") return Error::MethodNotAllowed("Use GET on /admin/keys/{id}.");
      Json out = KeyJson(*record, now);
      const Policy* p = policies->Find(record->policy);
      out["policy_detail"] = p ? PolicyJson(*p) : Json();
      Spend spend = limits_->SpendOf(record->id);
      out["usage"] = {{"spend_usd_today", UsdNumber(spend.day)}, {"spend_usd_this_month", UsdNumber(spend.month)}};
      if (p && p->budget_per_day > 0)
        out["usage"]["remaining_usd_today"] = UsdNumber(Remaining(p->budget_per_day, spend.day));
      if (p && p->budget_per_month > 0)
        out["usage"]["remaining_usd_this_month"] = UsdNumber(Remaining(p->budget_per_month, spend.month));
      if (p && (p->requests_per_minute > 0 || p->tokens_per_minute > 0)) {
        RateState st = limits_->PeekRate(record->id, {p->requests_per_minute, p->tokens_per_minute});
        out["usage"]["remaining_requests_this_minute"] = st.remaining_requests;
        out["usage"]["remaining_tokens_this_minute"] = st.remaining_tokens;
      }
      return Reply(200, out);
    }
    if (method != "POST") return Error::MethodNotAllowed("Use POST on /admin/keys/{id}/" + verb + ".");
    if (verb == "revoke") {
      auto revoked = keys_->Revoke(id);
      if (!revoked) return revoked.error();
      Reply r(200, KeyJson(*revoked, now));
      r.action = "key_revoked";
      r.key_id = id;
      return r;
    }
    if (verb == "forget") {
      if (!audit_) return Error::NotFound("The audit store is disabled in the configuration.", "audit_disabled");
      // A fleet: every replica must forget, including one that is down now — the request is
      // recorded in Redis first (nothing is erased if it cannot be), then applied here; a
      // replica without records of the key has nothing to erase.
      if (announce_erasure_)
        if (Status st = announce_erasure_(id); !st) return st.error();
      Status st = audit::AuditMaintenance(*audit_).Forget(id, "admin_api");
      if (!st && !(announce_erasure_ && st.error().code == "audit_no_data_key")) return st.error();
      Json out = {{"key_id", id}, {"forgotten", true}};
      if (announce_erasure_) out["fleet"] = true;
      Reply r(200, std::move(out));
      r.action = "audit_key_forgotten";
      r.key_id = id;
      r.recorded = true;
      return r;
    }
    if (verb == "rotate") {
      int64_t grace = 86400;
      if (body.contains("grace_seconds")) {
        if (!body["grace_seconds"].is_number_integer() || body["grace_seconds"].get<int64_t>() < 0)
          return Error::BadRequest("grace_seconds must be a non-negative integer", "grace_seconds");
        grace = body["grace_seconds"].get<int64_t>();
      }
      auto rotated = keys_->Rotate(id, grace);
      if (!rotated) return rotated.error();
      Reply r(200, {{"key", rotated->key.Reveal()}, {"record", KeyJson(rotated->record, now)},
                    {"previous", id}});
      r.action = "key_rotated";
      r.key_id = id;
      return r;
    }
  }
  return Error::NotFound("Invalid URL (" + method + " " + path.substr(0, 200) + ")", "unknown_url");
}

}  // namespace warden
