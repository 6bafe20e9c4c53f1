#include "common/util.h"

#include <sodium.h>

#include <chrono>
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
  unsigned char id[12];
  crypto_generichash(id, sizeof id, reinterpret_cast<const unsigned char*>(&counter), sizeof counter,
                     reinterpret_cast<const unsigned char*>(key.data()), key.size());
  return "req_" + ToHex(std::string_view(reinterpret_cast<const char*>(id), sizeof id));
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

}  // namespace warden
