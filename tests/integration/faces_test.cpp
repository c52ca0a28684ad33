// The actor faces of the runtime (docs/architecture.md, "Actor faces"):
// the router actor's route events and counters, connection actors, context
// actors (monitor, link, loss), the spawner's parallel stage-1 starts and
// rules updates through the policy actor, all with real child processes.
#include <catch2/catch.hpp>

#include <algorithm>
#include <caf/actor_system.hpp>
#include <caf/event_based_actor.hpp>
#include <caf/scoped_actor.hpp>
#include <caf/typed_actor.hpp>
#include <chrono>
#include <thread>
#include <csignal>
#include <functional>
#include <future>
#include <optional>

#include "mitosis/actors/remote_actor.hpp"
#include "mitosis/actors/runtime.hpp"
#include "mitosis/mitosis.hpp"
#include "actor_waits.hpp"
#include "temp_dir.hpp"
#include "test_functions.hpp"

using namespace std::chrono_literals;
using Catch::Matchers::Contains;
using clk = std::chrono::steady_clock;
using mitosis::router::route_event;
using mitosis::router::event_kind;
namespace rt = mitosis::router;
using mitosis::test::ask;
using mitosis::test::downs;

// -- run in the contexts ------------------------------------------------------

// Whether this context's policy actor holds rules that let children call `fn`.
bool policy_actor_allows(std::string fn) {
  auto* me = mitosis::actors::runtime::agent();
  caf::scoped_actor self{me->system()};
  bool out = false;
  self->request(me->policy_actor(), 5s, mitosis::policy::get_rules_atom::value)
    .receive([&](std::vector<char>& bytes) {
               auto r = mitosis::policy::rules::decode(bytes);
               out = r.child_callable.count(fn) > 0;
             },
             [&](caf::error&) {});
  return out;
}
MITOSIS_REMOTE(policy_actor_allows);

// How many frames this context's router forwarded.
std::uint64_t frames_routed_here() {
  return mitosis::actors::runtime::agent()->routes().stats().frames_routed;
}
MITOSIS_REMOTE(frames_routed_here);

namespace {

// Subscribes `self` to the route events of `r` and keeps them in order of
// arrival: waiting for one leaves the others for later waits.
struct event_inbox {
  caf::scoped_actor& self;
  std::vector<route_event> seen;

  event_inbox(caf::scoped_actor& s, const rt::router_actor& r) : self(s) {
    REQUIRE(ask<bool>(self, r, rt::subscribe_atom::value));
  }

  // Waits up to `limit` for an event that `match` accepts.
  std::optional<route_event> wait(const std::function<bool(const route_event&)>& match,
                                  std::chrono::milliseconds limit) {
    auto deadline = clk::now() + limit;
    std::size_t next = 0;
    for (;;) {
      for (; next < seen.size(); ++next)
        if (match(seen[next]))
          return seen[next];
      bool timed_out = false;
      self->receive([&](route_event& e) { seen.push_back(std::move(e)); },
                    caf::after(std::max(deadline - clk::now(), clk::duration{0}))
                      >> [&] { timed_out = true; });
      if (timed_out)
        return std::nullopt;
    }
  }
};

auto is(event_kind k, mitosis::router::context_id id) {
  return [k, id](const route_event& e) { return e.what() == k && e.id == id; };
}

} // namespace

TEST_CASE("faces: route events report added contexts and their loss with the reason") {
  mitosis::master m{0, nullptr};
  caf::scoped_actor self{m.system()};
  event_inbox inbox{self, m.router_actor()};
  auto c = m.local({.name = "ev.child"});
  auto g = m.local({.name = "ev.grandchild", .via = c});
  auto added = inbox.wait(is(event_kind::route_added, c.id()), 5000ms);
  REQUIRE(added);
  CHECK(added->name == "ev.child");
  auto hello = inbox.wait(is(event_kind::route_added, g.id()), 5000ms);
  REQUIRE(hello);
  CHECK(hello->name == "ev.grandchild");
  CHECK(hello->stream == added->stream); // behind the child's stream
  auto routes = ask<std::vector<rt::route_entry>>(self, m.router_actor(), rt::routes_atom::value);
  CHECK(std::count_if(routes.begin(), routes.end(), [&](auto& r) {
          return (r.id == c.id() && r.direct) || (r.id == g.id() && !r.direct);
        }) == 2);
  REQUIRE(::kill(m.pid_of(c), SIGKILL) == 0);
  auto lost = inbox.wait(is(event_kind::route_lost, c.id()), 5000ms);
  REQUIRE(lost);
  CHECK_THAT(lost->reason, Contains("ev.child") && Contains("lost"));
  auto lost_g = inbox.wait(is(event_kind::route_lost, g.id()), 5000ms);
  REQUIRE(lost_g);
  CHECK(lost_g->reason == lost->reason);
  routes = ask<std::vector<rt::route_entry>>(self, m.router_actor(), rt::routes_atom::value);
  CHECK(std::none_of(routes.begin(), routes.end(),
                     [&](auto& r) { return r.id == c.id() || r.id == g.id(); }));
}

