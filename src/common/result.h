// Result<T>: a value or an Error, the project's error-return type.
//
// Contract: code inside Warden returns Result<T> (or Status) instead of throwing; exceptions are
// only used at the Poco boundaries and at start-up. A Result is a plain value type; it is not
// thread-safe to mutate concurrently, like any other value.
#pragma once

#include <cassert>
#include <memory>
#include <utility>
#include <variant>

#include "common/error.h"

namespace warden {

// The error lives behind a shared, immutable pointer: a Result or Status that succeeded is no
// bigger than its value plus one pointer, and carries no empty Error to build and destroy. That
// matters in coroutine frames, which keep every Status a request awaits (GCC gives each its own
// slot), and in the many Ok() results of the request path.
template <typename T>
class [[nodiscard]] Result {
 public:
  Result(T value) : v_(std::in_place_index<0>, std::move(value)) {}  // NOLINT: implicit by design
  Result(Error error) : v_(std::in_place_index<1>, std::make_shared<const Error>(std::move(error))) {}  // NOLINT

  bool ok() const { return v_.index() == 0; }
  explicit operator bool() const { return ok(); }

  T& value() & { return std::get<0>(v_); }
  const T& value() const& { return std::get<0>(v_); }
  T&& value() && { return std::get<0>(std::move(v_)); }
  const Error& error() const { return *std::get<1>(v_); }

  T* operator->() { return &value(); }
  const T* operator->() const { return &value(); }
  T& operator*() & { return value(); }
  const T& operator*() const& { return value(); }

 private:
  std::variant<T, std::shared_ptr<const Error>> v_;
};

// Status: success or an Error, for operations with no value.
class [[nodiscard]] Status {
 public:
  Status() = default;
  Status(Error error) : error_(std::make_shared<const Error>(std::move(error))) {}  // NOLINT: implicit by design
  static Status Ok() { return Status(); }

  bool ok() const { return !error_; }
  explicit operator bool() const { return ok(); }
  const Error& error() const {
    assert(error_);
    return *error_;
  }

 private:
  std::shared_ptr<const Error> error_;  // null = success
};

}  // namespace warden
