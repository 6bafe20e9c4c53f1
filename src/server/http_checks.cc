#include "server/http_checks.h"

#include <algorithm>

namespace warden {
namespace {

bool IsTokenChar(unsigned char c) {
  if (c >= '0' && c <= '9') return true;
  if ((c | 0x20) >= 'a' && (c | 0x20) <= 'z') return true;
  for (char t : std::string_view("!#$%&'*+-.^_`|~"))
    if (c == static_cast<unsigned char>(t)) return true;
  return false;
}

Error Bad(const std::string& message) { return Error::BadRequest(message, "", "bad_http_request"); }

}  // namespace

std::optional<Error> CheckHeadFraming(std::string_view head) {
  // Only the head: the body (e.g. indented JSON) may hold anything. The head ends at the first
  // empty line, CRLF or bare LF (which the parser also accepts).
  size_t end = head.find("\r\n\r\n");
  if (end != std::string_view::npos) end += 2;
  if (const size_t lf = head.find("\n\n"); lf != std::string_view::npos && lf + 1 < end) end = lf + 1;
  if (end != std::string_view::npos) head = head.substr(0, end);
  for (size_t i = 0; i < head.size(); ++i) {
    if (head[i] == '\r' && (i + 1 == head.size() || head[i + 1] != '\n'))
      return Bad("A line of the request head has a CR that is not followed by LF.");
    if (head[i] == '\n' && i + 1 < head.size() && (head[i + 1] == ' ' || head[i + 1] == '\t'))
      return Bad("A header line starts with a space or tab (obsolete line folding is not accepted).");
  }
  return std::nullopt;
}

std::optional<Error> CheckRequestHead(std::string_view version, const HeaderList& headers) {
  if (version != "HTTP/1.1" && version != "HTTP/1.0") {
    Error e = Error::BadRequest("Only HTTP/1.1 and HTTP/1.0 are supported.", "", "http_version_not_supported");
    e.kind = ErrorKind::kHttpVersion;
    return e;
  }
  int content_length = 0, transfer_encoding = 0, host = 0;
  std::string_view coding;
  for (const auto& [name, value] : headers) {
    if (name.empty()) return Bad("A header has an empty name.");
    for (unsigned char c : name)
      if (!IsTokenChar(c)) return Bad("A header name has a character HTTP does not allow (a space before the colon?).");
    for (unsigned char c : value)
      if ((c < 0x20 && c != '\t') || c == 0x7f) return Bad("A header value has a control character.");
    if (IEquals(name, "Content-Length")) {
      ++content_length;
      const std::string_view v = TrimOws(value);
      if (v.empty() || v.size() > 18) return Bad("The Content-Length header is empty or too long.");
      for (char c : v)
        if (c < '0' || c > '9') return Bad("The Content-Length header must be a number of bytes.");
    } else if (IEquals(name, "Transfer-Encoding")) {
      ++transfer_encoding;
      coding = TrimOws(value);
    } else if (IEquals(name, "Host")) {
      ++host;
    }
  }
  if (content_length > 1) return Bad("The request has more than one Content-Length header.");
  if (transfer_encoding > 1) return Bad("The request has more than one Transfer-Encoding header.");
  if (content_length && transfer_encoding)
    return Bad("The request has both Content-Length and Transfer-Encoding; send only one.");
  if (transfer_encoding && !IEquals(coding, "chunked")) {
    Error e = Error::BadRequest("Only the chunked transfer coding is supported.", "", "unsupported_transfer_encoding");
    e.kind = ErrorKind::kNotImplemented;
    return e;
  }
  if (version == "HTTP/1.1" && host != 1) return Bad("An HTTP/1.1 request needs exactly one Host header.");
  return std::nullopt;
}

Error HeadParseError(HeadProblem problem) {
  if (problem == HeadProblem::kFieldsTooLarge) {
    Error e = Bad("The request's header section is too large (see server.max_header_size; at most 100 fields of 8 KiB each).");
    e.code = "request_header_fields_too_large";
    e.kind = ErrorKind::kHeadersTooLarge;
    return e;
  }
  if (problem == HeadProblem::kUriTooLong) {
    Error e = Bad("The request line is malformed or its URI is too long (at most 16 KiB).");
    e.code = "uri_too_long";
    e.kind = ErrorKind::kUriTooLong;
    return e;
  }
  return Bad("The HTTP request is malformed.");
}

}  // namespace warden
