// Error: what went wrong, where it came from, whether a retry may help, and how it is shown to
// an OpenAI-SDK client.
//
// Contract: an Error message is shown to clients and written to logs, so it must never contain a
// secret, a prompt or a response text. An Error says what went wrong (its kind), who caused it
// (source), how far the request had got (stage) and whether another attempt may help; its HTTP
// status follows from its kind alone (status()), never from where it was made. Factories below
// fix the kind, the OpenAI error `type` and a machine-readable `code`; ErrorBody() is the one
// place that renders the JSON.
#pragma once

#include <nlohmann/json.hpp>
#include <string>

namespace warden {

enum class ErrorSource {
  kClient,    // the downstream request was bad (4xx)
  kUpstream,  // the provider failed or answered with an error
  kInternal,  // a bug or a local resource failure
};

// What went wrong, in the terms of the HTTP status it is answered with (status()).
enum class ErrorKind {
  kBadRequest,            // 400
  kUnauthorized,          // 401
  kForbidden,             // 403
  kNotFound,              // 404
  kMethodNotAllowed,      // 405
  kRequestTimeout,        // 408
  kConflict,              // 409
  kPayloadTooLarge,       // 413
  kUriTooLong,            // 414
  kUnsupportedMediaType,  // 415
  kUnprocessable,         // 422
  kTooManyRequests,       // 429
  kHeadersTooLarge,       // 431
  kInternal,              // 500
  kNotImplemented,        // 501
  kBadGateway,            // 502
  kUnavailable,           // 503
  kGatewayTimeout,        // 504
  kHttpVersion,           // 505
};
int HttpStatus(ErrorKind kind);
// The kind a provider's HTTP status passed on to the client stands for (kBadGateway for
// anything without a kind of its own).
ErrorKind KindOfStatus(int status);

// How far a request had got when it failed: the failure hooks (gateway/finalize.h) and the
// retry decision (gateway/failover.h) are named by it. Forward stamps it on upstream errors.
enum class Stage {
  kBeforeUpstream,  // nothing was sent to a provider
  kSentUpstream,    // sent, no answer head
  kAnswerHead,      // the provider's answer head was received; nothing reached the client
  kClientStarted,   // the first byte went to the client: no retry, an error event ends the stream
};
const char* StageName(Stage stage);

struct Error {
  ErrorKind kind = ErrorKind::kInternal;
  std::string type = "server_error";  // OpenAI `error.type`
  std::string code;                   // OpenAI `error.code`, machine-readable
  std::string message;                // human-readable; never contains secrets or content
  std::string param;                  // OpenAI `error.param`, empty = null
  ErrorSource source = ErrorSource::kInternal;
  bool retryable = false;             // may another attempt (same or other deployment) help?
  Stage stage = Stage::kBeforeUpstream;
  std::string retry_after;            // seconds, sent as Retry-After with a 429 or 503; "" = none

  int status() const { return HttpStatus(kind); }

  static Error BadRequest(std::string message, std::string param = "",
                          std::string code = "invalid_request");
  static Error Unauthorized(std::string message, std::string code = "invalid_api_key");
  static Error Forbidden(std::string message, std::string code, std::string param = "");
  static Error TooManyRequests(std::string message, std::string code, std::string type);
  static Error NotFound(std::string message, std::string code = "not_found",
                        std::string param = "");
  static Error MethodNotAllowed(std::string message);
  static Error PayloadTooLarge(std::string message);
  // 408 request_timeout: the client was too slow sending its request (head or body).
  static Error RequestTimeout(std::string message);
  static Error UnsupportedMediaType(std::string message);
  static Error BadGateway(std::string message, std::string code = "upstream_error",
                          bool retryable = true);
  static Error GatewayTimeout(std::string message, std::string code = "upstream_timeout",
                              bool retryable = true);
  // `source`: the gateway itself (a store, the audit log) or the providers (every deployment
  // failed or is resting).
  static Error ServiceUnavailable(std::string message, std::string code = "unavailable",
                                  ErrorSource source = ErrorSource::kInternal);
  static Error Internal(std::string message, std::string code = "internal_error");
};

// The OpenAI-shaped body: {"error":{"message":…,"type":…,"code":…,"param":…}}, as JSON and as
// text.
nlohmann::ordered_json ErrorJson(const Error& error);
std::string ErrorBody(const Error& error);

}  // namespace warden
