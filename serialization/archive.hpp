// Payload encoding: Boost binary archives written into growable buffers and
// read back through a bounded reader that never trusts a count or a length.
#pragma once

#include <cstddef>
#include <stdexcept>
#include <streambuf>
#include <string>
#include <memory>
#include <type_traits>
#include <utility>
#include <vector>

#include <boost/archive/binary_iarchive_impl.hpp>
#include <boost/archive/binary_oarchive.hpp>
#include <boost/serialization/array_optimization.hpp>
#include <boost/serialization/collection_size_type.hpp>
// Boost 1.74: set.hpp and others use this type without including it.
#include <boost/serialization/library_version_type.hpp>

#include "errc.hpp"

namespace mitosis::serialization {

/// Bytes of a frame or payload.
/// An allocator that leaves new elements uninitialised: payload buffers are
/// resized and then overwritten, so zero-filling them is wasted work.
template <class T>
struct default_init_allocator : std::allocator<T> {
  template <class U>
  struct rebind {
    using other = default_init_allocator<U>;
  };
  default_init_allocator() = default;
  template <class U>
  default_init_allocator(const default_init_allocator<U>&) noexcept {}
  template <class U>
  void construct(U* p) noexcept(std::is_nothrow_default_constructible_v<U>) {
    ::new (static_cast<void*>(p)) U;
  }
  template <class U, class... Args>
  void construct(U* p, Args&&... args) {
    ::new (static_cast<void*>(p)) U(std::forward<Args>(args)...);
  }
};

/// Bytes of a frame or payload; also the user-facing mitosis::blob, so
/// that a large blob argument takes its frame's payload over (no copy, no
/// zero-fill).
using buffer = std::vector<char, default_init_allocator<char>>;

/// Thrown by the decoders; carries the precise errc.
class decode_error : public std::runtime_error {
public:
  decode_error(errc code, const std::string& detail);
  errc code() const noexcept {
    return code_;
  }

private:
  errc code_;
};

/// A streambuf that appends to a byte container (buffer or std::vector<char>).
template <class Bytes>
class basic_buffer_sink : public std::streambuf {
public:
  explicit basic_buffer_sink(Bytes& out) : out_(out) {}

protected:
  int_type overflow(int_type ch) override {
    if (!traits_type::eq_int_type(ch, traits_type::eof()))
      out_.push_back(traits_type::to_char_type(ch));
    return traits_type::not_eof(ch);
  }
  std::streamsize xsputn(const char* s, std::streamsize n) override {
    out_.insert(out_.end(), s, s + n);
    return n;
  }

private:
  Bytes& out_;
};

/// A streambuf reading a fixed span; reading past its end yields EOF.
class span_source : public std::streambuf {
public:
  span_source(const char* data, std::size_t size);
  /// Returns how many bytes remain unread.
  std::size_t remaining() const noexcept {
    return static_cast<std::size_t>(egptr() - gptr());
  }
};

/// A binary input archive that checks every collection count and string
/// length against the bytes that remain before allocating anything.
class bounded_iarchive
  : public boost::archive::binary_iarchive_impl<bounded_iarchive, char,
                                                std::char_traits<char>> {
  using base = boost::archive::binary_iarchive_impl<bounded_iarchive, char,
                                                    std::char_traits<char>>;
  friend class boost::archive::detail::interface_iarchive<bounded_iarchive>;
  friend class boost::archive::basic_binary_iarchive<bounded_iarchive>;
  friend class boost::archive::basic_binary_iprimitive<bounded_iarchive, char,
                                                       std::char_traits<char>>;
  friend class boost::archive::load_access;

public:
  explicit bounded_iarchive(span_source& src);

  /// Returns how many payload bytes remain unread.
  std::size_t remaining() const noexcept {
    return src_.remaining();
  }

protected:
  template <class T>
  void load_override(T& t) {
    base::load_override(t);
  }
  void load_override(boost::serialization::collection_size_type& t);
  void load_override(std::string& s);
  void load_override(bool& b);

private:
  span_source& src_;
};

using binary_oarchive = boost::archive::binary_oarchive;

} // namespace mitosis::serialization

// Same layout for contiguous arrays as the stock binary_oarchive writes.
BOOST_SERIALIZATION_USE_ARRAY_OPTIMIZATION(mitosis::serialization::bounded_iarchive)

namespace mitosis::serialization {

/// Archive flags used on both ends: no archive header, no codecvt.
inline constexpr unsigned archive_flags = boost::archive::no_header
                                          | boost::archive::no_codecvt;

/// Whether the wire struct T travels in the plain codec instead of a Boost
/// archive (MITOSIS_PLAIN_WIRE in plain_codec.hpp).
template <class T>
struct plain_wire : std::false_type {};

/// True for one plain_wire struct alone.
template <class... Ts>
inline constexpr bool one_plain_wire_v = sizeof...(Ts) == 1 && (plain_wire<Ts>::value && ...);

/// Appends the encodings of `xs...` to `out`.
template <class Bytes, class... Ts>
void encode_into(Bytes& out, const Ts&... xs) {
  if constexpr (one_plain_wire_v<Ts...>) {
    (plain_encode(out, xs), ...); // found by ADL (plain_codec.hpp)
  } else {
    basic_buffer_sink<Bytes> sink{out};
    binary_oarchive ar{sink, archive_flags};
    (ar << ... << xs);
  }
}

/// Decodes `xs...` from exactly [data, data + size): throws decode_error on
/// a short payload, an oversized count or bytes left over.
template <class... Ts>
void decode_exact(const char* data, std::size_t size, Ts&... xs);

/// Runs `f(archive)` over a bounded archive on [data, data + size) and maps
/// every Boost failure to decode_error. Returns what `f` returns.
template <class F>
auto with_archive(const char* data, std::size_t size, F&& f) {
  span_source src{data, size};
  try {
    bounded_iarchive ar{src};
    return f(ar);
  } catch (const boost::archive::archive_exception& e) {
    throw decode_error(errc::truncated_payload, e.what());
  }
}

template <class... Ts>
void decode_exact(const char* data, std::size_t size, Ts&... xs) {
  if constexpr (one_plain_wire_v<Ts...>) {
    (plain_decode_exact(data, size, xs), ...); // found by ADL (plain_codec.hpp)
  } else {
    with_archive(data, size, [&](bounded_iarchive& ar) {
      (ar >> ... >> xs);
      if (ar.remaining() != 0)
        throw decode_error(errc::trailing_bytes,
                           std::to_string(ar.remaining()) + " bytes left over");
    });
  }
}

} // namespace mitosis::serialization
