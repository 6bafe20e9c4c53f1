// EchoUpstream: the built-in `echo` provider kind. It answers OpenAI-format requests locally,
// with no network and no credential, so the quick start works out of the box and the test suite
// can drive the whole pipeline (including SSE streaming) without a provider.
//
// Behaviour: chat completions answer with the text of the last user message; streaming sends it
// word by word as chat.completion.chunk events, a usage chunk when
// stream_options.include_usage is true, then [DONE]. Embeddings are deterministic unit vectors
// derived from a hash of each input (8 dimensions, or `dimensions`), as floats or base64.
// Token counts are estimates (one token per 4 bytes). Thread-safe (stateless).
#pragma once

#include "providers/upstream.h"

namespace warden {

class EchoUpstream : public UpstreamClient {
 public:
  asio::awaitable<Result<std::unique_ptr<UpstreamExchange>>> Send(const UpstreamRequest& request) override;
};

}  // namespace warden
