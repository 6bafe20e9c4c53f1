// The request head of HTTP/1.1 as the server reads it off the wire, and the status line and
// fields of its answers.
//
// Contract: ParseRequestHead() takes the bytes of one head (request line through the empty
// line, CRLF or bare LF line ends; CheckHeadFraming has already refused bare CRs and folding)
// and splits it without judging the fields' contents — CheckRequestHead (http_checks.h) does
// that. It refuses what no request can be: a request line without three parts (400), a target
// over 16 KiB (414), more than 100 fields, a name over 256 bytes or a value over 8 KiB (431),
// a line without a colon (400). Header names keep their spelling (a space before the colon
// stays part of the name, for CheckRequestHead to refuse). Pure functions; thread-safe.
#pragma once

#include <string>
#include <string_view>

#include "common/result.h"
#include "common/http1.h"
#include "server/http_checks.h"

namespace warden {

struct RequestHead {
  std::string method;
  std::string target;   // as sent: path and query
  std::string version;  // "HTTP/1.1", "HTTP/1.0", or whatever the client wrote
  HeaderList headers;

  // The first field of that name (case-insensitive), or nullptr.
  const std::string* Find(std::string_view name) const;
  bool http10() const { return version == "HTTP/1.0"; }
  // HTTP/1.1 unless `Connection: close`; HTTP/1.0 only with `Connection: keep-alive`.
  bool keep_alive() const;
  bool chunked() const;                   // Transfer-Encoding: chunked (checked already)
  int64_t content_length() const;         // -1 if absent (checked already: digits only)
  bool expects_continue() const;          // Expect: 100-continue, HTTP/1.1
};

inline constexpr size_t kMaxTargetBytes = 16 * 1024;
inline constexpr size_t kMaxHeaderFields = 100;
inline constexpr size_t kMaxFieldNameBytes = 256;
inline constexpr size_t kMaxFieldValueBytes = 8 * 1024;

Result<RequestHead> ParseRequestHead(std::string_view head);

// The reason phrase of a status code ("OK", "Not Found", …; "" for codes it does not know).
std::string_view ReasonPhrase(int status);

// The current time as an IMF-fixdate ("Sat, 05 Dec 2026 01:28:02 GMT"), cached per second.
std::string HttpDate();

}  // namespace warden
