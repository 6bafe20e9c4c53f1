#include "common/secret.h"

#include <sodium.h>

namespace warden {

void WipeString(std::string& s) noexcept {
  if (s.capacity() > 0) sodium_memzero(s.data(), s.capacity());
  s.clear();
}

void Secret::Wipe() noexcept { WipeString(value_); }

Secret& Secret::operator=(const Secret& other) {
  if (this != &other) {
    Wipe();
    value_ = other.value_;
  }
  return *this;
}

Secret& Secret::operator=(Secret&& other) noexcept {
  if (this != &other) {
    Wipe();
    value_ = std::move(other.value_);
    other.Wipe();
  }
  return *this;
}

}  // namespace warden
