// The early phases of a request, each a pure function of its inputs so a test can drive it
// without sockets: Authenticate (client key), Resolve policy, Parse (JSON body → canonical
// request), Check overrides, Route (model alias → the deployments the policy allows).
#pragma once

#include <string_view>

#include "common/result.h"
#include "config/config.h"
#include "gateway/request_context.h"
#include "keys/key_store.h"
#include "policy/policy.h"

namespace warden {

// The key in "Authorization: Bearer <key>" (a view into `authorization`; empty if absent).
Result<std::string_view> BearerToken(std::string_view authorization);
// Extracts the key from "Authorization: Bearer <key>" and checks it (may read the key store).
Result<KeyRecord> AuthenticatePhase(const KeyStore& keys, std::string_view authorization);

// The key's policy. A key naming a policy that does not exist is refused (403 policy_not_found):
// fail closed, never fall back to a wider one.
Result<const Policy*> ResolvePolicyPhase(const PolicySet& policies, const KeyRecord& key);

// Validates the body for ctx.endpoint and fills ctx.body, ctx.model and ctx.stream.
Status ParsePhase(RequestContext& ctx, std::string_view body);

// Refuses (403 override_not_allowed) any attempt by the client to steer what the policy
// decides: request headers named x-warden-*, and body fields that other gateways use to pick
// providers, regions or fallbacks or to switch redaction or logging (see kOverrideFields in
// phases.cc). Under zero retention, `store: true` is refused as well. `body` may be null
// (requests without a body).
Status CheckOverridesPhase(const Policy& policy, const std::vector<std::string>& header_names,
                           const Json* body);

// Fills ctx.alias and ctx.route with the alias's deployments that `policy` allows, in order.
// 404 model_not_found (unknown alias), 403 model_not_allowed (the policy's model globs), 403
// no_eligible_deployment (naming the constraint that excluded each deployment).
Status RoutePhase(const Config& config, const Policy& policy, RequestContext& ctx);

// A rough prompt-token estimate (4 bytes per token over the text the model will read), used to
// charge token rate limits before the provider reports the real figure.
int64_t EstimatePromptTokens(const Json& body);

}  // namespace warden
