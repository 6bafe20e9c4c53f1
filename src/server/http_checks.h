// Strict HTTP/1.1 request-head checks, applied before a request reaches any handler (so before
// authentication): framing that two parsers could read differently is refused, as HAProxy and
// Envoy do, because a proxy in front of Warden might read it the other way (request smuggling).
//
// Contract (RFC 9112 §6.3, §3.2, RFC 9110 §5.5): refused with 400 — Content-Length together with
// Transfer-Encoding; more than one Content-Length (even equal ones) or Transfer-Encoding
// header; a Content-Length that is not 1–18 digits; a header name that is not a token (e.g. a
// space before the colon); a field value with a control character other than HTAB; an
// HTTP/1.1 request without exactly one Host. Refused with 501: a transfer coding other than
// `chunked`. Pure functions; thread-safe.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "common/error.h"
#include "common/http1.h"  // ChunkedDecoder

namespace warden {

using HeaderList = std::vector<std::pair<std::string, std::string>>;

// Also: a version other than HTTP/1.0 or HTTP/1.1 → 505 (the answer's status line says
// HTTP/1.1; a client's version is never echoed).
std::optional<Error> CheckRequestHead(std::string_view version, const HeaderList& headers);

// Checks the raw bytes of a request head (request line through the blank line) for framing the
// parser would silently repair: a CR not followed by LF (400, not the parser's 431), and
// obsolete line folding — a header line starting with a space or tab (400, RFC 9112 §5.2).
std::optional<Error> CheckHeadFraming(std::string_view head);

// The error for a request head the parser (http_head.h) rejected: a head, field or field count
// over its limit → 431, a request line or target too long → 414, anything else → 400.
enum class HeadProblem { kMalformed, kFieldsTooLarge, kUriTooLong };
Error HeadParseError(HeadProblem problem);

}  // namespace warden
