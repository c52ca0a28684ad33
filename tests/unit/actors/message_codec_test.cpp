// Unit tests of the actor message codec (actors/message_codec.hpp): the
// header cache writes what caf::message::save writes, and the decoders of
// known element types build the same message that caf::message::load
// builds, holding their values in the mailbox element; bad bytes are an
// error, never a crash.
#include "mitosis/actors/message_codec.hpp"

#include <map>
#include <set>

#include <caf/actor_system.hpp>
#include <caf/actor_system_config.hpp>
#include <caf/atom.hpp>
#include <caf/binary_deserializer.hpp>
#include <caf/binary_serializer.hpp>
#include <caf/message.hpp>
#include <caf/scoped_execution_unit.hpp>
#include <catch2/catch.hpp>

#include "mitosis/actors/actor_registry.hpp"

namespace codec_test {

struct point {
  std::int32_t x = 0;
  std::int32_t y = 0;
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, point& p) {
  return f(caf::meta::type_name("codec_test::point"), p.x, p.y);
}

} // namespace codec_test

MITOSIS_ACTOR_MESSAGE_TYPE(codec_test::point);

namespace {

using mitosis::actors::find_element_decoder;
using mitosis::actors::message_header;
using mitosis::actors::read_message_header;
using mitosis::actors::save_message;
using ping_atom = caf::atom_constant<caf::atom("ping")>;

struct codec_fixture {
  caf::actor_system_config cfg;
  std::unique_ptr<caf::actor_system> sys;
  const std::uint64_t key = mitosis::actors::new_codec_key();
  codec_fixture() {
    mitosis::actors::actor_registry::instance().configure(cfg);
    sys = std::make_unique<caf::actor_system>(cfg);
  }

  std::vector<char> caf_bytes(const caf::message& m) {
    std::vector<char> buf;
    caf::scoped_execution_unit unit{sys.get()};
    caf::binary_serializer sink{&unit, buf};
    REQUIRE_FALSE(caf::message::save(sink, m));
    return buf;
  }

  std::vector<char> our_bytes(const caf::message& m) {
    std::vector<char> buf;
    caf::scoped_execution_unit unit{sys.get()};
    caf::binary_serializer sink{&unit, buf};
    REQUIRE_FALSE(save_message(sink, m, key));
    return buf;
  }

  caf::message caf_load(const std::vector<char>& bytes) {
    caf::message out;
    caf::scoped_execution_unit unit{sys.get()};
    caf::binary_deserializer src{&unit, bytes};
    REQUIRE_FALSE(out.load(src));
    return out;
  }

  // Decodes with the decoder of the header; null when there is none or it
  // fails (`err` set then).
  caf::mailbox_element_ptr ours(const std::vector<char>& bytes, std::size_t n, caf::error& err,
                                std::shared_ptr<void> token = nullptr) {
    message_header h;
    if (!read_message_header({bytes.data(), n}, h))
      return nullptr;
    auto fn = find_element_decoder(h.names);
    if (!fn)
      return nullptr;
    caf::scoped_execution_unit unit{sys.get()};
    caf::binary_deserializer src{&unit, bytes.data() + h.size, n - h.size};
    return fn(src, caf::make_message_id(), std::move(token), err);
  }

  // Same bytes both ways, and the fast decoder builds the message CAF does.
  void round_trip(const caf::message& m) {
    auto bytes = caf_bytes(m);
    CHECK(our_bytes(m) == bytes);
    CHECK(our_bytes(m) == bytes); // from the cache this time
    caf::error err;
    auto e = ours(bytes, bytes.size(), err);
    REQUIRE(e != nullptr);
    CHECK_FALSE(err);
    auto loaded = caf_load(bytes);
    auto& got = e->content();
    REQUIRE(got.size() == loaded.size());
    CHECK(got.type_token() == loaded.type_token());
    for (std::size_t i = 0; i < got.size(); ++i) {
      CHECK(got.type(i) == loaded.type(i));
      CHECK(got.stringify(i) == loaded.stringify(i));
    }
    CHECK(caf::to_string(e->move_content_to_message()) == caf::to_string(loaded));
    // Every shorter buffer is an error, not a crash or a read past the end.
    for (std::size_t n = 0; n < bytes.size(); ++n) {
      caf::error short_err;
      auto partial = ours(bytes, n, short_err);
      message_header h;
      if (read_message_header({bytes.data(), n}, h) && find_element_decoder(h.names))
        CHECK((partial == nullptr && short_err));
      else
        CHECK(partial == nullptr);
    }
  }
};

} // namespace

