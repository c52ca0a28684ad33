// The registry of functions other contexts may call, and MITOSIS_REMOTE.
#pragma once

#include <shared_mutex>
#include <string>
#include <string_view>
#include <tuple>
#include <type_traits>
#include <utility>
#include <unordered_map>

#include "../serialization/plain_codec.hpp"

namespace mitosis::actors {

/// The encoded arguments of one call.
struct call_args {
  /// The arguments (all of them, or all but the blob).
  const char* data = nullptr;
  std::size_t size = 0;
  /// With frame_flags::blob_first: the frame's payload, whose first
  /// blob_len bytes are the last argument.
  serialization::buffer* blob_payload = nullptr;
  std::size_t blob_len = 0;
};

/// Decodes the arguments (throws serialization::decode_error), runs the
/// function (its exceptions pass through), appends the encoded result
/// (nothing for void) to `out`.
using invoker = void (*)(call_args& in, serialization::buffer& out);

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

  /// While a plugin module loads (dlopen), its functions register as
  /// "<module>|<name>": set the module before dlopen, clear it after.
  static void set_loading_module(const std::string* module) noexcept;

private:
  mutable std::shared_mutex mtx_; // plugins register while calls look up
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
void invoke_remote(call_args& in, serialization::buffer& out) {
  using traits = fn_traits<decltype(Fn)>;
  using args_t = typename traits::args;
  constexpr std::size_t n = std::tuple_size_v<args_t>;
  args_t args;
  if (in.blob_payload) {
    bool taken = false;
    if constexpr (n > 0) {
      if constexpr (serialization::is_blob<std::tuple_element_t<n - 1, args_t>>::value) {
        [&]<std::size_t... I>(std::index_sequence<I...>) {
          serialization::get_values(in.data, in.size, std::get<I>(args)...);
        }(std::make_index_sequence<n - 1>{});
        serialization::adopt_blob(std::get<n - 1>(args), *in.blob_payload, in.blob_len);
        taken = true;
      }
    }
    if (!taken)
      throw serialization::decode_error(errc::protocol_error,
                                        "blob for a function whose last parameter takes none");
  } else {
    std::apply([&](auto&... a) { serialization::get_values(in.data, in.size, a...); }, args);
  }
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
