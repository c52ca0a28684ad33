// A whole frame in memory: header plus payload, built in one buffer.
#pragma once

#include <cstring>

#include "mitosis/serialization/archive.hpp"
#include "mitosis/serialization/frame_header.hpp"
#include "mitosis/serialization/type_registry.hpp"

namespace mitosis::serialization {

/// A received frame: decoded header and its payload bytes.
struct frame {
  frame_header hdr;
  buffer payload;
};

/// Builds outgoing frames: reserves the header, lets archives append the
/// payload, then patches the length so one write sends everything.
class frame_builder {
public:
  explicit frame_builder(frame_header h) : hdr_(h) {
    buf_.resize(frame_header::size);
  }

  /// Appends `xs...` to the payload.
  template <class... Ts>
  frame_builder& add(const Ts&... xs) {
    encode_into(buf_, xs...);
    return *this;
  }

  /// Appends raw bytes to the payload.
  frame_builder& add_raw(const char* p, std::size_t n) {
    buf_.insert(buf_.end(), p, p + n);
    return *this;
  }

  /// Returns the finished wire bytes (header + payload); the builder is
  /// left empty.
  buffer finish() {
    hdr_.length = static_cast<std::uint32_t>(buf_.size() - frame_header::size);
    encode(hdr_, reinterpret_cast<std::byte*>(buf_.data()));
    return std::move(buf_);
  }

  /// Returns the whole buffer (header space first) for appending payload.
  buffer& bytes() noexcept {
    return buf_;
  }

  frame_header& header() noexcept {
    return hdr_;
  }

private:
  frame_header hdr_;
  buffer buf_;
};

/// Returns a header for a message of type `t`.
inline frame_header make_header(wire_type t, std::uint32_t dst, std::uint32_t src,
                                std::uint32_t handle = 0, std::uint32_t reply_to = 0) {
  frame_header h;
  h.type = to_u32(t);
  h.dst = dst;
  h.src = src;
  h.handle = handle;
  h.reply_to = reply_to;
  return h;
}

} // namespace mitosis::serialization
