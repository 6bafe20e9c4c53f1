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
