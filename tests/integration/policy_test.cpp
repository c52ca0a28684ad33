// The policy seam against a real child that sends what it must not: frames
// of types the master does not decode from children, forged sources, more
// violations than allowed; and calls to contexts that do not exist.
#include <catch2/catch.hpp>

#include <chrono>
#include <initializer_list>
#include <optional>
#include <string>
#include <thread>

#include "mitosis/actors/runtime.hpp"
#include "captured_log.hpp"
#include "mitosis/mitosis.hpp"
#include "test_functions.hpp"
#include "../sanitized.hpp"

using namespace std::chrono_literals;
using mitosis::serialization::to_u32;
using mitosis::serialization::wire_type;


namespace {

constexpr std::optional<unsigned> own_id;

/// A child named `sender` sends one frame of `type` from `src` (its own id
/// when empty): the master logs each of `logged`, and the child still
/// answers add(x, x) with `sum`.
void check_refused_frame(const char* sender, unsigned type, std::optional<unsigned> src,
                         std::initializer_list<const char*> logged, int x, int sum) {
  captured_log log;
  mitosis::master m{0, nullptr};
  auto c = m.local({.name = sender});
  CHECK(c.call(send_frame, type, src.value_or(c.id()), 0u));
  for (const char* line : logged) {
    INFO("log line: " << line);
    CHECK(log.wait_for(line));
  }
  CHECK(c.call(add, x, x) == sum);
}

} // namespace

TEST_CASE("a frame type the master does not decode from children is refused and logged") {
  check_refused_frame("sender", to_u32(wire_type::boot), own_id,
                      {"refused boot frame", "message type not allowed from this peer"}, 2, 4);
}

TEST_CASE("a forged source id is refused and logged") {
  check_refused_frame("forger", to_u32(wire_type::call_reply), 4242u,
                      {"frame source does not live behind the stream"}, 3, 6);
}

TEST_CASE("an unknown type id is refused and logged") {
  check_refused_frame("typo", 999u, own_id, {"unknown message type id"}, 4, 8);
}

TEST_CASE("a child exceeding the violation limit is cut so its siblings keep working") {
  captured_log log;
  mitosis::master m{0, nullptr};
  auto bad = m.local({.name = "repeat-offender"});
  auto good = m.local({.name = "neighbour"});
  for (int i = 0; i < 8; ++i)
    bad.call_no_reply(send_frame, to_u32(wire_type::boot), bad.id(), 0u);
  CHECK(log.wait_for("cut stream to 'repeat-offender'"));
  CHECK_THROWS_AS(bad.call(add, 1, 1), mitosis::context_lost);
  CHECK(good.call(add, 5, 5) == 10);
}

TEST_CASE("a call to a context that does not exist fails at once with no_route") {
  mitosis::master m{0, nullptr};
  mitosis::context ghost{&m.runtime(), 4242, "ghost"};
  try {
    ghost.call(add, 1, 1);
    FAIL("no exception");
  } catch (const mitosis::error& e) {
    CHECK(e.code() == mitosis::errc::no_route);
    CHECK(e.context() == "ghost");
  }
}

TEST_CASE("a child cannot capture the route of a context started after its claim") {
  captured_log log;
  mitosis::master m{0, nullptr};
  auto evil = m.local({.name = "evil"});
  CHECK(evil.call(claim_route, evil.id() + 1));
  CHECK(evil.call(add, 0, 0) == 0); // the claim has been read by now
  auto victim = m.local({.name = "victim"});
  REQUIRE(victim.id() == evil.id() + 1);
  CHECK(victim.call(my_pid) == m.pid_of(victim));
  CHECK(log.wait_for("route_add for context " + std::to_string(victim.id())
                     + " refused: not an id granted to this stream"));
}

