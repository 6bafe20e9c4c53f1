// Check policy: what the key's policy allows this request, decided before a byte of the prompt is
// scanned or sent — the client's attempts to steer (overrides), the model and the deployments
// (provider, region, zero retention: the route), then rate limits and budgets. Redaction comes
// after these, so a refused or throttled request never pays for the scan.
#pragma once

#include <asio/awaitable.hpp>
#include <asio/thread_pool.hpp>

#include <string>
#include <vector>

#include "common/result.h"
#include "config/config.h"
#include "gateway/client_exchange.h"
#include "gateway/request.h"
#include "limits/rate_limiter.h"
#include "limits/spend_ledger.h"
#include "policy/policy.h"

namespace warden {

// Refuses (403 override_not_allowed) any attempt by the client to steer what the policy
// decides: request headers named x-warden-*, and the steering fields Parse noted in the body
// (see kOverrideFields in parse.cc). Under zero retention, `store: true` is refused as well.
// `request` is null for requests without a body. Checked once per request.
Status CheckOverrides(const Policy& policy, const std::vector<std::string>& header_names,
                      const ParsedRequest* request);

// The alias's deployments that `policy` allows, in order: 404 model_not_found (unknown alias),
// 403 model_not_allowed (the policy's model globs), 403 no_eligible_deployment (naming the
// constraint that excluded each deployment, or a provider kind that does not serve the
// endpoint). With a `request`, a deployment whose estimated cost for it exceeds the policy's
// max_cost_per_request is excluded too.
Result<RoutePlan> PlanAlias(const Config& config, const Policy& policy, Endpoint endpoint, const std::string& model,
                            const ParsedRequest* request);

// The route of a request: the alias it asked for must exist and be allowed; then its first
// routing rule that the request matches and whose target the policy allows (RoutePlan::rule),
// else the alias's own deployments (PlanAlias).
Result<RoutePlan> PlanRoute(const Config& config, const Identity& who, const ParsedRequest& request);

// What CheckLimits counts against.
struct Limiters {
  RateLimiter* rate = nullptr;    // null = no rate limits
  SpendLedger* spend = nullptr;   // null = no budgets
  asio::thread_pool* pool = nullptr;  // a key's first budget look in a period reads the store here
};

// A spend that a budget bounds: the key's (the policy's `budgets`), and for each of the request's
// tags that the policy budgets (`budgets.per_tag`), the spend of that tag value shared by every
// key that sends it. Every request's cost is added to each (Finalize); limits of 0 bound nothing.
struct BudgetSubject {
  std::string id;   // the spend ledger's subject: a key id, or TagBudgetSubject()
  std::string who;  // for the refusal: "This key", "The team 'payments'"
  Policy::Budget limits;
};
std::vector<BudgetSubject> BudgetsOf(const Identity& who);

// Budgets (429 budget_exceeded, insufficient_quota, with Retry-After to the next period) then
// rate limits (429 rate_limit_exceeded, with Retry-After; the x-ratelimit-* headers are set on
// `client` either way). Takes one request and the estimated prompt tokens from the bucket;
// Finalize corrects the tokens with what was served.
asio::awaitable<Status> CheckLimits(const Limiters& limits, const Identity& who, const ParsedRequest& request,
                                    ClientExchange& client);

}  // namespace warden
