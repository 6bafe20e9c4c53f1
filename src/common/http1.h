// HTTP/1.1 message framing shared by both sides of the gateway: where a head ends, and a strict
// chunked-body decoder. The server reads requests with them (src/server), the upstream client
// reads providers' answers with them (src/providers).
//
// Contract: pure; thread-safe (a ChunkedDecoder is used by one reader).
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace warden {

// Case-insensitive ASCII comparison (header names, tokens).
bool IEquals(std::string_view a, std::string_view b);
// Without the spaces and tabs around it (optional whitespace, RFC 9110 §5.6.3).
std::string_view TrimOws(std::string_view v);
// Whether a comma-separated field value (e.g. Connection) lists `token`, case-insensitively.
bool ListHasToken(std::string_view value, std::string_view token);
// The next line of a head, without its line end (CRLF or LF); removed from `rest`.
std::string_view TakeLine(std::string_view& rest);

// How many empty lines (CRLF or bare LF) `bytes` starts with, in bytes. Before a request line
// they are to be ignored (RFC 9112 §2.2).
size_t SkipLeadingEmptyLines(std::string_view bytes);

// Where the head ends in `bytes`: the offset just past its empty line, or npos while it is
// incomplete (CRLF or bare LF line ends). Leading empty lines are part of the head.
// `searched_before`: bytes already searched by an earlier call on the same prefix.
size_t FindHeadEnd(std::string_view bytes, size_t searched_before = 0);

// A strict decoder for a chunked body (RFC 9112 §7.1), for requests and providers' answers.
// chunk-size is 1–16 hex digits (no sign, no space inside); extensions after ';' are skipped
// (at most 4 KiB per line); every line ends in CRLF; trailer fields are skipped (at most 8 KiB).
// Anything else is an error. Stops at the end of the message: bytes after it are not consumed.
class ChunkedDecoder {
 public:
  explicit ChunkedDecoder(size_t limit) : limit_(limit) {}
  // Consumes bytes of `in`, appending decoded data to `out`; returns how many were consumed
  // (fewer than given only once done() or failed()).
  size_t Feed(std::string_view in, std::string& out);
  bool done() const { return state_ == State::kDone; }
  bool failed() const { return state_ == State::kError || state_ == State::kTooLarge; }
  bool too_large() const { return state_ == State::kTooLarge; }
  // Data bytes that may be read in one go (so a reader need not go byte by byte), else 0.
  size_t data_wanted() const { return state_ == State::kData ? static_cast<size_t>(remaining_) : 0; }

 private:
  enum class State { kSize, kExt, kSizeLF, kData, kDataCR, kDataLF, kTrailer, kTrailerLine, kTrailerLF, kEndLF, kDone, kError, kTooLarge };
  const size_t limit_;
  State state_ = State::kSize;
  uint64_t size_ = 0;
  int digits_ = 0;
  size_t line_ = 0;      // bytes of the current extension, or of all trailers
  uint64_t remaining_ = 0;
};

}  // namespace warden
