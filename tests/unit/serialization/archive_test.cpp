// Unit tests of the payload codec: round trips, and that a hostile or cut
// payload ends in a decode_error rather than an allocation or a crash.
#include "mitosis/serialization/archive.hpp"

#include <cstdint>
#include <cstring>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include <boost/serialization/set.hpp>
#include <catch2/catch.hpp>

#include "../errc_string_maker.hpp"
#include "../test_support.hpp"

#include "mitosis/policy/rules.hpp"
#include "mitosis/serialization/frame.hpp"
#include "mitosis/serialization/messages.hpp"
#include "mitosis/serialization/type_registry.hpp"


using mitosis::errc;
using namespace mitosis::serialization;

namespace {

template <class T>
T round_trip(const T& x) {
  buffer bytes;
  encode_into(bytes, x);
  T y{};
  decode_exact(bytes.data(), bytes.size(), y);
  return y;
}

/// Returns the code of the decode_error `f` throws, or errc::none if it
/// returns. Any other exception escapes and fails the test.
template <class F>
errc decode_failure(F&& f) {
  try {
    f();
  } catch (const decode_error& e) {
    return e.code();
  }
  return errc::none;
}

/// Returns the wire bytes of a size_t count or length: the binary archive
/// writes it in host order, and every supported host is little-endian.
buffer le_size(std::uint64_t n) {
  buffer out(sizeof(std::size_t));
  for (std::size_t i = 0; i < out.size(); ++i)
    out[i] = static_cast<char>((n >> (8 * i)) & 0xff);
  return out;
}

boot_info sample_boot() {
  boot_info b;
  b.id = 4711;
  b.parent_id = 3;
  b.name = "worker-7";
  b.max_frame = 1u << 20;
  b.log_level = -1;
  b.rules = mitosis::policy::rules::defaults().encode();
  return b;
}

} // namespace

TEST_CASE("archive: size_t counts are little-endian 8-byte words", "[archive]") {
  // The hand-crafted payloads below rely on this layout.
  REQUIRE(sizeof(std::size_t) == 8);
  buffer bytes;
  encode_into(bytes, std::string{"ab"});
  REQUIRE(bytes.size() == 10);
  CHECK(bytes[0] == 2);
  for (int i = 1; i < 8; ++i)
    CHECK(bytes[i] == 0);
  CHECK(bytes[8] == 'a');
  CHECK(bytes[9] == 'b');
}

TEST_CASE("archive: scalar and container round trips", "[archive]") {
  SECTION("string") {
    CHECK(round_trip(std::string{}).empty());
    CHECK(round_trip(std::string{"hello, child"}) == "hello, child");
    std::string binary{"a\0b\xff", 4};
    CHECK(round_trip(binary) == binary);
  }
  SECTION("vector<char>") {
    std::vector<char> v{'x', '\0', '\x7f', '\x80', '\xff'};
    CHECK(round_trip(v) == v);
    CHECK(round_trip(std::vector<char>{}).empty());
  }
  SECTION("vector<string>") {
    std::vector<std::string> v{"", "one", std::string(1000, 'z'), "three"};
    CHECK(round_trip(v) == v);
    CHECK(round_trip(std::vector<std::string>{}).empty());
  }
  SECTION("set<uint32_t>") {
    std::set<std::uint32_t> s{0, 1, 13, 0xffffffffu};
    CHECK(round_trip(s) == s);
  }
  SECTION("set<string>") {
    std::set<std::string> s{"*", "add", "divide"};
    CHECK(round_trip(s) == s);
  }
  SECTION("several values in one payload") {
    buffer bytes;
    encode_into(bytes, std::string{"a"}, std::uint32_t{7}, std::vector<char>{'q'});
    std::string s;
    std::uint32_t n = 0;
    std::vector<char> v;
    decode_exact(bytes.data(), bytes.size(), s, n, v);
    CHECK(s == "a");
    CHECK(n == 7);
    CHECK(v == std::vector<char>{'q'});
  }
}

