// Secret: a credential (provider key, client key, hashing key, audit key) that cannot be
// streamed into a log, kept outside the ordinary heap.
//
// Contract: the bytes live in memory from sodium_malloc — locked (never swapped), excluded from
// core dumps, between guard pages — and are wiped and released by sodium_free when the Secret
// is destroyed or overwritten; copies get their own such region. The constructor wipes the
// std::string it is given. The only way to read the value is Reveal(), so every use is
// greppable (what a caller copies out of it is its own to wipe). There is deliberately no
// operator<< and no implicit conversion. Thread-safety: const access from many threads is fine.
#pragma once

#include <cstddef>
#include <ostream>
#include <string>
#include <string_view>

namespace warden {

class Secret {
 public:
  Secret() = default;
  explicit Secret(std::string value);
  Secret(const Secret& other) { Assign(other.Reveal()); }
  Secret(Secret&& other) noexcept : data_(other.data_), size_(other.size_) {
    other.data_ = nullptr;
    other.size_ = 0;
  }
  Secret& operator=(const Secret& other);
  Secret& operator=(Secret&& other) noexcept;
  ~Secret() { Release(); }

  std::string_view Reveal() const { return {data_, size_}; }
  bool empty() const { return size_ == 0; }
  bool operator==(const Secret& other) const;  // constant time in the length

  friend std::ostream& operator<<(std::ostream&, const Secret&) = delete;

 private:
  void Assign(std::string_view bytes);
  void Release() noexcept;
  char* data_ = nullptr;
  size_t size_ = 0;
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
