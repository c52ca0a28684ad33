// Route claims, exact sources and per-hop checks (docs/security.md §2):
// only ids granted to a subtree are routed and accepted as sources behind
// it, and a violation is charged to the context that sent it, not to the
// neighbour that relayed it.
#include <catch2/catch.hpp>

#include <string>
#include <vector>

#include "captured_log.hpp"
#include "mitosis/mitosis.hpp"
#include "test_functions.hpp"

using mitosis::serialization::to_u32;
using mitosis::serialization::wire_type;

namespace {

bool absent(const captured_log& log, const std::string& s) {
  log.sink->flush();
  return log.text.str().find(s) == std::string::npos;
}

} // namespace

TEST_CASE("a child's claims on a sibling's next ids are its own violations") {
  captured_log log;
  // 5 refusals cut a stream: the claimant's 5 claims, or, were they
  // accepted, the sibling's 5 genuine announcements.
  mitosis::master m{0, nullptr, {.max_violations = 5}};
  auto claimant = m.local({.name = "claimant"});
  auto sibling = m.local({.name = "sibling"});
  // Blocks go out in order: the master's first block ends at 1000, so the
  // first context started through the sibling gets 1001.
  const unsigned next = 1001;
  claimant.call_no_reply(flood_routes, next, 5);
  CHECK(log.wait_for("route_add for context 1005 refused: not an id granted to this stream",
                     "cut stream to 'claimant'"));
  std::vector<mitosis::context> kids;
  for (int i = 0; i < 5; ++i)
    kids.push_back(m.local({.name = "kid" + std::to_string(i), .via = sibling}));
  for (unsigned i = 0; i < 5; ++i) {
    REQUIRE(kids[i].id() == next + i);
    // The call reaches the process started for that id, under the sibling.
    CHECK(kids[i].call(my_pid) == m.pid_of(kids[i]));
    CHECK(kids[i].call(my_ppid) == m.pid_of(sibling));
  }
  CHECK(sibling.call(add, 2, 3) == 5);
  CHECK(absent(log, "on stream to 'sibling'"));
  CHECK_THROWS_AS(claimant.call(add, 1, 1), mitosis::context_lost);
}

TEST_CASE("a grandchild's violations cut it off alone, not its parent's subtree") {
  captured_log log;
  mitosis::master m{0, nullptr};
  auto mid = m.local({.name = "mid"});
  auto bad = m.local({.name = "bad.gc", .via = mid});
  auto good = m.local({.name = "good.gc", .via = mid});
  // Calls to the master, refused by its call rights: charged to bad.gc.
  bad.call_no_reply(flood_master, 50);
  CHECK(log.wait_for("context " + std::to_string(bad.id()) + " cut off behind 'mid'"));
  CHECK_THROWS_AS(bad.call(add, 1, 1), mitosis::context_lost);
  for (int i = 0; i < 10; ++i) {
    CHECK(mid.call(add, i, 1) == i + 1);
    CHECK(good.call(echo, "ok") == "ok");
  }
  CHECK(absent(log, "on stream to 'mid'"));
  CHECK(absent(log, "cut stream to 'mid'"));
}

TEST_CASE("a restricted context cannot send with a descendant's id what it may not send") {
  captured_log log;
  mitosis::master m{0, nullptr};
  auto restricted = m.local({.name = "restricted"});
  auto kid = m.local({.name = "restricted.kid", .via = restricted});
  auto r = mitosis::policy::rules::defaults();
  // `restricted` may answer calls and announce routes, nothing else.
  r.types_from_context[restricted.id()] = {
    to_u32(wire_type::call_reply), to_u32(wire_type::call_error), to_u32(wire_type::dead),
    to_u32(wire_type::route_add), to_u32(wire_type::route_del)};
  m.set_policy(r);
  // A log line written with its child's id is judged by its rights too.
  restricted.call_no_reply(send_frame, to_u32(wire_type::log_record), kid.id(), 0u);
  CHECK(log.wait_for("refused log_record frame from context " + std::to_string(kid.id())
                     + " behind 'restricted'"));
  CHECK(restricted.call(add, 1, 2) == 3);
  CHECK(kid.call(add, 2, 2) == 4);
}

TEST_CASE("a neighbour's call rights bound the calls of its subtree") {
  mitosis::master m{0, nullptr};
  auto other = m.local({.name = "other"});
  auto held = m.local({.name = "held"});
  auto kid = m.local({.name = "held.kid", .via = held});
  auto r = mitosis::policy::rules::defaults();
  r.child_callable = {"echo"};
  r.callable_by_context[held.id()] = {}; // held may call nothing here
  m.set_policy(r);
  CHECK(other.call(call_sibling, m.self()) == "allowed: hi");
  CHECK(held.call(call_sibling, m.self()).rfind("refused: ", 0) == 0);
  // kid's calls come through held: held's rights apply to them too.
  CHECK(kid.call(call_sibling, m.self()).rfind("refused: ", 0) == 0);
}
