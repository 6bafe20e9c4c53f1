#include "common/error.h"

#include <nlohmann/json.hpp>

namespace warden {
namespace {
Error Make(ErrorKind kind, std::string type, std::string code, std::string message, ErrorSource source,
           bool retryable = false, std::string param = "") {
  Error e;
  e.kind = kind;
  e.type = std::move(type);
  e.code = std::move(code);
  e.message = std::move(message);
  e.param = std::move(param);
  e.source = source;
  e.retryable = retryable;
  return e;
}
}  // namespace

int HttpStatus(ErrorKind kind) {
  switch (kind) {
    case ErrorKind::kBadRequest: return 400;
    case ErrorKind::kUnauthorized: return 401;
    case ErrorKind::kForbidden: return 403;
    case ErrorKind::kNotFound: return 404;
    case ErrorKind::kMethodNotAllowed: return 405;
    case ErrorKind::kRequestTimeout: return 408;
    case ErrorKind::kConflict: return 409;
    case ErrorKind::kPayloadTooLarge: return 413;
    case ErrorKind::kUriTooLong: return 414;
    case ErrorKind::kUnsupportedMediaType: return 415;
    case ErrorKind::kUnprocessable: return 422;
    case ErrorKind::kTooManyRequests: return 429;
    case ErrorKind::kHeadersTooLarge: return 431;
    case ErrorKind::kInternal: return 500;
    case ErrorKind::kNotImplemented: return 501;
    case ErrorKind::kBadGateway: return 502;
    case ErrorKind::kUnavailable: return 503;
    case ErrorKind::kGatewayTimeout: return 504;
    case ErrorKind::kHttpVersion: return 505;
  }
  return 500;
}

ErrorKind KindOfStatus(int status) {
  for (ErrorKind k : {ErrorKind::kBadRequest, ErrorKind::kNotFound, ErrorKind::kConflict, ErrorKind::kPayloadTooLarge,
                      ErrorKind::kUnprocessable, ErrorKind::kTooManyRequests, ErrorKind::kRequestTimeout,
                      ErrorKind::kGatewayTimeout, ErrorKind::kUnavailable})
    if (HttpStatus(k) == status) return k;
  return ErrorKind::kBadGateway;
}

const char* StageName(Stage stage) {
  switch (stage) {
    case Stage::kBeforeUpstream: return "before_upstream";
    case Stage::kSentUpstream: return "sent_upstream";
    case Stage::kAnswerHead: return "answer_head";
    case Stage::kClientStarted: return "client_started";
  }
  return "unknown";
}

Error Error::BadRequest(std::string message, std::string param, std::string code) {
  return Make(ErrorKind::kBadRequest, "invalid_request_error", std::move(code), std::move(message),
              ErrorSource::kClient, false, std::move(param));
}
Error Error::Unauthorized(std::string message, std::string code) {
  return Make(ErrorKind::kUnauthorized, "invalid_request_error", std::move(code), std::move(message),
              ErrorSource::kClient);
}
Error Error::Forbidden(std::string message, std::string code, std::string param) {
  return Make(ErrorKind::kForbidden, "permission_error", std::move(code), std::move(message), ErrorSource::kClient,
              false, std::move(param));
}
Error Error::TooManyRequests(std::string message, std::string code, std::string type) {
  return Make(ErrorKind::kTooManyRequests, std::move(type), std::move(code), std::move(message), ErrorSource::kClient);
}
Error Error::NotFound(std::string message, std::string code, std::string param) {
  return Make(ErrorKind::kNotFound, "invalid_request_error", std::move(code), std::move(message),
              ErrorSource::kClient, false, std::move(param));
}
Error Error::MethodNotAllowed(std::string message) {
  return Make(ErrorKind::kMethodNotAllowed, "invalid_request_error", "method_not_allowed", std::move(message),
              ErrorSource::kClient);
}
Error Error::PayloadTooLarge(std::string message) {
  return Make(ErrorKind::kPayloadTooLarge, "invalid_request_error", "request_too_large", std::move(message),
              ErrorSource::kClient);
}
Error Error::RequestTimeout(std::string message) {
  return Make(ErrorKind::kRequestTimeout, "invalid_request_error", "request_timeout", std::move(message), ErrorSource::kClient);
}
Error Error::UnsupportedMediaType(std::string message) {
  return Make(ErrorKind::kUnsupportedMediaType, "invalid_request_error", "unsupported_media_type", std::move(message),
              ErrorSource::kClient);
}
Error Error::BadGateway(std::string message, std::string code, bool retryable) {
  return Make(ErrorKind::kBadGateway, "server_error", std::move(code), std::move(message), ErrorSource::kUpstream,
              retryable);
}
Error Error::GatewayTimeout(std::string message, std::string code, bool retryable) {
  return Make(ErrorKind::kGatewayTimeout, "server_error", std::move(code), std::move(message), ErrorSource::kUpstream,
              retryable);
}
Error Error::ServiceUnavailable(std::string message, std::string code, ErrorSource source) {
  return Make(ErrorKind::kUnavailable, "server_error", std::move(code), std::move(message), source);
}
Error Error::Internal(std::string message, std::string code) {
  return Make(ErrorKind::kInternal, "server_error", std::move(code), std::move(message), ErrorSource::kInternal);
}

std::string ErrorBody(const Error& error) {
  return ErrorJson(error).dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

nlohmann::ordered_json ErrorJson(const Error& error) {
  nlohmann::ordered_json body;
  body["error"]["message"] = error.message;
  body["error"]["type"] = error.type;
  body["error"]["code"] = error.code.empty() ? nlohmann::ordered_json() : nlohmann::ordered_json(error.code);
  body["error"]["param"] = error.param.empty() ? nlohmann::ordered_json() : nlohmann::ordered_json(error.param);
  return body;
}

}  // namespace warden
