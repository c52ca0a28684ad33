// Children that misbehave on purpose: a length over the limit, a frame that
// never completes, a flood of refused calls. The master must cut or ignore
// the offender and keep serving the others, with bounded memory.
#include <catch2/catch.hpp>

#include <csignal>
#include <string>
#include <thread>

#include "../sanitized.hpp"
#include "captured_log.hpp"
#include "flood_functions.hpp"
#include "hostile_scene.hpp"
#include "mitosis/actors/runtime.hpp"
#include "test_actors.hpp"

#include <caf/scoped_actor.hpp>

TEST_CASE("a frame length over the limit cuts the sender and nothing else") {
  captured_log log;
  offender_and_siblings s{"oversize", {.max_frame = 1 << 20}};
  s.bad.call_no_reply(send_header_only, 0xffffffffu, 0u);
  CHECK(log.wait_for("cut stream to 'oversize'", "frame payload larger than the configured maximum"));
  CHECK_THROWS_AS(s.bad.call(add, 1, 1), mitosis::context_lost);
  s.others_still_served();
}

TEST_CASE("a frame that never completes holds only its own stream") {
  offender_and_siblings s{"stall"};
  auto before = own_rss_kb();
  // Announces 100 MiB, sends 1 KiB and stops: the rest never comes.
  s.bad.call_no_reply(send_header_only, 100u << 20, 1024u);
  s.others_still_served();
  // The master reserved the announced payload (bounded by max_frame), but
  // only what arrived of it is resident.
  CHECK(own_rss_kb() - before < flood_rss_slack_kb);
}

TEST_CASE("a flood of refused calls from a child is cut and bounded") {
  captured_log log;
  offender_and_siblings s{"flooder"};
  auto before = own_rss_kb();
  auto f = s.bad.call_async(flood_calls, 20000);
  CHECK(log.wait_for("cut stream to 'flooder'", "policy violations"));
  CHECK_THROWS_AS(f.get(), mitosis::context_lost);
  s.others_still_served();
  CHECK(own_rss_kb() - before < flood_rss_slack_kb);
}

TEST_CASE("a flood of route announcements stops at the limit and cuts the child") {
  captured_log log;
  offender_and_siblings s{"route-flooder", {.max_routes_per_child = 100}};
  // Ids granted to it (a block it asked for): accepted up to the limit.
  s.bad.call_no_reply(flood_granted_routes, 1000);
  CHECK(log.wait_for("route limit of 100 contexts behind one child reached",
                     "cut stream to 'route-flooder'"));
  CHECK_THROWS_AS(s.bad.call(add, 1, 1), mitosis::context_lost);
  s.others_still_served();
}

TEST_CASE("a decode bomb (a huge count in a small payload) allocates nothing and is refused") {
  captured_log log;
  offender_and_siblings s{"bomber"};
  auto before = own_rss_kb();
  for (int i = 0; i < 5; ++i)
    CHECK(s.bad.call(send_count_bomb));
  CHECK(log.wait_for("undecodable log record from context", "collection count larger than"));
  s.others_still_served();
  CHECK(own_rss_kb() - before < flood_rss_slack_kb);
}

namespace {

/// The master started b and d through a: d is off the path to b, behind the
/// same stream of the master. d forges dead replies for `handle` (and its
/// neighbours), as if it had learnt it; returns the log line to expect.
struct off_path_scene {
  captured_log log;
  mitosis::master m{0, nullptr};
  mitosis::context a = m.local({.name = "a"});
  mitosis::context b = m.local({.name = "b", .via = a});
  mitosis::context d = m.local({.name = "d", .via = a});

  bool forge_ignored(std::uint32_t handle, const std::string& what) {
    d.call_no_reply(forge_deads, 0u, handle - 10u, 21);
    return log.wait_for("ignored a dead reply for " + what + std::to_string(handle),
                        "from context " + std::to_string(d.id()),
                        "not on the path to context " + std::to_string(b.id()));
  }
};

} // namespace

TEST_CASE("a dead reply forged by a context off the path does not fail the call") {
  off_path_scene s;
  auto& [log, m, a, b, d] = s;
  auto call = b.call_async(sleep_ms, 1500);
  // d is told the call's reply handle (it could not count to it: handles
  // are permuted) and answers it, and its neighbours, with dead replies.
  auto waiting = m.runtime().pending().waiting_on(b.id());
  REQUIRE(waiting.size() == 1);
  CHECK(s.forge_ignored(waiting[0], "handle "));
  CHECK(call.get() == 1500);
  CHECK(b.call(add, 1, 2) == 3);
  // Nothing from a (on the path) was ignored.
  CHECK(log.now().find("from context " + std::to_string(a.id()) + ": not on the path")
        == std::string::npos);
}

TEST_CASE("a dead reply forged by a context off the path does not fail an actor request") {
  off_path_scene s;
  auto& [log, m, a, b, d] = s;
  auto echo = b.spawn<caf::actor>("test.echo");
  caf::scoped_actor self{m.system()};
  // Never answered: the request waits until its own timeout.
  auto pending = self->request(echo, std::chrono::milliseconds{1500}, hang_atom::value);
  auto waiting = m.runtime().actors().waiting_on(b.id());
  REQUIRE(waiting.size() == 1);
  CHECK(s.forge_ignored(waiting[0], "actor request "));
  caf::error got;
  pending.receive([](hang_atom) { FAIL_CHECK("a hang request was answered"); },
                  [&](caf::error& e) { got = std::move(e); });
  CHECK(got == caf::sec::request_timeout);
  caf::scoped_actor again{m.system()};
  again->request(echo, std::chrono::seconds{5}, std::string{"alive"})
    .receive([](const std::string& s) { CHECK(s == "alive"); },
             [&](caf::error& e) { FAIL_CHECK(m.system().render(e)); });
}

TEST_CASE("a context cannot fail calls it does not carry by counting reply handles") {
  mitosis::master m{0, nullptr};
  auto siblings = mitosis::policy::rules::defaults();
  siblings.sibling_routing = true;
  m.set_policy(siblings);
  auto caller = m.local({.name = "caller"});
  auto callee = m.local({.name = "callee"});
  auto forger = m.local({.name = "forger"});
  // caller did not start callee, and forger lives behind the same stream of
  // caller as callee does (its parent): a dead reply from there is believed
  // for a call caller made, if its handle is right. With counted handles,
  // 20,000 dead replies from the first handle on failed this call.
  auto call = caller.call_async(call_sibling_sleep, callee, 1500);
  std::this_thread::sleep_for(std::chrono::milliseconds{200});
  CHECK(forger.call(forge_deads, caller.id(), 0u, 20000) == 20000);
  CHECK(forger.call(forge_deads, caller.id(), 1000u, 20000) == 20000);
  CHECK(call.get() == 1500);
  CHECK(caller.call(call_sibling_sleep, callee, 1) == 1);
}
