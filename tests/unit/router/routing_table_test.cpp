// Unit tests of the routing table: where frames go and which sources a
// stream may claim.
#include "mitosis/router/routing_table.hpp"

#include <algorithm>
#include <vector>

#include <catch2/catch.hpp>

using mitosis::router::context_id;
using mitosis::router::master_id;
using mitosis::router::route;
using mitosis::router::routing_table;

namespace {

// A child context 5 whose parent is on stream 1 and whose children are on
// streams 2 and 3.
constexpr context_id self = 5;
constexpr std::uint32_t parent_stream = 1;
constexpr std::uint32_t left = 2;
constexpr std::uint32_t right = 3;

// Ids 10-19 were granted to the left subtree, 20-29 to the right one.
routing_table with_grants(context_id me, std::optional<std::uint32_t> parent) {
  routing_table t{me, parent};
  t.grant(10, 10, left);
  t.grant(20, 10, right);
  return t;
}

std::vector<context_id> sorted(std::vector<context_id> v) {
  std::sort(v.begin(), v.end());
  return v;
}

} // namespace

TEST_CASE("routing_table: lookup picks local - stream - parent", "[routing_table]") {
  auto t = with_grants(self, parent_stream);
  REQUIRE(t.add(10, left));

  auto r = t.lookup(self);
  CHECK(r.kind == route::local);

  r = t.lookup(10);
  CHECK(r.kind == route::stream);
  CHECK(r.via == left);

  // Anything not below us is somewhere above.
  r = t.lookup(99);
  CHECK(r.kind == route::parent);
  CHECK(r.via == parent_stream);
  r = t.lookup(master_id);
  CHECK(r.kind == route::parent);
  CHECK(r.via == parent_stream);

  CHECK(t.self() == self);
  CHECK(t.parent() == parent_stream);
}

TEST_CASE("routing_table: the master cannot route unknown ids", "[routing_table]") {
  auto t = with_grants(master_id, std::nullopt);
  REQUIRE(t.add(11, left));
  CHECK(t.lookup(master_id).kind == route::local);
  CHECK(t.lookup(11).kind == route::stream);
  CHECK(t.lookup(12).kind == route::unroutable);
  CHECK_FALSE(t.parent().has_value());
}

TEST_CASE("routing_table: add refuses what would loop", "[routing_table]") {
  auto t = with_grants(self, parent_stream);
  SECTION("self") {
    CHECK_FALSE(t.add(self, left));
    CHECK(t.lookup(self).kind == route::local);
    CHECK(t.size() == 0);
  }
  SECTION("the parent stream") {
    CHECK_FALSE(t.add(10, parent_stream));
    CHECK(t.lookup(10).kind == route::parent);
    CHECK(t.size() == 0);
  }
  SECTION("an id already behind another stream") {
    REQUIRE(t.add(10, left));
    CHECK_FALSE(t.add(10, right));
    CHECK(t.lookup(10).via == left);
    CHECK(t.size() == 1);
  }
  SECTION("the same id on the same stream again is accepted") {
    REQUIRE(t.add(10, left));
    CHECK(t.add(10, left));
    CHECK(t.size() == 1);
  }
}

TEST_CASE("routing_table: the master accepts children on any stream", "[routing_table]") {
  // No parent: no stream is off limits, stream 1 included.
  auto t = with_grants(master_id, std::nullopt);
  t.grant(7, 1, parent_stream);
  CHECK(t.add(7, parent_stream));
  CHECK(t.lookup(7).via == parent_stream);
  CHECK_FALSE(t.add(master_id, left));
}

TEST_CASE("routing_table: remove forgets one id", "[routing_table]") {
  auto t = with_grants(self, parent_stream);
  REQUIRE(t.add(10, left));
  REQUIRE(t.add(11, left));
  CHECK(t.remove(10) == left);
  CHECK(t.lookup(10).kind == route::parent);
  CHECK(t.lookup(11).kind == route::stream);
  CHECK(t.size() == 1);
  CHECK_FALSE(t.remove(10).has_value());
  CHECK_FALSE(t.remove(12345).has_value());
  // A removed id may come back, behind the stream it was granted to only.
  CHECK_FALSE(t.add(10, right));
  CHECK(t.add(10, left));
  CHECK(t.lookup(10).via == left);
}

