#include "frame_header.hpp"

namespace mitosis::serialization {

namespace {

void put16(std::byte*& p, std::uint16_t x) noexcept {
  *p++ = std::byte(x >> 8);
  *p++ = std::byte(x);
}

void put32(std::byte*& p, std::uint32_t x) noexcept {
  *p++ = std::byte(x >> 24);
  *p++ = std::byte(x >> 16);
  *p++ = std::byte(x >> 8);
  *p++ = std::byte(x);
}

std::uint16_t get16(const std::byte*& p) noexcept {
  auto x = static_cast<std::uint16_t>((std::to_integer<unsigned>(p[0]) << 8)
                                      | std::to_integer<unsigned>(p[1]));
  p += 2;
  return x;
}

std::uint32_t get32(const std::byte*& p) noexcept {
  auto x = (std::to_integer<std::uint32_t>(p[0]) << 24)
           | (std::to_integer<std::uint32_t>(p[1]) << 16)
           | (std::to_integer<std::uint32_t>(p[2]) << 8)
           | std::to_integer<std::uint32_t>(p[3]);
  p += 4;
  return x;
}

} // namespace

errc frame_header::valid(std::uint32_t max_payload) const noexcept {
  if (magic != magic_value)
    return errc::bad_magic;
  if (version != version_value)
    return errc::bad_version;
  if (length > max_payload)
    return errc::frame_too_large;
  return errc::none;
}

void encode(const frame_header& h, std::byte* out) noexcept {
  put16(out, h.magic);
  *out++ = std::byte(h.version);
  *out++ = std::byte(h.flags);
  put32(out, h.dst);
  put32(out, h.src);
  put32(out, h.auth);
  put32(out, h.handle);
  put32(out, h.reply_to);
  put32(out, h.type);
  put32(out, h.length);
}

frame_header decode_header(const std::byte* in) noexcept {
  frame_header h;
  h.magic = get16(in);
  h.version = std::to_integer<std::uint8_t>(*in++);
  h.flags = std::to_integer<std::uint8_t>(*in++);
  h.dst = get32(in);
  h.src = get32(in);
  h.auth = get32(in);
  h.handle = get32(in);
  h.reply_to = get32(in);
  h.type = get32(in);
  h.length = get32(in);
  return h;
}

} // namespace mitosis::serialization
