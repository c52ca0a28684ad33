// The fixed 32-byte big-endian frame header that precedes every payload.
#pragma once

#include <cstddef>
#include <cstdint>

#include "errc.hpp"

namespace mitosis::serialization {

/// Default upper bound for one frame's payload.
inline constexpr std::uint32_t default_max_frame_size = 128u * 1024u * 1024u;

/// One frame header, host byte order in memory, big-endian on the wire.
/// See docs/protocol.md for the table.
struct frame_header {
  static constexpr std::uint16_t magic_value = 0x4d58; // "MX"
  static constexpr std::uint8_t version_value = 1;
  static constexpr std::size_t size = 32;

  std::uint16_t magic = magic_value;
  std::uint8_t version = version_value;
  std::uint8_t flags = 0;
  std::uint32_t dst = 0;
  std::uint32_t src = 0;
  std::uint32_t auth = 0;
  std::uint32_t handle = 0;
  std::uint32_t reply_to = 0;
  std::uint32_t type = 0;
  std::uint32_t length = 0;

  /// Returns errc::none when magic, version and length are acceptable.
  errc valid(std::uint32_t max_payload = default_max_frame_size) const noexcept;
};

/// Writes `h` as exactly frame_header::size bytes to `out`.
void encode(const frame_header& h, std::byte* out) noexcept;

/// Reads a header from exactly frame_header::size bytes at `in`.
frame_header decode_header(const std::byte* in) noexcept;

/// Frame flags.
namespace frame_flags {
inline constexpr std::uint8_t none = 0;
/// The sender does not want a reply (call_no_reply).
inline constexpr std::uint8_t no_reply = 1;
/// call_request whose last argument (a large byte sequence) comes first in
/// the payload: [blob][name][other arguments][u64 blob length]. The blob
/// is sent from the caller's memory and received as the argument itself.
inline constexpr std::uint8_t blob_first = 2;
/// call_request of a call chain: `handle` is the chain's id (unique per
/// sending context). The callee runs a chain's calls in order; once one
/// throws, the chain's later calls are not run and every replying one
/// fails with that exception, until a chain_reset.
inline constexpr std::uint8_t chained = 4;
/// With `chained` and an empty payload: forget the chain's exception.
inline constexpr std::uint8_t chain_reset = 8;
/// channel_data whose payload is a u32 context id instead of a value: the
/// receiver is to end when that context is lost (its sender was handed on
/// to it).
inline constexpr std::uint8_t channel_watch = 16;
} // namespace frame_flags

} // namespace mitosis::serialization
