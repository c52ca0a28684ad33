// Unit tests of expected<T> and failure, the one shape of an internal outcome.
#include "mitosis/serialization/expected.hpp"

#include <string>

#include <catch2/catch.hpp>

#include "../errc_string_maker.hpp"

using mitosis::errc;
using mitosis::expected;
using mitosis::fail;

namespace {

expected<int> half(int x) {
  if (x % 2)
    return fail(errc::protocol_error, std::to_string(x) + " is odd", "calc");
  return x / 2;
}

} // namespace

TEST_CASE("expected: a value or the failure that prevented it", "[expected]") {
  auto ok = half(8);
  REQUIRE(ok);
  CHECK(*ok == 4);
  auto bad = half(3);
  REQUIRE_FALSE(bad);
  CHECK(bad.error().code == errc::protocol_error);
  CHECK(bad.error().reason == "3 is odd");
  CHECK(bad.error().context == "calc");
  expected<std::string> moved = std::string{"text"};
  CHECK(std::move(moved).value() == "text");
}

TEST_CASE("expected<void>: success or a failure", "[expected]") {
  expected<void> done;
  CHECK(done.has_value());
  expected<void> refused = fail(errc::timeout, "too slow");
  REQUIRE_FALSE(refused);
  CHECK(refused.error().code == errc::timeout);
  CHECK(std::move(refused).error().reason == "too slow");
}
