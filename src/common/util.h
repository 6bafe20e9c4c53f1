// Small helpers shared by every module: libsodium start-up, random identifiers, hex.
// All functions are thread-safe once Init() has run.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace warden {

// Initialises libsodium; call once at process start (idempotent). Aborts if it fails.
void InitCrypto();

std::string ToHex(std::string_view bytes);
// The bytes of an even-length hex string; nullopt on any other character or an odd length.
std::optional<std::string> FromHex(std::string_view hex);
// BLAKE2b of `data`, `out_len` bytes (16 to 64), keyed with `key` when it is not empty.
std::string Blake2b(std::string_view data, size_t out_len = 32, std::string_view key = {});
std::string RandomBytes(size_t n);
// Percent-encodes every byte but RFC 3986's unreserved characters (for a URL path segment or a
// query value built from configuration).
std::string UrlEncode(std::string_view text);
// Decodes a form or query value: %XX escapes and '+' as a space; nullopt on a bad escape.
std::optional<std::string> FormDecode(std::string_view text);
// The name=value pairs of a query string or form body split at '&' and the first '=', still
// encoded (a pair without '=' has an empty value; empty pairs are skipped).
std::vector<std::pair<std::string_view, std::string_view>> SplitPairs(std::string_view text);
// A fresh request id: "req_" + 24 hex characters (96 random bits).
std::string NewRequestId();
// Unix time in seconds / a monotonic clock in nanoseconds.
int64_t UnixSeconds();
// "YYYY-MM-DD" of a unix time, in UTC.
std::string UtcDate(int64_t unix_seconds);
int64_t MonotonicNanos();

}  // namespace warden
