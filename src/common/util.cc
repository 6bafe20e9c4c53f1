#include "common/util.h"

#include <algorithm>
#include <cctype>

#include <sodium.h>

#include <chrono>
#include <cstdio>
#include <ctime>
#include <cstdlib>

namespace warden {

void InitCrypto() {
  if (sodium_init() < 0) std::abort();
}

std::string ToHex(std::string_view bytes) {
  std::string out(bytes.size() * 2 + 1, '\0');
  sodium_bin2hex(out.data(), out.size(), reinterpret_cast<const unsigned char*>(bytes.data()),
                 bytes.size());
  out.pop_back();
  return out;
}

std::vector<std::pair<std::string_view, std::string_view>> SplitPairs(std::string_view text) {
  std::vector<std::pair<std::string_view, std::string_view>> out;
  while (!text.empty()) {
    std::string_view pair = text.substr(0, text.find('&'));
    text.remove_prefix(std::min(text.size(), pair.size() + 1));
    if (pair.empty()) continue;
    const size_t eq = pair.find('=');
    out.emplace_back(pair.substr(0, eq), eq == std::string_view::npos ? std::string_view() : pair.substr(eq + 1));
  }
  return out;
}

std::optional<std::string> FormDecode(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  for (size_t i = 0; i < text.size(); ++i) {
    if (text[i] == '+') {
      out.push_back(' ');
    } else if (text[i] == '%') {
      auto byte = i + 2 < text.size() ? FromHex(text.substr(i + 1, 2)) : std::nullopt;
      if (!byte) return std::nullopt;
      out += *byte;
      i += 2;
    } else {
      out.push_back(text[i]);
    }
  }
  return out;
}

std::string UrlEncode(std::string_view text) {
  static const char kHex[] = "0123456789ABCDEF";
  std::string out;
  out.reserve(text.size());
  for (unsigned char c : text) {
    if (std::isalnum(c) || c == '-' || c == '.' || c == '_' || c == '~') {
      out.push_back(static_cast<char>(c));
    } else {
      out.push_back('%');
      out.push_back(kHex[c >> 4]);
      out.push_back(kHex[c & 15]);
    }
  }
  return out;
}

std::optional<std::string> FromHex(std::string_view hex) {
  if (hex.size() % 2 != 0) return std::nullopt;
  std::string out(hex.size() / 2, '\0');
  size_t len = 0;
  const char* end = nullptr;
  if (sodium_hex2bin(reinterpret_cast<unsigned char*>(out.data()), out.size(), hex.data(),
                     hex.size(), nullptr, &len, &end) != 0 ||
      len != out.size() || end != hex.data() + hex.size())
    return std::nullopt;
  return out;
}

std::string Blake2b(std::string_view data, size_t out_len, std::string_view key) {
  std::string out(out_len, '\0');
  // A length or key size outside libsodium's bounds is a bug in the caller: fail loudly rather
  // than hand back an unwritten buffer.
  if (crypto_generichash(reinterpret_cast<unsigned char*>(out.data()), out.size(),
                         reinterpret_cast<const unsigned char*>(data.data()), data.size(),
                         key.empty() ? nullptr : reinterpret_cast<const unsigned char*>(key.data()),
                         key.size()) != 0)
    std::abort();
  return out;
}

std::string RandomBytes(size_t n) {
  std::string out(n, '\0');
  randombytes_buf(out.data(), n);
  return out;
}

std::string NewRequestId() {
  // A keyed hash of a per-thread counter under a per-thread random key: unpredictable and
  // unique like 96 fresh random bits, without a getrandom() syscall per request.
  thread_local const std::string key = RandomBytes(crypto_generichash_KEYBYTES);
  thread_local uint64_t counter = 0;
  ++counter;
  return "req_" + ToHex(Blake2b(std::string_view(reinterpret_cast<const char*>(&counter), sizeof counter),
                                /*out_len=*/16, key)
                            .substr(0, 12));
}

int64_t UnixSeconds() {
  return std::chrono::duration_cast<std::chrono::seconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

int64_t MonotonicNanos() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

std::string UtcDate(int64_t unix_seconds) {
  std::time_t tt = static_cast<std::time_t>(unix_seconds);
  std::tm tm{};
  gmtime_r(&tt, &tm);
  char buf[48];
  std::snprintf(buf, sizeof buf, "%04d-%02d-%02d", tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday);
  return buf;
}

}  // namespace warden