TEST_CASE("faces: a violation is reported to the subscribers and counted") {
  mitosis::master m{0, nullptr};
  caf::scoped_actor self{m.system()};
  event_inbox inbox{self, m.router_actor()};
  auto c = m.local({.name = "ev.bad"});
  // A frame of a type the master does not take from children.
  CHECK(c.call(send_frame, mitosis::serialization::to_u32(mitosis::serialization::wire_type::boot),
               unsigned(c.id()), 0u));
  auto v = inbox.wait(is(event_kind::violation, c.id()), 5000ms);
  REQUIRE(v);
  CHECK_THAT(v->reason, Contains("message type not allowed"));
  auto st = ask<rt::router_stats>(self, m.router_actor(), rt::stats_atom::value);
  CHECK(st.violations == 1);
  auto conn = ask<rt::connection_stats>(self, c.actor(), rt::stats_atom::value);
  CHECK(conn.violations == 1);
}

TEST_CASE("faces: monitors of a connection actor and a context actor get exactly one down "
          "with context_lost when the context is killed") {
  mitosis::master m{0, nullptr};
  caf::scoped_actor self{m.system()};
  auto c = m.local({.name = "mon.child"});
  auto ca = c.actor();
  CHECK(ca == c.actor()); // one per context
  self->request(ca, 5s, mitosis::actors::info_atom::value)
    .receive(
      [&](std::uint32_t id, std::string& name) {
        CHECK(id == c.id());
        CHECK(name == "mon.child");
      },
      [&](caf::error& e) { FAIL_CHECK(m.system().render(e)); });
  auto conn = ask<rt::connection_actor>(self, ca, rt::connection_atom::value);
  REQUIRE(conn);
  CHECK(ask<std::string>(self, conn, rt::state_atom::value) == "open");
  self->monitor(ca);
  self->monitor(conn);
  REQUIRE(::kill(m.pid_of(c), SIGKILL) == 0);
  auto d = downs(self, 2, 5000ms);
  REQUIRE(d.size() == 2);
  CHECK(std::count_if(d.begin(), d.end(), [&](auto& x) { return x.source == ca.address(); })
        == 1);
  CHECK(std::count_if(d.begin(), d.end(), [&](auto& x) { return x.source == conn.address(); })
        == 1);
  for (auto& x : d) {
    CHECK(x.reason == mitosis::errc::context_lost);
    CHECK_THAT(m.system().render(x.reason), Contains("mon.child"));
  }
  // Asked for after the loss: exited already, the monitor fires at once.
  auto late = m.local({.name = "mon.other"}); // a live sibling is unaffected
  self->monitor(late.actor());
  CHECK(c.actor() == ca); // still the same one
  auto dead = m.local({.name = "mon.dead"});
  REQUIRE(::kill(m.pid_of(dead), SIGKILL) == 0);
  REQUIRE_THROWS_AS(dead.call(sleep_ms, 5000), mitosis::context_lost); // the loss is seen
  self->monitor(dead.actor()); // first asked for after the loss
  d = downs(self, 1, 5000ms);
  REQUIRE(d.size() == 1);
  CHECK(d[0].reason == mitosis::errc::context_lost);
  CHECK(late.call(add, 1, 2) == 3);
}

TEST_CASE("faces: an actor linked to a context actor exits with context_lost when the "
          "context is killed") {
  mitosis::master m{0, nullptr};
  caf::scoped_actor self{m.system()};
  auto c = m.local({.name = "link.child"});
  auto ca = c.actor();
  auto linked = m.system().spawn([ca](caf::event_based_actor* me) -> caf::behavior {
    me->link_to(ca);
    return {[](int x) { return x; }};
  });
  self->monitor(linked);
  CHECK(ask<int>(self, linked, 7) == 7); // linked by now
  REQUIRE(::kill(m.pid_of(c), SIGKILL) == 0);
  auto d = downs(self, 1, 5000ms);
  REQUIRE(d.size() == 1);
  CHECK(d[0].source == linked.address());
  CHECK(d[0].reason == mitosis::errc::context_lost);
}

TEST_CASE("faces: the counters grow with calls") {
  mitosis::master m{0, nullptr};
  caf::scoped_actor self{m.system()};
  auto mid = m.local({.name = "count.mid"});
  auto leaf = m.local({.name = "count.leaf", .via = mid});
  auto before = ask<rt::connection_stats>(self, mid.actor(), rt::stats_atom::value);
  auto routed_before = mid.call(frames_routed_here);
  auto rbefore = ask<rt::router_stats>(self, m.router_actor(), rt::stats_atom::value);
  constexpr int n = 20;
  for (int i = 0; i < n; ++i)
    REQUIRE(leaf.call(add, i, 1) == i + 1);
  auto after = ask<rt::connection_stats>(self, mid.actor(), rt::stats_atom::value);
  // Each call: one request out, one reply in, on the stream to mid.
  CHECK(after.frames_out >= before.frames_out + n);
  CHECK(after.frames_in >= before.frames_in + n);
  CHECK(after.bytes_out >= before.bytes_out + n * 32);
  CHECK(after.bytes_in >= before.bytes_in + n * 32);
  CHECK(after.peer == mid.id());
  // The leaf lives behind the same stream.
  auto via_leaf = ask<rt::connection_stats>(self, leaf.actor(), rt::stats_atom::value);
  CHECK(via_leaf.stream == after.stream);
  // mid forwarded both ways. It counts a forwarded frame after writing it,
  // so the last reply can reach us before mid has counted it: look again.
  auto routed = mid.call(frames_routed_here);
  for (int i = 0; i < 200 && routed < routed_before + 2 * n; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds{5});
    routed = mid.call(frames_routed_here);
  }
  CHECK(routed >= routed_before + 2 * n);
  auto rafter = ask<rt::router_stats>(self, m.router_actor(), rt::stats_atom::value);
  CHECK(rafter.frames_in >= rbefore.frames_in + n);
  CHECK(rafter.routes == 2);
}

