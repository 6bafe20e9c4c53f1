#include "gateway/check_policy.h"

#include <optional>

#include "common/util.h"
#include "common/offload.h"
#include "providers/adapter.h"

namespace warden {
namespace {

// The rate limiter's answer as the x-ratelimit-* headers OpenAI sends.
void SetRateHeaders(ClientExchange& client, const RateState& st) {
  if (st.limit_requests > 0) {
    client.SetHeader("x-ratelimit-limit-requests", std::to_string(st.limit_requests));
    client.SetHeader("x-ratelimit-remaining-requests", std::to_string(st.remaining_requests));
    client.SetHeader("x-ratelimit-reset-requests", FormatResetDuration(st.reset_requests_ms));
  }
  if (st.limit_tokens > 0) {
    client.SetHeader("x-ratelimit-limit-tokens", std::to_string(st.limit_tokens));
    client.SetHeader("x-ratelimit-remaining-tokens", std::to_string(st.remaining_tokens));
    client.SetHeader("x-ratelimit-reset-tokens", FormatResetDuration(st.reset_tokens_ms));
  }
}

}  // namespace

Status CheckOverrides(const Policy& policy, const std::vector<std::string>& header_names,
                      const ParsedRequest* request) {
  for (const auto& name : header_names) {
    // x-warden-tags attributes the request (checked against the policy's tags by Authenticate);
    // every other x-warden-* header would be an attempt to steer.
    if (name.rfind("x-warden-", 0) == 0 && name != kTagsHeader)
      return Error::Forbidden("Header '" + name + "' is not accepted: a request cannot change what "
                              "its key's policy decides.", "override_not_allowed");
  }
  if (!request) return Status::Ok();
  if (!request->override_field.empty())
    return Error::Forbidden("Field '" + request->override_field + "' is not accepted: a request cannot "
                            "change what its key's policy decides.", "override_not_allowed",
                            request->override_field);
  if (policy.zero_retention && request->asks_store)
    return Error::Forbidden("'store: true' is not allowed under the zero-retention policy '" +
                                policy.name + "'.", "override_not_allowed", "store");
  return Status::Ok();
}

Result<RoutePlan> PlanAlias(const Config& config, const Policy& policy, Endpoint endpoint, const std::string& model,
                            const ParsedRequest* request) {
  RoutePlan plan;
  plan.alias = config.FindModel(model);
  if (!plan.alias || plan.alias->deployments.empty())
    return Error::NotFound("The model '" + model + "' does not exist or you do not have access to it.",
                           "model_not_found", "model");
  if (!policy.ModelAllowed(model))
    return Error::Forbidden("The model '" + model + "' is not allowed by this key's policy '" +
                                policy.name + "'.", "model_not_allowed", "model");
  std::string excluded;
  for (const Deployment& d : plan.alias->deployments) {
    const ProviderConfig* p = config.FindProvider(d.provider);
    if (!p) return Error::Internal("the route names an unknown provider");
    std::string why = policy.Excludes(*p);
    if (why.empty() && !AdapterFor(p->kind).Supports(OperationOf(endpoint)))
      why = std::string("provider kind ") + ProviderKindName(p->kind) + " does not serve this endpoint";
    if (why.empty() && request && policy.max_cost_per_request > 0 &&
        PriceOf(*p, d).Cost(request->estimated_prompt_tokens, 0, request->max_tokens) > policy.max_cost_per_request)
      why = "max_cost_per_request";
    if (why.empty()) {
      plan.targets.push_back({&d, p, DeploymentName(*p, d)});
    } else if (excluded.find(why) == std::string::npos) {
      excluded += (excluded.empty() ? "" : ", ") + why;
    }
  }
  if (plan.targets.empty())
    return Error::Forbidden("No deployment of '" + model + "' satisfies the policy '" +
                                policy.name + "' (excluded by: " + excluded + ").",
                            "no_eligible_deployment", "model");
  return plan;
}

namespace {

bool Matches(const RouteRule& r, const ParsedRequest& q, const Tags& tags) {
  const int64_t prompt = q.estimated_prompt_tokens;
  return (r.min_prompt_tokens < 0 || prompt >= r.min_prompt_tokens) &&
         (r.max_prompt_tokens < 0 || prompt <= r.max_prompt_tokens) &&
         (r.min_max_tokens < 0 || q.max_tokens >= r.min_max_tokens) &&
         (r.max_max_tokens < 0 || q.max_tokens <= r.max_max_tokens) &&
         (r.tools < 0 || q.has_tools == (r.tools == 1)) && (r.images < 0 || q.has_images == (r.images == 1)) &&
         (r.tag_name.empty() || TagValue(tags, r.tag_name) == r.tag_value);
}

}  // namespace

Result<RoutePlan> PlanRoute(const Config& config, const Identity& who, const ParsedRequest& request) {
  const Policy& policy = *who.policy;
  // The alias asked for must exist and be allowed, whatever its rules would do.
  const ModelAlias* alias = config.FindModel(request.model);
  if (!alias || !policy.ModelAllowed(request.model))
    return PlanAlias(config, policy, request.endpoint, request.model, &request);  // its 404 / 403
  for (const RouteRule& rule : alias->rules) {
    if (!Matches(rule, request, who.tags)) continue;
    // The policy bounds every rule: a target it does not allow, or whose deployments it
    // excludes, is passed over for the next rule and, at the end, the alias's own deployments.
    auto target = PlanAlias(config, policy, request.endpoint, rule.use, &request);
    if (!target) continue;
    target->rule = &rule;
    return target;
  }
  return PlanAlias(config, policy, request.endpoint, request.model, &request);
}

std::vector<BudgetSubject> BudgetsOf(const Identity& who) {
  const Policy& policy = *who.policy;
  std::vector<BudgetSubject> out;
  // The key's own spend is always counted (the admin API shows it), budget or not.
  out.push_back({who.key_id, "This key", {policy.budget_per_day, policy.budget_per_month}, policy.strict_budgets});
  for (const auto& [name, value] : who.tags) {
    auto b = policy.tag_budgets.find(name);
    if (b != policy.tag_budgets.end())
      out.push_back({TagBudgetSubject(name, value), "The " + name + " '" + value + "'", b->second, policy.strict_budgets});
  }
  return out;
}

asio::awaitable<Status> CheckLimits(Limits* limits, const Identity& who, const ParsedRequest& request,
                                    const RoutePlan& plan, ClientExchange& client, std::optional<Picos>* reserved) {
  if (!limits) co_return Status::Ok();
  const Policy& policy = *who.policy;
  const bool budgeted = policy.budget_per_day > 0 || policy.budget_per_month > 0 || !policy.tag_budgets.empty();
  if (budgeted) {
    // What this request may cost at its first deployment's prices: its prompt, and max_tokens
    // of answer when it sets one.
    const RouteTarget& first = plan.targets.front();
    const Picos estimate =
        PriceOf(*first.provider, *first.deployment).Cost(request.estimated_prompt_tokens, 0, request.max_tokens);
    const std::vector<BudgetSubject> budgets = BudgetsOf(who);
    const Result<BudgetCheck> check = co_await limits->CheckBudgets(budgets, estimate);
    if (!check) co_return check.error();
    if (check->over >= 0) {
      const BudgetSubject& b = budgets[static_cast<size_t>(check->over)];
      const bool month = check->month;
      Error e = Error::TooManyRequests(b.who + " has used its " + (month ? "monthly" : "daily") + " budget of $" +
                                           FormatUsd(month ? b.limits.per_month : b.limits.per_day) + ".",
                                       "budget_exceeded", "insufficient_quota");
      e.retry_after = std::to_string(month ? check->spend.seconds_to_next_month : check->spend.seconds_to_next_day);
      co_return e;
    }
    *reserved = check->reserved;
  }
  if (policy.requests_per_minute > 0 || policy.tokens_per_minute > 0) {
    const RateState st = co_await limits->Admit(who.key_id, {policy.requests_per_minute, policy.tokens_per_minute},
                                                request.estimated_prompt_tokens);
    SetRateHeaders(client, st);
    if (!st.allowed) {
      const std::string after = std::to_string((st.retry_after_ms + 999) / 1000);
      Error e = Error::TooManyRequests("Rate limit reached for " + st.exceeded + " per minute on this key (policy '" +
                                           policy.name + "'). Retry after " + after + "s.",
                                       "rate_limit_exceeded", "rate_limit_error");
      e.retry_after = after;
      co_return e;
    }
  }
  co_return Status::Ok();
}

}  // namespace warden
