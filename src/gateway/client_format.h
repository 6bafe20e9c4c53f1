// ClientFormat: the API dialect the client speaks, on the way in and on the way out. Warden's
// canonical request and answer are OpenAI chat completions; a client of the Anthropic Messages
// API (`POST /v1/messages`) is translated into that on the way in and back on the way out, so
// the Anthropic SDK works against any provider kind.
//
// Contract: pure translation, no I/O. MessagesToCanonical() validates like the Messages API
// (model, max_tokens and messages are required) and answers what it cannot express with a 400
// naming the field. A StreamEncoder turns canonical chunks into the client's events; the bytes
// that complete a stream (OpenAI `[DONE]`; Anthropic `message_delta` + `message_stop`) come only
// from End(), which the caller sends after the outcome is durable. Not thread-safe per encoder.
#pragma once

#include <memory>
#include <string>

#include "common/json.h"
#include "common/result.h"

namespace warden {

enum class Ingress { kOpenAI, kAnthropic };

// An Anthropic Messages request → the canonical (OpenAI chat completions) body.
Result<Json> MessagesToCanonical(const Json& request);

// The error body for the client's dialect (OpenAI {"error":{…}}; Anthropic
// {"type":"error","error":{"type","message"}}) and the stream event that carries it.
std::string ClientErrorBody(Ingress ingress, const Error& error);
std::string ClientErrorEvent(Ingress ingress, const Error& error);

// A canonical chat.completion → the client's answer (unchanged for OpenAI clients).
Json ClientResponse(Ingress ingress, Json completion);

class StreamEncoder {
 public:
  virtual ~StreamEncoder() = default;
  // The bytes for one canonical chunk (may be empty, e.g. a usage chunk that is remembered).
  virtual std::string Chunk(const Json& chunk) = 0;
  // The bytes that complete the stream.
  virtual std::string End() = 0;
};

// `model` is the alias the client asked for (what its answer names).
std::unique_ptr<StreamEncoder> NewStreamEncoder(Ingress ingress, const std::string& model);

}  // namespace warden
