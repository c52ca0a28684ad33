// Unit tests of the stream handshake: same build passes, anything else is
// refused with a reason that names both sides.
#include "mitosis/serialization/handshake.hpp"

#include <array>
#include <cstddef>
#include <cstdint>
#include <string>

#include <catch2/catch.hpp>

using Catch::Matchers::Contains;
// check_hello, hello, local_build_id, local_hello, protocol_version
using namespace mitosis::serialization;

namespace {

using wire = std::array<std::byte, hello::size>;

// The build id travels in the bytes after the 16-byte prefix.
constexpr std::size_t id_capacity = hello::size - 16;

wire encoded(const hello& h) {
  wire out{};
  encode(h, out.data());
  return out;
}

void put_be32(std::byte* p, std::uint32_t x) {
  p[0] = std::byte(x >> 24);
  p[1] = std::byte(x >> 16);
  p[2] = std::byte(x >> 8);
  p[3] = std::byte(x);
}

} // namespace

TEST_CASE("handshake: local build id is non-empty and stable", "[handshake]") {
  CHECK_FALSE(local_build_id().empty());
  CHECK(&local_build_id() == &local_build_id());
  auto h = local_hello();
  CHECK(h.version == protocol_version);
  CHECK(h.build_id == local_build_id());
}

TEST_CASE("handshake: our own hello is accepted", "[handshake]") {
  auto ours = local_hello();
  auto bytes = encoded(ours);
  auto res = check_hello(bytes.data(), ours);
  CHECK(res.ok);
  CHECK(res.reason.empty());
  CHECK(res.peer.version == protocol_version);
  // Only id_capacity bytes fit on the wire; the peer's id is what arrived.
  CHECK(res.peer.build_id == ours.build_id.substr(0, id_capacity));
}

TEST_CASE("handshake: wire prefix is the magic then big-endian version and length",
          "[handshake]") {
  hello h{0x01020304u, "abc"};
  auto bytes = encoded(h);
  const std::string magic = "MITOSIS\n";
  for (std::size_t i = 0; i < magic.size(); ++i)
    CHECK(static_cast<char>(bytes[i]) == magic[i]);
  CHECK(std::to_integer<unsigned>(bytes[8]) == 0x01);
  CHECK(std::to_integer<unsigned>(bytes[11]) == 0x04);
  CHECK(std::to_integer<unsigned>(bytes[15]) == 3);
  CHECK(static_cast<char>(bytes[16]) == 'a');
  CHECK(static_cast<char>(bytes[18]) == 'c');
  // The rest is zero padding, never stack garbage.
  for (std::size_t i = 19; i < hello::size; ++i)
    CHECK(std::to_integer<unsigned>(bytes[i]) == 0);
}

TEST_CASE("handshake: a different build id is refused - naming both ids", "[handshake]") {
  auto ours = local_hello();
  hello theirs{protocol_version, "0123456789abcdef-other-build"};
  REQUIRE(theirs.build_id != ours.build_id.substr(0, id_capacity));
  auto bytes = encoded(theirs);
  auto res = check_hello(bytes.data(), ours);
  CHECK_FALSE(res.ok);
  CHECK(res.peer.build_id == theirs.build_id);
  CHECK_THAT(res.reason, Contains(theirs.build_id));
  CHECK_THAT(res.reason, Contains(ours.build_id.substr(0, id_capacity)));
}

TEST_CASE("handshake: a different protocol version is refused - naming both versions",
          "[handshake]") {
  auto ours = local_hello();
  hello theirs{protocol_version + 41, ours.build_id};
  auto bytes = encoded(theirs);
  auto res = check_hello(bytes.data(), ours);
  CHECK_FALSE(res.ok);
  CHECK(res.peer.version == protocol_version + 41);
  CHECK_THAT(res.reason, Contains("protocol " + std::to_string(protocol_version)));
  CHECK_THAT(res.reason, Contains("protocol " + std::to_string(protocol_version + 41)));
}

TEST_CASE("handshake: bytes that do not start with the magic are refused", "[handshake]") {
  auto ours = local_hello();
  SECTION("all garbage") {
    wire bytes{};
    bytes.fill(std::byte{0xa5});
    auto res = check_hello(bytes.data(), ours);
    CHECK_FALSE(res.ok);
    CHECK_FALSE(res.reason.empty());
  }
  SECTION("a valid hello with one magic byte changed") {
    auto bytes = encoded(ours);
    bytes[7] = std::byte{'\r'};
    auto res = check_hello(bytes.data(), ours);
    CHECK_FALSE(res.ok);
    CHECK_THAT(res.reason, Contains("hello"));
  }
  SECTION("shell noise such as a login banner") {
    wire bytes{};
    const std::string banner = "Last login: Mon Nov 25 19:11:00 2024 from 10.0.0.1\n";
    for (std::size_t i = 0; i < bytes.size(); ++i)
      bytes[i] = std::byte(banner[i % banner.size()]);
    CHECK_FALSE(check_hello(bytes.data(), ours).ok);
  }
}

TEST_CASE("handshake: an announced build-id length past the field is refused",
          "[handshake]") {
  auto ours = local_hello();
  auto bytes = encoded(ours);
  SECTION("one past the capacity") {
    put_be32(bytes.data() + 12, static_cast<std::uint32_t>(id_capacity + 1));
    auto res = check_hello(bytes.data(), ours);
    CHECK_FALSE(res.ok);
    CHECK_THAT(res.reason, Contains(std::to_string(id_capacity)));
  }
  SECTION("a huge length") {
    put_be32(bytes.data() + 12, 0xffffffffu);
    CHECK_FALSE(check_hello(bytes.data(), ours).ok);
  }
  SECTION("exactly the capacity is still read") {
    hello full{protocol_version, std::string(id_capacity, 'f')};
    auto b = encoded(full);
    auto res = check_hello(b.data(), full);
    CHECK(res.ok);
    CHECK(res.peer.build_id == full.build_id);
  }
}