TEST_CASE("archive: message struct round trips", "[archive]") {
  SECTION("boot_info") {
    auto b = sample_boot();
    b.options = {'o', '\0', 'p'};
    b.ancestors = {0, 2, 3};
    check_members_equal(round_trip(b), b, &boot_info::id, &boot_info::parent_id, &boot_info::name,
                        &boot_info::max_frame, &boot_info::log_level, &boot_info::rules,
                        &boot_info::options, &boot_info::ancestors);
  }
  SECTION("call_error_info") {
    auto d = round_trip(
      call_error_info{"std::domain_error", "division by zero", "child", "#1 f()+0x5 in prog\n"});
    CHECK(d.type == "std::domain_error");
    CHECK(d.message == "division by zero");
    CHECK(d.context == "child");
    CHECK(d.backtrace == "#1 f()+0x5 in prog\n");
  }
  SECTION("stats_info") {
    stats_info s;
    s.id = 3;
    s.name = "w";
    s.rss_bytes = 1 << 20;
    s.streams.push_back({1, 0, "parent", true, 2, 64, 3, 96});
    auto d = round_trip(s);
    CHECK(d.name == "w");
    CHECK(d.rss_bytes == 1u << 20);
    REQUIRE(d.streams.size() == 1);
    CHECK(d.streams[0].peer_name == "parent");
    CHECK(d.streams[0].bytes_out == 96);
  }
  SECTION("dead_info") {
    auto d = round_trip(dead_info{static_cast<std::uint8_t>(errc::no_route), "no route to 9"});
    CHECK(d.code == static_cast<std::uint8_t>(errc::no_route));
    CHECK(d.reason == "no route to 9");
  }
  SECTION("route_info") {
    auto d = round_trip(route_info{42, "grandchild"});
    CHECK(d.id == 42);
    CHECK(d.name == "grandchild");
  }
  SECTION("log_info") {
    auto d = round_trip(log_info{"child", "mitosis.router", 4, "stream closed"});
    CHECK(d.context == "child");
    CHECK(d.logger == "mitosis.router");
    CHECK(d.level == 4);
    CHECK(d.text == "stream closed");
  }
  SECTION("id_block_info") {
    auto d = round_trip(id_block_info{1001, 1000});
    CHECK(d.first == 1001);
    CHECK(d.count == 1000);
  }
  SECTION("spawn_info") {
    auto d = round_trip(spawn_info{"helper", 30000});
    CHECK(d.name == "helper");
    CHECK(d.timeout_ms == 30000);
  }
  SECTION("spawned_info") {
    auto d = round_trip(spawned_info{17, "helper", -1});
    CHECK(d.id == 17);
    CHECK(d.name == "helper");
    CHECK(d.pid == -1);
  }
}

TEST_CASE("archive: std::set round trips inside policy::rules", "[archive]") {
  auto r = mitosis::policy::rules::defaults();
  r.child_callable = {"add", "mul"};
  auto d = mitosis::policy::rules::decode(r.encode());
  CHECK(d.types_from_parent == r.types_from_parent);
  CHECK(d.types_from_child == r.types_from_child);
  CHECK(d.child_callable == r.child_callable);
}

TEST_CASE("archive: every truncation of a payload is a decode_error", "[archive]") {
  buffer bytes;
  encode_into(bytes, sample_boot(), std::vector<std::string>{"a", "bc", ""},
              std::set<std::uint32_t>{1, 2, 3}, call_error_info{"t", "m", "c"});
  REQUIRE(bytes.size() > 50);
  for (std::size_t n = 0; n < bytes.size(); ++n) {
    INFO("payload cut to " << n << " of " << bytes.size() << " bytes");
    boot_info b;
    std::vector<std::string> v;
    std::set<std::uint32_t> s;
    call_error_info c;
    auto code = decode_failure([&] { decode_exact(bytes.data(), n, b, v, s, c); });
    CHECK((code == errc::truncated_payload || code == errc::count_exceeds_payload));
  }
  // The uncut payload still decodes: the loop above tested truncation, not
  // a payload that never decoded.
  boot_info b;
  std::vector<std::string> v;
  std::set<std::uint32_t> s;
  call_error_info c;
  decode_exact(bytes.data(), bytes.size(), b, v, s, c);
  CHECK(v == std::vector<std::string>{"a", "bc", ""});
  CHECK(c.context == "c");
}