TEST_CASE("routing_table: drop_stream returns exactly the ids behind it",
          "[routing_table]") {
  auto t = with_grants(self, parent_stream);
  for (context_id id : {10, 11, 12})
    REQUIRE(t.add(id, left));
  for (context_id id : {20, 21})
    REQUIRE(t.add(id, right));

  CHECK(sorted(t.drop_stream(left)) == std::vector<context_id>{10, 11, 12});
  CHECK(t.size() == 2);
  for (context_id id : {10, 11, 12})
    CHECK(t.lookup(id).kind == route::parent);
  CHECK(t.lookup(20).via == right);
  CHECK(t.lookup(21).via == right);

  CHECK(t.drop_stream(left).empty());
  CHECK(t.drop_stream(99).empty());
  CHECK(sorted(t.drop_stream(right)) == std::vector<context_id>{20, 21});
  CHECK(t.size() == 0);
}

TEST_CASE("routing_table: source_ok checks the stream a source may use",
          "[routing_table]") {
  auto t = with_grants(self, parent_stream);
  REQUIRE(t.add(10, left));
  REQUIRE(t.add(20, right));

  // Behind the stream it came on.
  CHECK(t.source_ok(10, left));
  CHECK(t.source_ok(20, right));
  // Unknown ids, the master among them, live above us.
  CHECK(t.source_ok(99, parent_stream));
  CHECK(t.source_ok(master_id, parent_stream));
  // Spoofing: a child claiming a sibling's id, or an unknown id.
  CHECK_FALSE(t.source_ok(20, left));
  CHECK_FALSE(t.source_ok(10, right));
  CHECK_FALSE(t.source_ok(99, left));
  // The parent cannot speak for our children, nor anyone for us.
  CHECK_FALSE(t.source_ok(10, parent_stream));
  CHECK_FALSE(t.source_ok(self, parent_stream));
  CHECK_FALSE(t.source_ok(self, left));
}

TEST_CASE("routing_table: the master trusts no unknown source", "[routing_table]") {
  auto t = with_grants(master_id, std::nullopt);
  REQUIRE(t.add(11, left));
  CHECK(t.source_ok(11, left));
  CHECK_FALSE(t.source_ok(12, left));
  CHECK_FALSE(t.source_ok(12, right));
  CHECK_FALSE(t.source_ok(master_id, left));
}

TEST_CASE("routing_table: a child cannot claim the route to the master", "[routing_table]") {
  routing_table t{5, 1u};
  CHECK_FALSE(t.add(master_id, 2));
  CHECK(t.lookup(master_id).kind == route::parent);
  CHECK(t.source_ok(master_id, 1));
  CHECK_FALSE(t.source_ok(master_id, 2));
}

TEST_CASE("routing_table: only ids granted to a stream are routed behind it",
          "[routing_table]") {
  auto t = with_grants(master_id, std::nullopt);
  CHECK(t.granted_via(9) == std::nullopt);
  CHECK(t.granted_via(10) == left);
  CHECK(t.granted_via(19) == left);
  CHECK(t.granted_via(20) == right);
  CHECK(t.granted_via(30) == std::nullopt);
  // A claim outside the stream's blocks is refused, even on a free id.
  CHECK_FALSE(t.add(25, left));
  CHECK_FALSE(t.add(1001, left));
  CHECK(t.lookup(25).kind == route::unroutable);
  CHECK(t.add(25, right));
  CHECK_FALSE(t.source_ok(25, left));
  CHECK(t.source_ok(25, right));
  // A block granted later (to a requester behind the stream) covers it.
  t.grant(1000, 1000, left);
  CHECK(t.add(1001, left));
  CHECK(t.granted_via(1999) == left);
  CHECK(t.granted_via(2000) == std::nullopt);
  // Dropping the stream forgets its grants.
  t.drop_stream(left);
  CHECK(t.granted_via(1001) == std::nullopt);
  CHECK_FALSE(t.add(1001, left));
}

TEST_CASE("routing_table: an isolated id stays cut off until its stream is dropped",
          "[routing_table]") {
  auto t = with_grants(self, parent_stream);
  REQUIRE(t.add(12, left));
  CHECK_FALSE(t.isolate(12, right));
  CHECK(t.isolate(12, left));
  CHECK(t.isolated(12, left));
  CHECK_FALSE(t.isolated(12, right));
  CHECK_FALSE(t.source_ok(12, left));
  CHECK_FALSE(t.add(12, left)); // announced again: still cut off
  CHECK(t.lookup(12).kind == route::parent);
  t.drop_stream(left);
  CHECK_FALSE(t.isolated(12, left));
}
