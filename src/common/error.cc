#include "common/error.h"

#include <nlohmann/json.hpp>

namespace warden {
namespace {
Error Make(int status, std::string type, std::string code, std::string message, ErrorSource source,
           bool retryable = false, std::string param = "") {
  Error e;
  e.status = status;
  e.type = std::move(type);
  e.code = std::move(code);
  e.message = std::move(message);
  e.param = std::move(param);
  e.source = source;
  e.retryable = retryable;
  return e;
}
}  // namespace

Error Error::BadRequest(std::string message, std::string param, std::string code) {
  return Make(400, "invalid_request_error", std::move(code), std::move(message),
              ErrorSource::kClient, false, std::move(param));
}
Error Error::Unauthorized(std::string message, std::string code) {
  return Make(401, "invalid_request_error", std::move(code), std::move(message),
              ErrorSource::kClient);
}
Error Error::Forbidden(std::string message, std::string code, std::string param) {
  return Make(403, "permission_error", std::move(code), std::move(message), ErrorSource::kClient,
              false, std::move(param));
}
Error Error::TooManyRequests(std::string message, std::string code, std::string type) {
  return Make(429, std::move(type), std::move(code), std::move(message), ErrorSource::kClient);
}
Error Error::NotFound(std::string message, std::string code, std::string param) {
  return Make(404, "invalid_request_error", std::move(code), std::move(message),
              ErrorSource::kClient, false, std::move(param));
}
Error Error::MethodNotAllowed(std::string message) {
  return Make(405, "invalid_request_error", "method_not_allowed", std::move(message),
              ErrorSource::kClient);
}
Error Error::PayloadTooLarge(std::string message) {
  return Make(413, "invalid_request_error", "request_too_large", std::move(message),
              ErrorSource::kClient);
}
Error Error::RequestTimeout(std::string message) {
  return Make(408, "invalid_request_error", "request_timeout", std::move(message), ErrorSource::kClient);
}
Error Error::UnsupportedMediaType(std::string message) {
  return Make(415, "invalid_request_error", "unsupported_media_type", std::move(message),
              ErrorSource::kClient);
}
Error Error::BadGateway(std::string message, std::string code, bool retryable) {
  return Make(502, "server_error", std::move(code), std::move(message), ErrorSource::kUpstream,
              retryable);
}
Error Error::GatewayTimeout(std::string message, std::string code, bool retryable) {
  return Make(504, "server_error", std::move(code), std::move(message), ErrorSource::kUpstream,
              retryable);
}
Error Error::ServiceUnavailable(std::string message, std::string code) {
  return Make(503, "server_error", std::move(code), std::move(message), ErrorSource::kInternal);
}
Error Error::Internal(std::string message, std::string code) {
  return Make(500, "server_error", std::move(code), std::move(message), ErrorSource::kInternal);
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