TEST_CASE("archive: an empty payload is truncated - not a default value", "[archive]") {
  std::uint32_t n = 0;
  CHECK(decode_failure([&] { decode_exact(nullptr, 0, n); }) == errc::truncated_payload);
}

TEST_CASE("archive: a vector count beyond the payload is refused before allocating",
          "[archive]") {
  // 1e12 elements claimed, 16 bytes sent: resizing first would throw
  // bad_alloc or length_error (or take the machine down), not decode_error.
  auto bytes = le_size(1'000'000'000'000ull);
  bytes.resize(16, '\0');
  SECTION("vector<char>") {
    std::vector<char> v;
    CHECK(decode_failure([&] { decode_exact(bytes.data(), bytes.size(), v); })
          == errc::count_exceeds_payload);
  }
  SECTION("vector<string>") {
    // A container of class-type elements starts with Boost's 5-byte class
    // header (tracking, version), and ends with a 4-byte item version: take
    // a real empty encoding and overwrite only its count.
    buffer payload;
    encode_into(payload, std::vector<std::string>{});
    REQUIRE(payload.size() == 5 + sizeof(std::size_t) + 4);
    auto count = le_size(1'000'000'000'000ull);
    std::memcpy(payload.data() + 5, count.data(), count.size());
    std::vector<std::string> v;
    CHECK(decode_failure([&] { decode_exact(payload.data(), payload.size(), v); })
          == errc::count_exceeds_payload);
  }
  SECTION("set<uint32_t>") {
    std::set<std::uint32_t> s;
    CHECK(decode_failure([&] { decode_exact(bytes.data(), bytes.size(), s); })
          == errc::count_exceeds_payload);
  }
  SECTION("the vector inside boot_info") {
    buffer payload;
    boot_info b;
    encode_into(payload, b.id, b.parent_id, b.name, b.max_frame, b.log_level);
    payload.insert(payload.end(), bytes.begin(), bytes.end());
    CHECK(decode_failure([&] { decode_exact(payload.data(), payload.size(), b); })
          == errc::count_exceeds_payload);
  }
}

TEST_CASE("archive: a string length beyond the payload is refused", "[archive]") {
  SECTION("top-level string") {
    auto bytes = le_size(1000);
    bytes.insert(bytes.end(), {'a', 'b', 'c', 'd'});
    std::string s;
    CHECK(decode_failure([&] { decode_exact(bytes.data(), bytes.size(), s); })
          == errc::count_exceeds_payload);
  }
  SECTION("an all-ones length") {
    auto bytes = le_size(~0ull);
    std::string s;
    CHECK(decode_failure([&] { decode_exact(bytes.data(), bytes.size(), s); })
          == errc::count_exceeds_payload);
  }
  SECTION("a string inside a struct") {
    auto bytes = le_size(1ull << 40);
    bytes.resize(24, 'x');
    route_info r;
    buffer payload;
    encode_into(payload, std::uint32_t{5});
    payload.insert(payload.end(), bytes.begin(), bytes.end());
    CHECK(decode_failure([&] { decode_exact(payload.data(), payload.size(), r); })
          == errc::count_exceeds_payload);
  }
  SECTION("a string element of a vector") {
    // A valid one-element vector whose element then claims 2^40 bytes.
    buffer payload;
    encode_into(payload, std::vector<std::string>{"ok"});
    auto pos = payload.size() - 2 - sizeof(std::size_t);
    auto len = le_size(1ull << 40);
    std::memcpy(payload.data() + pos, len.data(), len.size());
    std::vector<std::string> v;
    CHECK(decode_failure([&] { decode_exact(payload.data(), payload.size(), v); })
          == errc::count_exceeds_payload);
  }
}

