// Unit tests of the 32-byte wire header: codec, byte layout and valid().
#include "mitosis/serialization/frame_header.hpp"

#include <array>
#include <cstddef>
#include <cstdint>

#include <catch2/catch.hpp>

#include "../errc_string_maker.hpp"
#include "../test_support.hpp"


using mitosis::errc;
using mitosis::serialization::decode_header;
using mitosis::serialization::default_max_frame_size;
using mitosis::serialization::frame_header;

namespace {

using wire = std::array<std::byte, frame_header::size>;

// Every field distinct and every byte of each field distinct, so a swapped
// field or a swapped byte shows up in the layout test.
frame_header sample_header() {
  frame_header h;
  h.flags = 0x5a;
  h.dst = 0x01020304;
  h.src = 0x11121314;
  h.auth = 0x21222324;
  h.handle = 0x31323334;
  h.reply_to = 0x41424344;
  h.type = 0x51525354;
  h.length = 0x00616263;
  return h;
}

// The 32-bit fields, in wire order.
constexpr std::uint32_t frame_header::*u32_fields[] = {
  &frame_header::dst,      &frame_header::src,  &frame_header::auth,  &frame_header::handle,
  &frame_header::reply_to, &frame_header::type, &frame_header::length};

wire encoded(const frame_header& h) {
  wire out{};
  encode(h, out.data());
  return out;
}

} // namespace

TEST_CASE("frame_header: encode then decode restores every field", "[frame_header]") {
  auto h = sample_header();
  h.magic = 0xbeef; // the codec must carry even an invalid magic/version through
  h.version = 0xfe;
  auto bytes = encoded(h);
  auto d = decode_header(bytes.data());
  check_members_equal(d, h, &frame_header::magic, &frame_header::version, &frame_header::flags,
                      &frame_header::dst, &frame_header::src, &frame_header::auth,
                      &frame_header::handle, &frame_header::reply_to, &frame_header::type,
                      &frame_header::length);
}

TEST_CASE("frame_header: extreme values survive the round trip", "[frame_header]") {
  frame_header h;
  h.flags = 0xff;
  for (auto field : u32_fields)
    h.*field = 0xffffffffu;
  auto d = decode_header(encoded(h).data());
  CHECK(d.flags == 0xff);
  for (std::size_t i = 0; i < std::size(u32_fields); ++i) {
    INFO("32-bit field #" << i << " in wire order");
    CHECK(d.*u32_fields[i] == 0xffffffffu);
  }
}

TEST_CASE("frame_header: wire layout is big-endian in the documented order",
          "[frame_header]") {
  // The table in docs/protocol.md: peers in other builds parse these bytes.
  static_assert(frame_header::size == 32);
  const std::array<std::uint8_t, 32> expected = {
    0x4d, 0x58,             // magic "MX"
    0x01,                   // version
    0x5a,                   // flags
    0x01, 0x02, 0x03, 0x04, // dst
    0x11, 0x12, 0x13, 0x14, // src
    0x21, 0x22, 0x23, 0x24, // auth
    0x31, 0x32, 0x33, 0x34, // handle
    0x41, 0x42, 0x43, 0x44, // reply_to
    0x51, 0x52, 0x53, 0x54, // type
    0x00, 0x61, 0x62, 0x63, // length
  };
  auto bytes = encoded(sample_header());
  for (std::size_t i = 0; i < expected.size(); ++i) {
    INFO("byte " << i);
    CHECK(std::to_integer<unsigned>(bytes[i]) == expected[i]);
  }
}

TEST_CASE("frame_header: decode reads a hand-written header", "[frame_header]") {
  wire bytes{};
  const std::uint8_t raw[32] = {0x4d, 0x58, 0x01, 0x01, 0, 0, 0, 7, 0, 0, 0, 0,
                                0,    0,    0,    0,    0, 0, 0, 9, 0, 0, 0, 0,
                                0,    0,    0,    2,    0, 0, 1, 0};
  for (std::size_t i = 0; i < bytes.size(); ++i)
    bytes[i] = std::byte{raw[i]};
  auto h = decode_header(bytes.data());
  CHECK(h.magic == frame_header::magic_value);
  CHECK(h.version == frame_header::version_value);
  CHECK(h.flags == mitosis::serialization::frame_flags::no_reply);
  CHECK(h.dst == 7);
  CHECK(h.src == 0);
  CHECK(h.handle == 9);
  CHECK(h.type == 2);
  CHECK(h.length == 256);
  CHECK(h.valid() == errc::none);
}

TEST_CASE("frame_header: valid() names what is wrong", "[frame_header]") {
  frame_header h;
  REQUIRE(h.valid() == errc::none);

  SECTION("bad magic") {
    h.magic = 0x584d; // "XM": the right bytes in the wrong order
    CHECK(h.valid() == errc::bad_magic);
  }
  SECTION("bad magic is reported before a bad version") {
    h.magic = 0;
    h.version = 2;
    CHECK(h.valid() == errc::bad_magic);
  }
  SECTION("bad version") {
    h.version = frame_header::version_value + 1;
    CHECK(h.valid() == errc::bad_version);
    h.version = 0;
    CHECK(h.valid() == errc::bad_version);
  }
  SECTION("length over the configured maximum") {
    h.length = 1001;
    CHECK(h.valid(1000) == errc::frame_too_large);
    h.length = 1000;
    CHECK(h.valid(1000) == errc::none);
  }
  SECTION("length over the default 128 MiB") {
    REQUIRE(default_max_frame_size == 128u * 1024u * 1024u);
    h.length = default_max_frame_size;
    CHECK(h.valid() == errc::none);
    h.length = default_max_frame_size + 1;
    CHECK(h.valid() == errc::frame_too_large);
    h.length = 0xffffffffu;
    CHECK(h.valid() == errc::frame_too_large);
  }
  SECTION("an empty payload is fine") {
    h.length = 0;
    CHECK(h.valid(0) == errc::none);
  }
}