TEST_CASE_METHOD(codec_fixture, "message codec: known element types decode into the element",
                 "[actors]") {
  round_trip(caf::make_message(std::string(64, 'x')));
  round_trip(caf::make_message(std::string{}));
  round_trip(caf::make_message(ping_atom::value, std::string{"hello"}));
  round_trip(caf::make_message(ping_atom::value));
  round_trip(caf::make_message(std::int32_t{-7}));
  round_trip(caf::make_message(std::uint64_t{1} << 60));
  round_trip(caf::make_message(ping_atom::value, std::int64_t{-1}));
  round_trip(caf::make_message(2.5));
  round_trip(caf::make_message(true));
  round_trip(caf::make_message(std::vector<char>{'a', '\0', 'b'}));
  round_trip(caf::make_message(std::vector<std::string>{"a", "", "bc"}));
  round_trip(caf::make_message(std::map<std::string, std::string>{{"k", "v"}}));
  round_trip(caf::make_message(std::set<std::string>{"s", "t"}));
  round_trip(caf::make_message(codec_test::point{3, -4}));
  round_trip(caf::make_message(ping_atom::value, codec_test::point{5, 6}));
}

TEST_CASE_METHOD(codec_fixture, "message codec: other signatures are left to CAF", "[actors]") {
  for (const auto& m : {caf::make_message(1, 2, 3), caf::make_message(std::string{"a"}, 1),
                        caf::make_message(1.0f, ping_atom::value)}) {
    auto bytes = caf_bytes(m);
    CHECK(our_bytes(m) == bytes);
    message_header h;
    REQUIRE(read_message_header({bytes.data(), bytes.size()}, h));
    CHECK(find_element_decoder(h.names) == nullptr);
    CHECK(caf::to_string(caf_load(bytes)) == caf::to_string(m));
  }
  // The empty message: CAF's own bytes.
  caf::message empty;
  CHECK(our_bytes(empty) == caf_bytes(empty));
}

TEST_CASE_METHOD(codec_fixture, "message codec: the element holds its token until it is gone",
                 "[actors]") {
  auto bytes = caf_bytes(caf::make_message(std::string{"counted"}));
  auto token = std::make_shared<int>(1);
  caf::error err;
  auto e = ours(bytes, bytes.size(), err, token);
  REQUIRE(e != nullptr);
  CHECK(token.use_count() == 2);
  e.reset();
  CHECK(token.use_count() == 1);
}

TEST_CASE_METHOD(codec_fixture, "message codec: a count larger than the bytes is an error",
                 "[actors]") {
  // The header of a one-element message, then a varbyte count of 2^20 or
  // 2^31 and nothing behind it. A byte vector's count is checked before it
  // is allocated (CAF 0.17 would resize to it first).
  const std::vector<std::vector<char>> counts{{'\x80', '\x80', '\x40'},
                                              {'\x80', '\x80', '\x80', '\x80', '\x08'}};
  for (std::string name : {"@<>+@str", "@<>+@charbuf", "@<>+@atom+@charbuf", "@<>+@strvec",
                           "@<>+@strmap"})
    for (const auto& count : counts) {
      std::vector<char> bytes{0, 0, static_cast<char>(name.size())};
      bytes.insert(bytes.end(), name.begin(), name.end());
      if (name.find("@atom") != std::string::npos)
        bytes.insert(bytes.end(), 8, '\0'); // the atom
      bytes.insert(bytes.end(), count.begin(), count.end());
      caf::error err;
      CHECK(ours(bytes, bytes.size(), err) == nullptr);
      CHECK(err);
    }
}

TEST_CASE_METHOD(codec_fixture, "message codec: a user type this system does not know is refused",
                 "[actors]") {
  auto bytes = caf_bytes(caf::make_message(codec_test::point{1, 2}));
  // A system built without the registrations (as one built before a plugin
  // module registered the type): message::load would not know the name.
  caf::actor_system_config plain_cfg;
  caf::actor_system plain{plain_cfg};
  message_header h;
  REQUIRE(read_message_header({bytes.data(), bytes.size()}, h));
  auto fn = find_element_decoder(h.names);
  REQUIRE(fn != nullptr);
  caf::scoped_execution_unit unit{&plain};
  caf::binary_deserializer src{&unit, bytes.data() + h.size, bytes.size() - h.size};
  caf::error err;
  CHECK(fn(src, caf::make_message_id(), nullptr, err) == nullptr);
  CHECK(err == caf::sec::unknown_type);
}

TEST_CASE("message codec: malformed headers are refused", "[actors]") {
  message_header h;
  CHECK_FALSE(read_message_header({}, h));
  CHECK_FALSE(read_message_header(std::string_view{"\x01\x00\x03@<>", 6}, h));
  CHECK_FALSE(read_message_header(std::string_view{"\x00\x00\x09@<>", 6}, h)); // too long
  CHECK_FALSE(read_message_header(std::string_view{"\x00\x00\xff\xff\xff\xff\xff\x01", 8}, h));
  REQUIRE(read_message_header(std::string_view{"\x00\x00\x03@<>rest", 10}, h));
  CHECK(h.names == "@<>");
  CHECK(h.size == 6);
  CHECK(find_element_decoder("@<>") == nullptr);
  CHECK(find_element_decoder("@<>+nobody") == nullptr);
}