TEST_CASE("faces: close through the connection actor drops the context") {
  mitosis::master m{0, nullptr};
  caf::scoped_actor self{m.system()};
  auto c = m.local({.name = "close.child"});
  auto other = m.local({.name = "close.other"});
  auto conn = ask<rt::connection_actor>(self, m.router_actor(), rt::connection_atom::value,
                                        c.id());
  REQUIRE(conn);
  self->monitor(c.actor());
  self->monitor(conn);
  CHECK(ask<bool>(self, conn, rt::close_atom::value));
  auto d = downs(self, 2, 5000ms);
  REQUIRE(d.size() == 2);
  for (auto& x : d) {
    CHECK(x.reason == mitosis::errc::context_lost);
    CHECK_THAT(m.system().render(x.reason), Contains("closed by its connection actor"));
  }
  CHECK_THROWS_AS(c.call(add, 1, 1), mitosis::context_lost);
  CHECK(other.call(add, 1, 1) == 2);
  // No stream, no connection actor: a typed error, not a hang.
  self->request(m.router_actor(), 5s, rt::connection_atom::value, c.id())
    .receive([&](rt::connection_actor&) { FAIL_CHECK("a connection to a lost context"); },
             [&](caf::error& e) { CHECK(e == mitosis::errc::no_route); });
}

TEST_CASE("faces: stage-1 starts fan out in parallel on the spawner's workers") {
  mitosis::master m{0, nullptr};
  temp_dir cache;
  // Makes this program's bundle once, so that the starts below only
  // install it.
  auto warm = m.shell({.name = "fan.warm", .cache_dir = cache.path + "/warm"});
  REQUIRE(warm.call(add, 1, 1) == 2);
  // Each start installs the bundle into a cache of its own: a cold start
  // takes long enough that a machine busy with other work cannot stagger
  // the workers' beginnings past the others' ends.
  constexpr int n = 4;
  std::vector<std::future<mitosis::context>> started;
  for (int i = 0; i < n; ++i) {
    mitosis::bootstrap::method_spec spec;
    spec.kind = mitosis::bootstrap::method_kind::shell;
    spec.name = "fan." + std::to_string(i);
    spec.cache_dir = cache.path + "/c" + std::to_string(i);
    started.push_back(m.connect_async(spec));
  }
  for (auto& f : started)
    CHECK(f.get().call(add, 2, 3) == 5);
  CHECK(m.runtime().bundles_sent() == n + 1);
  caf::scoped_actor self{m.system()};
  auto spans = ask<std::vector<mitosis::bootstrap::start_span>>(
    self, m.runtime().spawner_actor(), mitosis::bootstrap::spans_atom::value);
  std::erase_if(spans, [](auto& s) { return s.name.rfind("fan.", 0) != 0 || s.name == "fan.warm"; });
  REQUIRE(spans.size() == n);
  std::int64_t last_begin = 0, first_end = INT64_MAX;
  for (auto& s : spans) {
    INFO(s.name << " ran " << s.begin_ns << " .. " << s.end_ns);
    CHECK(s.begin_ns < s.end_ns);
    last_begin = std::max(last_begin, s.begin_ns);
    first_end = std::min(first_end, s.end_ns);
  }
  // Every start began before any of them ended: all n ran at once.
  CHECK(last_begin < first_end);
}

TEST_CASE("faces: a rules_update from the parent changes the rules through the policy actor") {
  mitosis::master m{0, nullptr};
  auto c = m.local({.name = "rules.child"});
  auto g = m.local({.name = "rules.grandchild", .via = c});
  CHECK_FALSE(c.call(policy_actor_allows, std::string{"echo"}));
  CHECK_FALSE(g.call(policy_actor_allows, std::string{"echo"}));
  auto granted = mitosis::policy::rules::defaults();
  granted.child_callable.insert("echo");
  m.set_subtree_policy(granted);
  // Applied before the frames after it: the policy actor holds them already.
  CHECK(c.call(policy_actor_allows, std::string{"echo"}));
  CHECK(g.call(policy_actor_allows, std::string{"echo"}));
  CHECK(g.call(call_parent_echo) == "allowed: x");
}
