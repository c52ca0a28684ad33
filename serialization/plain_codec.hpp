// A small codec for the common argument and result types (arithmetic
// values, strings, vectors of arithmetic values): no Boost archive, so no
// per-message locale and class bookkeeping. Everything else goes through
// the bounded Boost archives. Both ends are the same build, so the choice
// is made at compile time from the function's signature on both sides.
#pragma once

#include <cstdint>
#include <cstring>
#include <string>
#include <type_traits>
#include <vector>

#include "archive.hpp"

namespace mitosis::serialization {

template <class T>
inline constexpr bool is_plain_scalar_v = std::is_arithmetic_v<T> || std::is_enum_v<T>;

/// Whether T is encoded by the plain codec.
template <class T>
struct is_plain : std::bool_constant<is_plain_scalar_v<T>> {};

template <class C, class Tr, class A>
struct is_plain<std::basic_string<C, Tr, A>>
  : std::bool_constant<is_plain_scalar_v<C> && !std::is_same_v<C, bool>> {};

template <class T>
struct is_string : std::false_type {};
template <class C, class Tr, class A>
struct is_string<std::basic_string<C, Tr, A>> : std::true_type {};

// A vector of scalars (not bool: vector<bool> has no data()), or of plain
// strings (each with its count).
template <class T, class A>
struct is_plain<std::vector<T, A>>
  : std::bool_constant<(is_plain_scalar_v<T> && !std::is_same_v<T, bool>)
                       || (is_string<T>::value && is_plain<T>::value)> {};

/// True when every one of Ts is plain (true for none at all).
template <class... Ts>
inline constexpr bool all_plain_v = (is_plain<std::decay_t<Ts>>::value && ...);

namespace detail {

template <class Bytes>
void put_bytes(Bytes& out, const void* p, std::size_t n) {
  auto at = out.size();
  out.resize(at + n);
  if (n > 0)
    std::memcpy(out.data() + at, p, n);
}

} // namespace detail

/// Appends `x` to `out`: a scalar as its bytes, a sequence as a u64 count
/// followed by its elements (a scalar's bytes, or each string in turn).
/// Host byte order: same build, same host kind on both ends.
template <class T, class Bytes = buffer>
void plain_put(Bytes& out, const T& x) {
  static_assert(is_plain<T>::value, "not a plain type");
  if constexpr (std::is_same_v<T, bool>) {
    std::uint8_t b = x ? 1 : 0;
    detail::put_bytes(out, &b, 1);
  } else if constexpr (is_plain_scalar_v<T>) {
    detail::put_bytes(out, &x, sizeof(T));
  } else {
    std::uint64_t n = x.size();
    detail::put_bytes(out, &n, sizeof(n));
    if constexpr (is_plain_scalar_v<typename T::value_type>)
      detail::put_bytes(out, x.data(), n * sizeof(typename T::value_type));
    else
      for (const auto& e : x)
        plain_put(out, e);
  }
}

/// Appends every one of `xs` in order.
template <class Bytes, class... Ts>
void plain_put_all(Bytes& out, const Ts&... xs) {
  (plain_put(out, xs), ...);
}

/// Reads plain values from a span, checking every size against what is
/// left; throws decode_error.
class plain_reader {
public:
  plain_reader(const char* data, std::size_t size) : p_(data), left_(size) {}

  template <class T>
  void get(T& x) {
    static_assert(is_plain<T>::value, "not a plain type");
    if constexpr (std::is_same_v<T, bool>) {
      std::uint8_t b;
      take(&b, 1);
      if (b > 1) // as the bounded archive: a bool is 0 or 1
        throw decode_error(errc::protocol_error, "bool holds " + std::to_string(b));
      x = b != 0;
    } else if constexpr (is_plain_scalar_v<T>) {
      take(&x, sizeof(T));
    } else if constexpr (!is_plain_scalar_v<typename T::value_type>) {
      // Strings: each takes at least its count's bytes, which bounds n.
      std::uint64_t n;
      take(&n, sizeof(n));
      if (n > left_ / sizeof(std::uint64_t))
        throw decode_error(errc::count_exceeds_payload,
                           "count " + std::to_string(n) + " with " + std::to_string(left_)
                             + " bytes left");
      x.clear();
      x.resize(static_cast<std::size_t>(n));
      for (auto& e : x)
        get(e);
    } else {
      std::uint64_t n;
      take(&n, sizeof(n));
      using elem = typename T::value_type;
      if (n > left_ / sizeof(elem))
        throw decode_error(errc::count_exceeds_payload,
                           "count " + std::to_string(n) + " with " + std::to_string(left_)
                             + " bytes left");
      auto bytes = static_cast<std::size_t>(n) * sizeof(elem);
      if constexpr (sizeof(elem) == 1) {
        // Copy straight in: resize() would zero-fill first.
        auto* first = reinterpret_cast<const elem*>(p_);
        x.assign(first, first + n);
        p_ += bytes;
        left_ -= bytes;
      } else {
        x.resize(static_cast<std::size_t>(n));
        take(x.data(), bytes);
      }
    }
  }

