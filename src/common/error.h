// Error: what went wrong, where it came from, whether a retry may help, and how it is shown to
// an OpenAI-SDK client.
//
// Contract: an Error message is shown to clients and written to logs, so it must never contain a
// secret, a prompt or a response text. Factories below fix the HTTP status, the OpenAI error
// `type` and a machine-readable `code`; ErrorBody() is the one place that renders the JSON.
#pragma once

#include <nlohmann/json.hpp>
#include <string>

namespace warden {

enum class ErrorSource {
  kClient,    // the downstream request was bad (4xx)
  kUpstream,  // the provider failed or answered with an error
  kInternal,  // a bug or a local resource failure
};

struct Error {
  int status = 500;
  std::string type = "server_error";  // OpenAI `error.type`
  std::string code;                   // OpenAI `error.code`, machine-readable
  std::string message;                // human-readable; never contains secrets or content
  std::string param;                  // OpenAI `error.param`, empty = null
  ErrorSource source = ErrorSource::kInternal;
  bool retryable = false;             // may another attempt (same or other deployment) help?

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
  static Error ServiceUnavailable(std::string message, std::string code = "unavailable");
  static Error Internal(std::string message, std::string code = "internal_error");
};

// The OpenAI-shaped body: {"error":{"message":…,"type":…,"code":…,"param":…}}, as JSON and as
// text.
nlohmann::ordered_json ErrorJson(const Error& error);
std::string ErrorBody(const Error& error);

}  // namespace warden
