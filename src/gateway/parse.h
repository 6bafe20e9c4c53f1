// Parse: the request body, validated like the API it imitates and brought to the canonical form
// (OpenAI chat completions, or embeddings). Pure: no I/O, no policy — what the policy makes of
// the request is Check policy's (check_policy.h).
#pragma once

#include <string_view>

#include "common/json.h"
#include "common/result.h"
#include "gateway/request.h"

namespace warden {

struct ParsedBody {
  ParsedRequest request;
  Json body;  // canonical; Redact consumes it
};

// 400 with the offending `param` for a body the endpoint's API would refuse (invalid_json,
// json_too_deep, a missing or mistyped field). An Anthropic Messages body is translated to the
// canonical form; the steering fields it carried are noted before translation drops them.
Result<ParsedBody> Parse(Endpoint endpoint, std::string_view text);

// A rough prompt-token estimate (4 bytes per token over the text the model will read), used to
// charge token rate limits before the provider reports the real figure.
int64_t EstimatePromptTokens(const Json& body);

}  // namespace warden
