// ProviderAdapter: translation between Warden's canonical request/response (OpenAI chat
// completions and embeddings, as the client's SDK sent them) and one provider kind's wire format.
//
// Contract: adapters translate bytes only — no I/O, no clocks beyond a `created` timestamp, no
// shared state — so each is tested with golden files. BuildRequest() is the only place a
// provider credential is attached, and only to the provider's configured host. Responses come
// back as canonical `chat.completion` objects; streams through a StreamDecoder as canonical
// `chat.completion.chunk` objects, usage last in a chunk of its own with empty `choices` (the
// OpenAI `stream_options.include_usage` shape). Provider error answers become an Error whose
// `retryable` says whether another attempt may help (429, 5xx, 529 and overload: yes; 400, 401,
// 403, 404, 422: no); provider text in it is scrubbed of the credential. All functions are
// thread-safe (the adapters are stateless); a StreamDecoder belongs to one stream.
#pragma once

#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "common/json.h"
#include "common/result.h"
#include "config/config.h"
#include "providers/sse.h"
#include "providers/upstream.h"

namespace warden {

enum class Operation { kChat, kEmbeddings };

class StreamDecoder {
 public:
  virtual ~StreamDecoder() = default;
  // One upstream event → zero or more canonical chunks appended to `out`. A malformed event is
  // 502 upstream_malformed_event; an error event from the provider is upstream_stream_error
  // (retryable: nothing of this stream may have reached the client yet — the caller decides).
  virtual Status Decode(const SseEvent& event, std::vector<Json>& out) = 0;
  // True once the provider has signalled a complete answer; later events are ignored.
  virtual bool complete() const = 0;
  // The upstream body ended. May append final chunks (for providers that end a stream by
  // closing it); an error if the answer was not complete (upstream_stream_cut).
  virtual Status Finish(std::vector<Json>& out) = 0;
};

class ProviderAdapter {
 public:
  virtual ~ProviderAdapter() = default;
  virtual bool Supports(Operation op) const = 0;
  // `body` is canonical, its "model" already the deployment's model name. A request this
  // provider kind cannot express is a 400 naming the field.
  virtual Result<UpstreamRequest> BuildRequest(const ProviderConfig& provider, Operation op,
                                               const Json& body) const = 0;
  // A successful (200) answer → canonical. Fails with 502 upstream_invalid_response, or with the
  // provider's refusal (e.g. a blocked prompt) as a client error.
  virtual Result<Json> TranslateResponse(Operation op, const Json& body) const = 0;
  virtual std::unique_ptr<StreamDecoder> NewStreamDecoder() const = 0;
  // A non-200 answer → the Error the client sees.
  virtual Error TranslateError(const ProviderConfig& provider, int status,
                               std::string_view body) const = 0;
};

const ProviderAdapter& AdapterFor(ProviderKind kind);

// Shared by the adapters.

// Makes a provider's own error text fit to show a client: removes the provider credential, the
// provider's configured host (with its port) and every URL (an internal address, a signed
// link), so an error never tells a client where or how a provider is reached.
std::string ScrubProviderText(const ProviderConfig& provider, std::string text);

// The one status → Error mapping for provider answers: 401/403 become 502 upstream_auth_failed
// (the operator's credential, not the client's); 400/404/409/413/422 pass through as the
// client's to fix; 429 passes through, retryable; 408, 5xx and 529 are retryable 502s.
// `message`, `type`, `code`, `param` are what the provider's error body said (may be empty).
Error ProviderError(const ProviderConfig& provider, int status, std::string message,
                    const std::string& type, const std::string& code, const std::string& param);

// Canonical building blocks.
Json CanonicalCompletion(const std::string& id, const std::string& model, Json message,
                         const std::string& finish_reason, const Json& usage);
Json CanonicalChunk(const std::string& id, const std::string& model, Json delta,
                    const Json& finish_reason = nullptr);
Json CanonicalUsageChunk(const std::string& id, const std::string& model, const Json& usage);
Json CanonicalUsage(int64_t prompt, int64_t completion, int64_t cached_prompt = 0);
// A message's `content` as plain text: a string, or the text parts of an array joined.
std::string ContentText(const Json& content);
// "data:<mime>;base64,<data>" → {mime, data}; false if `url` is not a base64 data URL.
bool ParseDataUrl(const std::string& url, std::string& mime, std::string& data);
std::string NewCallId();  // "call_" + random hex, for providers whose tool calls carry no id
// 400 unsupported_parameter: "<what> is not supported by <kind> deployments."
Error UnsupportedBy(ProviderKind kind, const std::string& what, const std::string& param);
// Appends `items` to the `field` list of the last turn in `turns` when that turn has `role`,
// else as a new turn {role, field: items}: the Anthropic and Gemini APIs want user and
// assistant/model turns to alternate, while OpenAI allows consecutive messages of a role.
void AppendTurn(Json& turns, const char* role, const char* field, Json items);

// A canonical conversation as the Anthropic and Gemini adapters consume it: system and
// developer messages joined into one instruction, the others as turns. An unknown role is a
// 400 naming the provider kind.
struct ChatTurn {
  enum class Role { kUser, kAssistant, kTool } role = Role::kUser;
  Json content;               // user: the content as sent (a string or a list of parts)
  std::string text;           // assistant: its text; tool: the result's text
  Json tool_calls = Json::array();  // assistant: OpenAI tool_calls
  std::string tool_call_id;   // tool
};
struct ChatMessages {
  std::string system;
  std::vector<ChatTurn> turns;
};
Result<ChatMessages> SplitMessages(ProviderKind kind, const Json& body);

// Anthropic content blocks, shared by the anthropic adapter and the /v1/messages ingress.
// Text blocks → `text` (concatenated), tool_use blocks → OpenAI `tool_calls` entries, thinking
// blocks skipped; returns the type of the first other block ("" if none).
std::string ReadAnthropicBlocks(const Json& blocks, std::string& text, Json& tool_calls);
// An OpenAI tool call → an Anthropic tool_use block (arguments parsed; not an object → {}).
Json AnthropicToolUse(const Json& tool_call);

Error MalformedEvent();
Error StreamCut();
Error InvalidResponse(const std::string& what);

}  // namespace warden