TEST_CASE("traffic between siblings is refused by default and allowed when granted") {
  mitosis::master m{0, nullptr};
  auto a = m.local({.name = "sib.a"});
  auto b = m.local({.name = "sib.b"});
  auto refused = a.call(call_sibling, b);
  CHECK(refused.rfind("refused: ", 0) == 0);
  CHECK(refused.find("routing between children not allowed by policy") != std::string::npos);

  auto granted = mitosis::policy::rules::defaults();
  granted.sibling_routing = true;
  m.set_policy(granted);
  CHECK(a.call(call_sibling, b) == "allowed: hi");
}

TEST_CASE("a subtree policy reaches every context below the master in order") {
  mitosis::master m{0, nullptr};
  auto mid = m.local({.name = "tree.mid"});
  auto leaf = m.local({.name = "tree.leaf", .via = mid});
  // The leaf asks its parent (mid) to echo: refused by mid's defaults.
  CHECK(leaf.call(call_parent_echo).rfind("refused: ", 0) == 0);
  auto granted = mitosis::policy::rules::defaults();
  granted.child_callable.insert("echo");
  m.set_subtree_policy(granted);
  // The update travels ahead of this call on the same streams.
  CHECK(leaf.call(call_parent_echo) == "allowed: x");
  // A context started afterwards inherits the rules at boot.
  auto late = m.local({.name = "tree.late", .via = leaf});
  CHECK(late.call(call_parent_echo) == "allowed: x");
}

TEST_CASE("one child can be trusted with fewer message types than its siblings") {
  captured_log log;
  mitosis::master m{0, nullptr};
  auto quiet = m.local({.name = "quiet"});
  auto chatty = m.local({.name = "chatty2"});
  auto r = mitosis::policy::rules::defaults();
  // `quiet` may only answer calls: its log lines are refused.
  r.types_from_context[quiet.id()] = {to_u32(wire_type::call_reply),
                                      to_u32(wire_type::call_error), to_u32(wire_type::dead)};
  m.set_policy(r);
  quiet.call(log_line, "from-quiet");
  chatty.call(log_line, "from-chatty");
  CHECK(log.wait_for("from-chatty", "refused log_record frame from context"));
  CHECK(log.text.str().find("from-quiet") == std::string::npos);
  CHECK(quiet.call(add, 2, 3) == 5);
}

TEST_CASE("call rights per peer: one child may call the master and its sibling may not") {
  mitosis::master m{0, nullptr};
  auto trusted = m.local({.name = "trusted"});
  auto other = m.local({.name = "untrusted"});
  auto r = mitosis::policy::rules::defaults();
  r.callable_by_context[trusted.id()] = {"echo"};
  m.set_policy(r);
  CHECK(trusted.call(call_parent_echo) == "allowed: x");
  CHECK(other.call(call_parent_echo).rfind("refused: ", 0) == 0);
}

TEST_CASE("a subtree policy set while children start reaches every one of them") {
  mitosis::master m{0, nullptr};
  auto mid = m.local({.name = "race.mid"});
  // Each round starts a child of the master and one of mid while a
  // subtree policy is set, at a moment that moves through the start: the
  // children must end with the policy, whether they booted before it was
  // set, after, or in between.
  int stale = 0;
  std::string first;
  for (int i = 0; i < cycles_or(60, 20); ++i) {
    auto r = mitosis::policy::rules::defaults();
    r.import_blocks.insert("round" + std::to_string(i));
    auto setter = std::thread{[&m, r, i] {
      std::this_thread::sleep_for(std::chrono::microseconds{(i % 20) * 150});
      m.set_subtree_policy(r);
    }};
    auto direct = m.local({.name = "race.d" + std::to_string(i)});
    auto below = m.local({.name = "race.b" + std::to_string(i), .via = mid});
    setter.join();
    for (auto* c : {&direct, &below}) {
      auto got = c->call(import_blocks_here);
      if (got != "round" + std::to_string(i) && stale++ == 0)
        first = c->name() + " has '" + got + "' in round " + std::to_string(i);
    }
  }
  INFO(first);
  CHECK(stale == 0);
}
