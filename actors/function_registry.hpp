// The registry of functions other contexts may call, and MITOSIS_REMOTE.
#pragma once

#include <string>
#include <string_view>
#include <tuple>
#include <type_traits>
#include <unordered_map>

#include "mitosis/serialization/plain_codec.hpp"

namespace mitosis::actors {

/// Decodes the arguments from [data, data + size) (throws
/// serialization::decode_error), runs the function (its exceptions pass
/// through), appends the encoded result (nothing for void) to `out`.
using invoker = void (*)(const char* data, std::size_t size, serialization::buffer& out);

/// A type-erased function pointer used as the registry key.
using fn_key = void (*)();

struct function_entry {
  std::string name;
  invoker invoke;
};

/// Process-wide; filled during static initialisation, read-only afterwards.
class function_registry {
public:
  static function_registry& instance();

  /// Registers `key` under `name`. Returns false if the name is taken by
  /// another function.
  bool add(std::string name, fn_key key, invoker inv);

  /// Returns the entry for `name`, or nullptr.
  const function_entry* find(std::string_view name) const;

  /// Returns the registered name of `key`, or nullptr.
  const std::string* name_of(fn_key key) const;

private:
  std::unordered_map<std::string, function_entry> by_name_;
  std::unordered_map<fn_key, std::string> by_key_;
};

namespace detail {

template <class F>
struct fn_traits;

template <class R, class... Ps>
struct fn_traits<R (*)(Ps...)> {
  using result = R;
  using args = std::tuple<std::decay_t<Ps>...>;
};

template <auto Fn>
void invoke_remote(const char* data, std::size_t size, serialization::buffer& out) {
  using traits = fn_traits<decltype(Fn)>;
  typename traits::args args;
  std::apply([&](auto&... a) { serialization::get_values(data, size, a...); }, args);
  if constexpr (std::is_void_v<typename traits::result>) {
    std::apply(Fn, std::move(args));
  } else {
    auto r = std::apply(Fn, std::move(args));
    serialization::put_values(out, r);
  }
}

template <auto Fn>
struct remote_registrar {
  explicit remote_registrar(const char* name) {
    function_registry::instance().add(name, reinterpret_cast<fn_key>(Fn), &invoke_remote<Fn>);
  }
};

} // namespace detail

} // namespace mitosis::actors

#define MITOSIS_PP_CAT_I(a, b) a##b
#define MITOSIS_PP_CAT(a, b) MITOSIS_PP_CAT_I(a, b)

/// Makes the free function `fn` callable from other contexts, under the
/// name written here. Use at namespace scope in the program's sources.
#define MITOSIS_REMOTE(fn)                                                     \
  static const ::mitosis::actors::detail::remote_registrar<&fn>                \
    MITOSIS_PP_CAT(mitosis_remote_, __COUNTER__) {                             \
    #fn                                                                        \
  }