TEST_CASE("archive: bytes after the value are refused", "[archive]") {
  buffer bytes;
  encode_into(bytes, route_info{1, "x"});
  bytes.push_back('\0');
  route_info r;
  CHECK(decode_failure([&] { decode_exact(bytes.data(), bytes.size(), r); })
        == errc::trailing_bytes);
  std::uint32_t n = 0;
  buffer five(5, '\0');
  CHECK(decode_failure([&] { decode_exact(five.data(), five.size(), n); })
        == errc::trailing_bytes);
}

TEST_CASE("archive: the actor frames travel in the plain codec, bounded like the rest",
          "[archive]") {
  actor_spawn_info in{"bench.echo", {'a', '\0', 'b'}, {"caf::replies_to<@str>", ""}, 77, true};
  buffer bytes;
  encode_into(bytes, in);
  // No Boost archive: exactly the fields, each count a u64 (plain_codec.hpp).
  CHECK(bytes.size() == 8 + 10 + 8 + 3 + 8 + (8 + 21) + 8 + 8 + 1);
  auto out = round_trip(in);
  CHECK(out.name == in.name);
  CHECK(out.args == in.args);
  CHECK(out.interface == in.interface);
  CHECK(out.owner == 77);
  CHECK(out.detached);
  CHECK(round_trip(actor_spawned_info{1ull << 61}).actor == 1ull << 61);
  CHECK(round_trip(actor_down_info{9, {'x'}}).reason == std::vector<char>{'x'});
  CHECK_FALSE(round_trip(actor_link_info{1, 2, false}).add);
  CHECK(round_trip(actor_lost_info{{3, 4}, "gone"}).ids == std::vector<std::uint32_t>{3, 4});

  SECTION("every truncation is a decode_error") {
    for (std::size_t n = 0; n < bytes.size(); ++n) {
      actor_spawn_info x;
      CHECK(decode_failure([&] { decode_exact(bytes.data(), n, x); }) != errc::none);
    }
  }
  SECTION("a bool byte other than 0 or 1 is refused") {
    bytes.back() = 2; // detached
    actor_spawn_info x;
    CHECK(decode_failure([&] { decode_exact(bytes.data(), bytes.size(), x); })
          == errc::protocol_error);
  }
  SECTION("bytes after the value are refused") {
    bytes.push_back('\0');
    actor_spawn_info x;
    CHECK(decode_failure([&] { decode_exact(bytes.data(), bytes.size(), x); })
          == errc::trailing_bytes);
  }
  SECTION("a string count beyond the payload is refused before allocating") {
    // The interface list claims 2^40 strings.
    buffer hostile;
    encode_into(hostile, actor_spawn_info{"t", {}, {}, 0, false});
    auto at = 8 + 1 + 8; // after name and args
    auto n = le_size(1ull << 40);
    std::memcpy(hostile.data() + at, n.data(), n.size());
    actor_spawn_info x;
    CHECK(decode_failure([&] { decode_exact(hostile.data(), hostile.size(), x); })
          == errc::count_exceeds_payload);
  }
}

TEST_CASE("archive: decode_error carries its code and the fixed message", "[archive]") {
  decode_error e{errc::trailing_bytes, "3 bytes left over"};
  CHECK(e.code() == errc::trailing_bytes);
  CHECK(std::string{e.what()}
        == std::string{mitosis::to_string(errc::trailing_bytes)} + ": 3 bytes left over");
}

