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
#include "limits/limits.h"
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

// The spends a request's cost is added to (limits/limits.h): the key's (the policy's `budgets`),
// and for each of the request's tags that the policy budgets (`budgets.per_tag`), the spend of
// that tag value shared by every key that sends it. Limits of 0 bound nothing.
std::vector<BudgetSubject> BudgetsOf(const Identity& who);

// Budgets (429 budget_exceeded, insufficient_quota, with Retry-After to the next period; 503
// budget_unavailable when a strict budget's shared spend cannot be read) then rate limits (429
// rate_limit_exceeded, with Retry-After; the x-ratelimit-* headers are set on `client` either
// way). Takes one request and the estimated prompt tokens from the bucket, and may reserve the
// request's estimated cost on its budgets (*reserved, set once the budgets pass: Finalize
// settles it, also when the rate limit then refuses). `limits` null = none.
asio::awaitable<Status> CheckLimits(Limits* limits, const Identity& who, const ParsedRequest& request,
                                    const RoutePlan& plan, ClientExchange& client, std::optional<Picos>* reserved);

}  // namespace warden
