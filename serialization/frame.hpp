// A whole frame in memory: header plus payload, built in one buffer.
#pragma once

#include <algorithm>
#include <cstdint>
#include <cstring>

#include "archive.hpp"
#include "frame_header.hpp"
#include "type_registry.hpp"

namespace mitosis::serialization {

/// A received frame: decoded header and its payload bytes.
struct frame {
  frame_header hdr;
  buffer payload;
};

/// A frame ready to send: `bytes` (header first, then the payload), and
/// optionally a borrowed blob that goes on the wire right after the header.
/// The blob must stay valid until the send call returns. `bytes` may be
/// empty: the blob is then the whole of what is sent (router::send_frames).
struct outgoing {
  outgoing() = default;
  outgoing(buffer b) : bytes(std::move(b)) {}

  buffer bytes;
  const char* blob = nullptr;
  std::size_t blob_len = 0;
  /// With a blob: whether the sender may wait (briefly) for a full peer to
  /// drain rather than copy the rest into the stream's queue at once.
  bool may_wait = true;

  /// Returns the number of bytes on the wire.
  std::size_t size() const noexcept {
    return bytes.size() + blob_len;
  }

  /// Returns the wire bytes as one buffer (copies the blob, if any).
  buffer flatten() && {
    if (blob_len == 0)
      return std::move(bytes);
    const auto head = static_cast<std::ptrdiff_t>(std::min(frame_header::size, bytes.size()));
    buffer out;
    out.reserve(size());
    out.insert(out.end(), bytes.begin(), bytes.begin() + head);
    out.insert(out.end(), blob, blob + blob_len);
    out.insert(out.end(), bytes.begin() + head, bytes.end());
    return out;
  }
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

  /// Returns the finished wire bytes (header + payload) of a frame without
  /// a blob; the builder is left empty.
  buffer finish() {
    if (blob_len_ != 0 || (hdr_.flags & frame_flags::blob_first))
      return finish_outgoing().flatten();
    auto total = buf_.size() - frame_header::size;
    hdr_.length = total > UINT32_MAX ? UINT32_MAX : static_cast<std::uint32_t>(total);
    encode(hdr_, reinterpret_cast<std::byte*>(buf_.data()));
    return std::move(buf_);
  }

  /// Puts `n` bytes at `p` first in the payload without copying them and
  /// sets frame_flags::blob_first; finish_outgoing() appends the length.
  frame_builder& set_blob(const char* p, std::size_t n) {
    blob_ = p;
    blob_len_ = n;
    hdr_.flags |= frame_flags::blob_first;
    return *this;
  }

  /// Returns the finished frame, the blob (if any) still borrowed.
  outgoing finish_outgoing() {
    if (blob_len_ == 0 && !(hdr_.flags & frame_flags::blob_first))
      return outgoing{finish()};
    std::uint64_t n = blob_len_;
    add_raw(reinterpret_cast<const char*>(&n), sizeof(n));
    auto total = buf_.size() - frame_header::size + blob_len_;
    hdr_.length = total > UINT32_MAX ? UINT32_MAX : static_cast<std::uint32_t>(total);
    encode(hdr_, reinterpret_cast<std::byte*>(buf_.data()));
    outgoing out{std::move(buf_)};
    out.blob = blob_;
    out.blob_len = blob_len_;
    return out;
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
  const char* blob_ = nullptr;
  std::size_t blob_len_ = 0;
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