TEST_CASE("type_registry: known ids resolve - others do not", "[type_registry]") {
  CHECK(type_registry::find(0) == nullptr);
  CHECK(type_registry::find(type_registry::max_id() + 1) == nullptr);
  CHECK(type_registry::find(0xffffffffu) == nullptr);
  CHECK(type_registry::name(0) == "unknown");
  CHECK(type_registry::max_id() == to_u32(wire_type::file_pushed));

  // The protocol, written out here rather than copied from the registry: a
  // renumbered, renamed, added or dropped wire type fails this test.
  struct wire {
    std::uint32_t id;
    wire_type type;
    std::string_view name;
  };
#define WIRE(name, id) wire{id, wire_type::name, #name}
  const wire protocol[] = {
    WIRE(boot, 1),            WIRE(call_request, 2), WIRE(call_reply, 3),     WIRE(call_error, 4),
    WIRE(dead, 5),            WIRE(route_add, 6),    WIRE(route_del, 7),      WIRE(log_record, 8),
    WIRE(id_request, 9),      WIRE(id_grant, 10),    WIRE(spawn_request, 11), WIRE(spawn_reply, 12),
    WIRE(shutdown, 13),       WIRE(rules_update, 14), WIRE(file_request, 15), WIRE(file_chunk, 16),
    WIRE(module_request, 17), WIRE(module_data, 18), WIRE(module_push, 19),  WIRE(actor_spawn, 20),
    WIRE(actor_spawned, 21),  WIRE(actor_message, 22), WIRE(actor_down, 23),  WIRE(actor_link, 24),
    WIRE(heartbeat, 25),
    WIRE(actor_lost, 26),     WIRE(channel_data, 27), WIRE(channel_close, 28),
    WIRE(detaching, 29),      WIRE(stats_request, 30), WIRE(stats_reply, 31),
    WIRE(blob_request, 32),   WIRE(file_push, 33),     WIRE(file_pushed, 34),
  };
#undef WIRE
  // Exactly these answer a request.
  const std::set<std::string_view> replies = {"call_reply",  "call_error", "dead",
                                              "id_grant",    "spawn_reply", "file_chunk",
                                              "module_data", "actor_spawned", "stats_reply",
                                              "file_pushed"};

  CHECK(std::size(protocol) == type_registry::max_id());
  for (const auto& x : protocol) {
    INFO("wire type " << x.name);
    CHECK(to_u32(x.type) == x.id);
    auto* t = type_registry::find(x.id);
    REQUIRE(t != nullptr);
    CHECK(t->id == x.type);
    CHECK(t->name == x.name);
    CHECK(t->is_reply == replies.contains(x.name));
    CHECK(type_registry::name(x.id) == x.name);
  }
}

TEST_CASE("frame_builder: finish writes a header whose length is the payload size",
          "[frame]") {
  frame_builder fb{make_header(wire_type::route_add, 0, 12, 5, 4)};
  fb.add(route_info{12, "child"}).add_raw("xyz", 3);
  auto bytes = fb.finish();
  REQUIRE(bytes.size() > frame_header::size);
  auto h = decode_header(reinterpret_cast<const std::byte*>(bytes.data()));
  CHECK(h.length == bytes.size() - frame_header::size);
  CHECK(h.valid() == errc::none);
  CHECK(h.type == to_u32(wire_type::route_add));
  CHECK(h.dst == 0);
  CHECK(h.src == 12);
  CHECK(h.handle == 5);
  CHECK(h.reply_to == 4);

  // The payload is exactly what was added, in order.
  const char* payload = bytes.data() + frame_header::size;
  route_info r;
  decode_exact(payload, h.length - 3, r);
  CHECK(r.id == 12);
  CHECK(r.name == "child");
  CHECK(std::string(payload + h.length - 3, 3) == "xyz");
}

TEST_CASE("frame_builder: a frame without payload has length zero", "[frame]") {
  frame_builder fb{make_header(wire_type::shutdown, 3, 0)};
  auto bytes = fb.finish();
  REQUIRE(bytes.size() == frame_header::size);
  auto h = decode_header(reinterpret_cast<const std::byte*>(bytes.data()));
  CHECK(h.length == 0);
  CHECK(h.type == to_u32(wire_type::shutdown));
}

TEST_CASE("archive: a bool byte other than 0 or 1 is refused (found by fuzz_payloads)",
          "[archive]") {
  mitosis::serialization::buffer bytes;
  mitosis::serialization::encode_into(bytes, true);
  REQUIRE(bytes.size() == 1);
  bytes[0] = static_cast<char>(0x80);
  bool b = false;
  try {
    mitosis::serialization::decode_exact(bytes.data(), bytes.size(), b);
    FAIL("no exception");
  } catch (const mitosis::serialization::decode_error& e) {
    CHECK(e.code() == mitosis::errc::protocol_error);
  }
}
