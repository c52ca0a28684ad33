// The one shape of an internal outcome: a value, or a failure (an errc and
// the reason in words). User-facing code turns a failure into a typed
// exception at the API boundary (see actors/errors.hpp).
#pragma once

#include <optional>
#include <string>
#include <utility>
#include <variant>

#include "errc.hpp"

namespace mitosis {

/// Why something failed: the code, the cause in words, and (when the
/// failure is about another context than the one reporting it) that
/// context's name or hop chain.
struct failure {
  errc code = errc::none;
  std::string reason;
  std::string context{};
};

/// Returns a failure with `code` and `reason` (and the `context` it concerns).
inline failure fail(errc code, std::string reason, std::string context = {}) {
  return failure{code, std::move(reason), std::move(context)};
}

/// A T, or the failure that prevented it.
template <class T>
class [[nodiscard]] expected {
public:
  expected(T value) : v_(std::in_place_index<0>, std::move(value)) {}
  expected(failure f) : v_(std::in_place_index<1>, std::move(f)) {}

  bool has_value() const noexcept {
    return v_.index() == 0;
  }
  explicit operator bool() const noexcept {
    return has_value();
  }

  /// @pre has_value()
  T& value() & {
    return std::get<0>(v_);
  }
  /// @pre has_value()
  T&& value() && {
    return std::get<0>(std::move(v_));
  }
  T& operator*() & {
    return value();
  }
  T* operator->() {
    return &value();
  }
  const T* operator->() const {
    return &std::get<0>(v_);
  }

  /// @pre !has_value()
  const failure& error() const& {
    return std::get<1>(v_);
  }
  /// @pre !has_value()
  failure&& error() && {
    return std::get<1>(std::move(v_));
  }

private:
  std::variant<T, failure> v_;
};

/// Success, or the failure that prevented it.
template <>
class [[nodiscard]] expected<void> {
public:
  expected() = default;
  expected(failure f) : f_(std::move(f)) {}

  bool has_value() const noexcept {
    return !f_;
  }
  explicit operator bool() const noexcept {
    return has_value();
  }
  /// @pre !has_value()
  const failure& error() const& {
    return *f_;
  }
  /// @pre !has_value()
  failure&& error() && {
    return std::move(*f_);
  }

private:
  std::optional<failure> f_;
};

} // namespace mitosis
