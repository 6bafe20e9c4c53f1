// The early phases of a request, each a pure function of its inputs so a test can drive it
// without sockets: Authenticate (client key), Parse (JSON body → canonical request), Route
// (model alias → deployment). Policy checks and redaction slot in between Parse and Route.
#pragma once

#include <string_view>

#include "common/result.h"
#include "config/config.h"
#include "gateway/request_context.h"
#include "keys/key_store.h"

namespace warden {

// Extracts the key from "Authorization: Bearer <key>" and checks it.
Result<KeyRecord> AuthenticatePhase(const KeyStore& keys, std::string_view authorization);

// Validates the body for ctx.endpoint and fills ctx.body, ctx.model and ctx.stream.
Status ParsePhase(RequestContext& ctx, std::string_view body);

// Resolves ctx.model to its first deployment: 404 model_not_found for an unknown alias.
Status RoutePhase(const Config& config, RequestContext& ctx);

}  // namespace warden
