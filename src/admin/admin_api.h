// AdminApi: key management over HTTP on the admin listener (default 127.0.0.1:8081).
//
//   GET  /admin/keys                 list keys (never the key itself)
//   POST /admin/keys                 {"name", "policy"?, "env"?, "expires_in_seconds"?} → the new key, once
//   GET  /admin/keys/{id}            the key, its policy and its current usage (spend, rate limits)
//   POST /admin/keys/{id}/revoke     takes effect on the very next request (the key caches follow every change; a fleet's through Redis)
//   POST /admin/keys/{id}/rotate     {"grace_seconds"?: 86400} → the successor key, once
//   GET  /admin/policies             loaded policies with their hashes
//   GET  /admin/audit                the audit store: health, last sequence, key ids, public key
//   POST /admin/audit/purge          {"before"?: "YYYY-MM-DD"} remove payloads past retention
//   POST /admin/keys/{id}/forget     crypto-shred the key's audit records (GDPR Art. 17)
//   GET  /metrics                    Prometheus text format (the same token; Prometheus sends it as
//                                    `authorization: {credentials: …}`)
//   GET  /admin/usage?by=key|policy|model|deployment|provider|day|tag:NAME&since=YYYY-MM-DD&until=YYYY-MM-DD
//                                    tokens, requests and cost, grouped (default by model)
//   GET  /admin/budgets              every budget in force (admin/budgets.h): spent, limit, left
//                                    per period, with the alert percentages
//   /dashboard…                      the built-in dashboard (admin/dashboard.h: a session cookie
//                                    obtained with the token authorises its GETs only)
//
// Contract: every request must carry `Authorization: Bearer <admin token>`, compared in constant
// time (the dashboard's login form, static files and session-authorised GETs aside); without a configured token the listener is not started at all. Every action is written
// as a structured `admin` log line (no key, no token) and, with an audit log, as a durable
// `admin` audit record written before the answer goes out. Errors are OpenAI-shaped like the client
// API. Thread-safe; borrowed objects must outlive it.
#pragma once

#include <functional>
#include <memory>

#include "audit/audit_log.h"
#include "common/shared_slot.h"
#include "config/config.h"
#include "gateway/client_exchange.h"
#include "keys/key_store.h"
#include "limits/rate_limiter.h"
#include "limits/limits.h"
#include "limits/usage_ledger.h"
#include "admin/auth_throttle.h"
#include "admin/dashboard.h"
#include "metrics/gateway_metrics.h"
#include "policy/policy.h"

namespace warden {

// A key record as the admin API shows it (never its hash), and back (the CLI reads it).
Json KeyJson(const KeyRecord& r, int64_t now);
KeyRecord KeyFromJson(const Json& j);

class AdminApi : public RequestHandler {
 public:
  AdminApi(std::shared_ptr<const Config> config, std::shared_ptr<const PolicySet> policies,
           KeyStore* keys, Limits* limits,
           audit::AuditLog* audit = nullptr, UsageLedger* usage = nullptr,
           metrics::GatewayMetrics* metrics = nullptr);
  void Handle(ClientExchange& client) noexcept override;
  // After a reload: key creation and /admin/policies see the new set from the next request on.
  void SetPolicies(std::shared_ptr<const PolicySet> policies);
  // In a fleet (call before the listener starts): this replica's name, for the dashboard, and
  // how an erasure (`forget`) is announced to the other replicas, which apply it to their own
  // audit chains (cluster/fleet_erasure.h).
  void SetFleet(std::string replica, std::function<Status(const std::string& key_id)> announce_erasure) {
    replica_ = std::move(replica);
    announce_erasure_ = std::move(announce_erasure);
  }

 private:
  struct Reply;
  Reply Dispatch(ClientExchange& client);
  Reply Dashboard(ClientExchange& client, const std::string& path);
  // The admin token check, throttled (AuthThrottle): kMissing = no token presented (not counted
  // as a failure); kThrottled = too many wrong tokens lately, the token was not compared.
  enum class TokenCheck { kValid, kMissing, kInvalid, kThrottled };
  TokenCheck CheckToken(const ClientExchange& client, std::string_view presented);
  TokenCheck CheckBearer(const ClientExchange& client);
  // The answer for a throttled attempt: 429 with Retry-After.
  Reply Throttled(const ClientExchange& client);
  bool TokenValid(std::string_view token) const;

  std::shared_ptr<const Config> config_;
  SharedSlot<PolicySet> policies_;
  KeyStore* keys_;
  Limits* limits_;
  std::string replica_;  // "" = a single node
  std::function<Status(const std::string& key_id)> announce_erasure_;  // a fleet only  // rate limits and spend: this process's, or the fleet's
  audit::AuditLog* audit_;  // null = audit disabled
  UsageLedger* usage_;      // null = no usage endpoint
  metrics::GatewayMetrics* metrics_;  // null = no /metrics, no dashboard
  dashboard::Sessions sessions_;
  AuthThrottle throttle_;
  std::string token_hash_;  // BLAKE2b of the token: compared in constant time, any length
};

}  // namespace warden
