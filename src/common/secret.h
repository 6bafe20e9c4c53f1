// Secret: a credential (provider key, client key, hashing key) that cannot be streamed into a
// log and is wiped with sodium_memzero when it is destroyed or overwritten.
//
// Contract: the only way to read the value is Reveal(), so every use is greppable. There is
// deliberately no operator<< and no implicit conversion to std::string. Copies are wiped too.
// Thread-safety: like std::string (const access from many threads is fine).
#pragma once

#include <ostream>
#include <string>

namespace warden {

class Secret {
 public:
  Secret() = default;
  explicit Secret(std::string value) : value_(std::move(value)) {}
  Secret(const Secret& other) : value_(other.value_) {}
  Secret(Secret&& other) noexcept : value_(std::move(other.value_)) { other.Wipe(); }
  Secret& operator=(const Secret& other);
  Secret& operator=(Secret&& other) noexcept;
  ~Secret() { Wipe(); }

  const std::string& Reveal() const { return value_; }
  bool empty() const { return value_.empty(); }

  friend std::ostream& operator<<(std::ostream&, const Secret&) = delete;

 private:
  void Wipe() noexcept;
  std::string value_;
};

// Overwrites the characters of `s` with zeros (not optimised away), then clears it.
void WipeString(std::string& s) noexcept;

}  // namespace warden

#include "common/result.h"

namespace warden {

// Key files: exactly `size` raw bytes, mode 0600, created with O_EXCL so two processes never
// each create one. LoadKeyFile fails if the file is missing or has the wrong size;
// LoadOrCreateKeyFile creates it with random bytes when absent (*created = true then).
// WriteKeyFile replaces a key file atomically (temporary file, fsync, rename).
// `what` names the key in error messages ("the audit master key"); the bytes never appear.
Result<Secret> LoadKeyFile(const std::string& path, size_t size, const std::string& what);
Result<Secret> LoadOrCreateKeyFile(const std::string& path, size_t size, const std::string& what,
                                   bool* created = nullptr);
Status WriteKeyFile(const std::string& path, const Secret& bytes, const std::string& what);

}  // namespace warden
