// The `openai` provider kind: OpenAI and every OpenAI-compatible API (Mistral, DeepSeek, Groq,
// Together, vLLM, Ollama, …). Translates bytes only; no I/O.
//
// Contract: BuildRequest() takes the canonical (OpenAI-shaped) request body, already carrying
// the deployment's model name, and produces the UpstreamRequest for `provider` — the only place
// the provider credential is attached. TranslateError() turns a provider's error answer into the
// Error the client sees: the provider's own authentication failures become 502 (they are the
// operator's problem, and their messages may quote part of the provider key), and any text the
// provider sends back is scrubbed of the credential before it is shown.
#pragma once

#include <string>
#include <string_view>

#include "common/json.h"
#include "config/config.h"
#include "providers/upstream.h"

namespace warden {

// `endpoint` is the path below the API root, e.g. "/chat/completions" or "/embeddings".
UpstreamRequest BuildOpenAIRequest(const ProviderConfig& provider, std::string_view endpoint,
                                   const Json& body);

Error TranslateOpenAIError(const ProviderConfig& provider, int status, std::string_view body);

// Removes every occurrence of the provider credential from `text`.
std::string ScrubCredential(const ProviderConfig& provider, std::string text);

}  // namespace warden
