#include "server/http_head.h"

#include <ctime>

namespace warden {

const std::string* RequestHead::Find(std::string_view name) const {
  for (const auto& [n, v] : headers)
    if (IEquals(n, name)) return &v;
  return nullptr;
}

bool RequestHead::keep_alive() const {
  const std::string* c = Find("Connection");
  if (http10()) return c && ListHasToken(*c, "keep-alive");
  return !(c && ListHasToken(*c, "close"));
}

bool RequestHead::chunked() const {
  const std::string* te = Find("Transfer-Encoding");
  return te && IEquals(TrimOws(*te), "chunked");
}

int64_t RequestHead::content_length() const {
  const std::string* cl = Find("Content-Length");
  if (!cl) return -1;
  int64_t n = 0;
  for (char c : TrimOws(*cl)) {
    if (c < '0' || c > '9') return -1;
    n = n * 10 + (c - '0');
  }
  return n;
}

bool RequestHead::expects_continue() const {
  const std::string* e = Find("Expect");
  return !http10() && e && IEquals(TrimOws(*e), "100-continue");
}

Result<RequestHead> ParseRequestHead(std::string_view head) {
  head.remove_prefix(SkipLeadingEmptyLines(head));
  RequestHead out;
  std::string_view line = TakeLine(head);
  const size_t sp1 = line.find(' ');
  const size_t sp2 = sp1 == std::string_view::npos ? sp1 : line.find(' ', sp1 + 1);
  if (sp1 != std::string_view::npos && sp2 == std::string_view::npos && line.size() - sp1 - 1 > kMaxTargetBytes)
    return HeadParseError(HeadProblem::kUriTooLong);
  if (sp1 == 0 || sp2 == std::string_view::npos || sp2 == sp1 + 1 || line.find(' ', sp2 + 1) != std::string_view::npos)
    return HeadParseError(HeadProblem::kMalformed);
  out.method = line.substr(0, sp1);
  out.target = line.substr(sp1 + 1, sp2 - sp1 - 1);
  out.version = line.substr(sp2 + 1);
  if (out.target.size() > kMaxTargetBytes) return HeadParseError(HeadProblem::kUriTooLong);
  if (out.method.size() > 32) return HeadParseError(HeadProblem::kMalformed);
  while (!head.empty()) {
    line = TakeLine(head);
    if (line.empty()) break;  // the end of the head
    const size_t colon = line.find(':');
    if (colon == std::string_view::npos) return HeadParseError(HeadProblem::kMalformed);
    if (out.headers.size() >= kMaxHeaderFields) return HeadParseError(HeadProblem::kFieldsTooLarge);
    const std::string_view name = line.substr(0, colon);
    const std::string_view value = TrimOws(line.substr(colon + 1));
    if (name.size() > kMaxFieldNameBytes || value.size() > kMaxFieldValueBytes)
      return HeadParseError(HeadProblem::kFieldsTooLarge);
    out.headers.emplace_back(std::string(name), std::string(value));
  }
  return out;
}

std::string_view ReasonPhrase(int status) {
  switch (status) {
    case 100: return "Continue";
    case 200: return "OK";
    case 201: return "Created";
    case 202: return "Accepted";
    case 204: return "No Content";
    case 301: return "Moved Permanently";
    case 302: return "Found";
    case 303: return "See Other";
    case 304: return "Not Modified";
    case 307: return "Temporary Redirect";
    case 400: return "Bad Request";
    case 401: return "Unauthorized";
    case 403: return "Forbidden";
    case 404: return "Not Found";
    case 405: return "Method Not Allowed";
    case 408: return "Request Timeout";
    case 409: return "Conflict";
    case 410: return "Gone";
    case 411: return "Length Required";
    case 413: return "Payload Too Large";
    case 414: return "URI Too Long";
    case 415: return "Unsupported Media Type";
    case 422: return "Unprocessable Entity";
    case 429: return "Too Many Requests";
    case 431: return "Request Header Fields Too Large";
    case 500: return "Internal Server Error";
    case 501: return "Not Implemented";
    case 502: return "Bad Gateway";
    case 503: return "Service Unavailable";
    case 504: return "Gateway Timeout";
    case 505: return "HTTP Version Not Supported";
    default: return "";
  }
}

std::string HttpDate() {
  thread_local time_t cached_at = 0;
  thread_local char cached[40];
  const time_t now = std::time(nullptr);
  if (now != cached_at) {
    std::tm tm{};
    gmtime_r(&now, &tm);
    std::strftime(cached, sizeof cached, "%a, %d %b %Y %H:%M:%S GMT", &tm);
    cached_at = now;
  }
  return cached;
}

}  // namespace warden