  /// Reads every one of `xs` in order.
  template <class... Ts>
  void get_all(Ts&... xs) {
    (get(xs), ...);
  }

  /// Returns the unread part.
  const char* position() const noexcept {
    return p_;
  }
  std::size_t remaining() const noexcept {
    return left_;
  }

  /// Throws trailing_bytes unless everything was read.
  void expect_end(const char* what) const {
    if (left_ != 0)
      throw decode_error(errc::trailing_bytes,
                         std::to_string(left_) + " bytes left over after " + what);
  }

private:
  void take(void* dst, std::size_t n) {
    if (n > left_)
      throw decode_error(errc::truncated_payload,
                         "need " + std::to_string(n) + " bytes, " + std::to_string(left_)
                           + " left");
    if (n > 0)
      std::memcpy(dst, p_, n);
    p_ += n;
    left_ -= n;
  }

  const char* p_;
  std::size_t left_;
};

/// Byte sequences that may travel as a frame's blob (frame_flags::blob_first).
template <class T>
struct is_blob : std::false_type {};
template <>
struct is_blob<buffer> : std::true_type {};
template <>
struct is_blob<std::vector<char>> : std::true_type {};
template <>
struct is_blob<std::string> : std::true_type {};

/// Blobs smaller than this are encoded inline like any other argument.
inline constexpr std::size_t blob_threshold = 64 * 1024;

/// Makes the first `n` bytes of `payload` the value of the argument: a
/// buffer (mitosis::blob) takes the payload's storage over; a vector or a
/// string copies.
inline void adopt_blob(buffer& b, buffer& payload, std::size_t n) {
  payload.resize(n);
  b = std::move(payload);
}

inline void adopt_blob(std::vector<char>& v, buffer& payload, std::size_t n) {
  v.assign(payload.data(), payload.data() + n);
}

inline void adopt_blob(std::string& s, buffer& payload, std::size_t n) {
  s.assign(payload.data(), n);
}

/// Decodes the plain_wire struct `x` from exactly [data, data + size)
/// (decode_exact's plain path); throws decode_error.
template <class T>
void plain_decode_exact(const char* data, std::size_t size, T& x) {
  plain_reader r{data, size};
  plain_decode(r, x);
  r.expect_end("the payload");
}

/// Makes the wire struct T travel in the plain codec: encode_into and
/// decode_exact write and read its fields (`x.field, ...`, every one
/// plain) in order, with no Boost archive (no locale, no class
/// bookkeeping: the actor frames, which are on the spawn and exit paths).
#define MITOSIS_PLAIN_WIRE(T, ...)                                              \
  template <>                                                                   \
  struct plain_wire<T> : std::true_type {};                                     \
  template <class Bytes>                                                        \
  void plain_encode(Bytes& out, const T& x) {                                   \
    ::mitosis::serialization::plain_put_all(out, __VA_ARGS__);                  \
  }                                                                             \
  inline void plain_decode(::mitosis::serialization::plain_reader& r, T& x) {   \
    r.get_all(__VA_ARGS__);                                                     \
  }

/// Appends values to `out` with the plain codec when all are plain, else
/// in one bounded-archive-compatible Boost archive.
template <class... Ts>
void put_values(buffer& out, const Ts&... xs) {
  if constexpr (all_plain_v<Ts...>)
    plain_put_all(out, xs...);
  else
    encode_into(out, xs...);
}

/// Reads exactly the values put_values wrote for the same types.
template <class... Ts>
void get_values(const char* data, std::size_t size, Ts&... xs) {
  if constexpr (all_plain_v<Ts...>) {
    plain_reader r{data, size};
    r.get_all(xs...);
    r.expect_end("the values");
  } else {
    decode_exact(data, size, xs...);
  }
}

} // namespace mitosis::serialization
