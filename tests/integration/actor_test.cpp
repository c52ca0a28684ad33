// Remote actors (first slice): spawn by name in a context, send and
// request/reply through one and two hops, interface and name refusals at
// spawn, and exactly one down_msg per monitor when the actor exits or its
// context (or a hop on the way) is killed.
#include <catch2/catch.hpp>

#include <caf/actor_system.hpp>
#include <caf/event_based_actor.hpp>
#include <caf/message_handler.hpp>
#include <caf/scoped_actor.hpp>
#include <chrono>
#include <csignal>
#include <future>
#include <set>
#include <thread>
#include <unistd.h>

#include "mitosis/actors/remote_actor.hpp"
#include "mitosis/mitosis.hpp"
#include "actor_waits.hpp"
#include "loss_helpers.hpp"
#include "test_actors.hpp"
#include "test_functions.hpp"

using namespace std::chrono_literals;
using clk = std::chrono::steady_clock;
using mitosis::test::ask;
using mitosis::test::downs;

namespace {

// The behaviour of a local actor that quits with (code, "test") on `quit`.
caf::message_handler quits_on_request(caf::event_based_actor* me) {
  return {
    [me](quit_atom, int code) {
      me->quit(caf::error{static_cast<std::uint8_t>(code), caf::atom("test")});
    },
  };
}

// Expects exactly one down_msg, from `a`, with reason (code, "test").
void expect_test_exit(caf::scoped_actor& self, const caf::actor& a, int code) {
  auto d = downs(self, 1, 5000ms);
  REQUIRE(d.size() == 1);
  CHECK(d[0].source == a.address());
  CHECK(d[0].reason.code() == code);
  CHECK(d[0].reason.category() == caf::atom("test"));
}

} // namespace

TEST_CASE("remote actors: spawn, send and request/reply over one hop") {
  mitosis::master m{0, nullptr};
  auto c = m.local({.name = "actors.one"});
  caf::scoped_actor self{m.system()};

  auto a = c.spawn<caf::actor>("test.echo");
  REQUIRE(a);
  CHECK(ask<std::string>(self, a, std::string{"hi"}) == "hi");
  CHECK(ask<int>(self, a, 2, 3) == 5);
  int pid = ask<int>(self, a, pid_atom::value);
  CHECK(pid == c.call(my_pid));
  CHECK(pid != ::getpid());

  // A plain send, answered by a message of the actor's own to the sender.
  self->send(a, tell_atom::value, std::string{"x"});
  std::string told;
  self->receive([&](std::string& s) { told = s; }, caf::after(5s) >> [&] { told = "timeout"; });
  CHECK(told == "told: x");

  // A typed handle, spawned with an argument.
  auto t = c.spawn<adder>("test.adder", 10);
  CHECK(ask<int>(self, t, 1, 2) == 13);

  // From an event-based actor: request(...).then and request(...).await.
  std::promise<int> then_p, await_p;
  m.system().spawn([t, &then_p, &await_p](caf::event_based_actor* me) {
    me->request(t, 5s, 20, 3).then([&then_p](int r) { then_p.set_value(r); },
                                    [&then_p](caf::error&) { then_p.set_value(-1); });
    me->request(t, 5s, 100, 3).await([&await_p](int r) { await_p.set_value(r); },
                                     [&await_p](caf::error&) { await_p.set_value(-1); });
  });
  auto then_f = then_p.get_future();
  auto await_f = await_p.get_future();
  REQUIRE(then_f.wait_for(5s) == std::future_status::ready);
  REQUIRE(await_f.wait_for(5s) == std::future_status::ready);
  CHECK(then_f.get() == 33);
  CHECK(await_f.get() == 113);

  // One proxy per remote actor: the same handle compares equal.
  CHECK(a != caf::actor_cast<caf::actor>(t));
}

TEST_CASE("remote actors: user message types, and a spawn in the master's own context") {
  mitosis::master m{0, nullptr};
  auto c = m.local({.name = "actors.types"});
  caf::scoped_actor self{m.system()};
  auto mover = c.spawn<caf::actor>("test.mover", point{1, 2});
  auto p = ask<point>(self, mover, point{10, 20});
  CHECK(p.x == 11);
  CHECK(p.y == 22);

  // Spawned here: the handle is the actor itself, not a proxy.
  auto local = m.self().spawn<adder>("test.adder", 1);
  CHECK(local->node() == m.system().node());
  CHECK(ask<int>(self, local, 1, 1) == 3);
  CHECK(mover->node() != m.system().node());
}

TEST_CASE("remote actors: spawn and request/reply over two hops") {
  mitosis::master m{0, nullptr};
  auto mid = m.local({.name = "actors.mid"});
  auto leaf = m.local({.name = "actors.leaf", .via = mid});
  caf::scoped_actor self{m.system()};

  auto a = leaf.spawn<caf::actor>("test.echo");
  CHECK(ask<std::string>(self, a, std::string{"far"}) == "far");
  CHECK(ask<int>(self, a, pid_atom::value) == leaf.call(my_pid));
  self->send(a, tell_atom::value, std::string{"y"});
  std::string told;
  self->receive([&](std::string& s) { told = s; }, caf::after(5s) >> [&] { told = "timeout"; });
  CHECK(told == "told: y");

  auto t = leaf.spawn<adder>("test.adder", 1000);
  for (int i = 0; i < 50; ++i)
    CHECK(ask<int>(self, t, i, i) == 1000 + 2 * i);
}

TEST_CASE("remote actors: a handle whose interface does not match is refused at spawn") {
  mitosis::master m{0, nullptr};
  auto c = m.local({.name = "actors.mismatch"});
  try {
    (void)c.spawn<concatenator>("test.adder", 1);
    FAIL("no exception");
  } catch (const mitosis::spawn_error& e) {
    CHECK(e.code() == mitosis::errc::actor_interface_mismatch);
    CHECK(e.actor_type() == "test.adder");
    CHECK(e.context() == "actors.mismatch");
    CHECK_THAT(e.what(), Catch::Contains("test.adder") && Catch::Contains("actors.mismatch"));
  }
  // A typed handle to a dynamically typed actor is refused too.
  CHECK_THROWS_AS(c.spawn<adder>("test.echo"), mitosis::spawn_error);
  // So are arguments that do not match the parameters.
  try {
    (void)c.spawn<adder>("test.adder", std::string{"ten"});
    FAIL("no exception");
  } catch (const mitosis::spawn_error& e) {
    CHECK(e.code() == mitosis::errc::bad_actor_arguments);
  }
  // The context is fine afterwards.
  caf::scoped_actor self{m.system()};
  CHECK(ask<int>(self, c.spawn<adder>("test.adder", 1), 1, 1) == 3);
  // A dynamically typed handle may hold a typed actor.
  CHECK(ask<int>(self, c.spawn<caf::actor>("test.adder", 2), 1, 1) == 4);
}

TEST_CASE("remote actors: an unknown actor type is refused with spawn_error") {
  mitosis::master m{0, nullptr};
  auto c = m.local({.name = "actors.unknown"});
  try {
    (void)c.spawn<caf::actor>("test.nobody");
    FAIL("no exception");
  } catch (const mitosis::spawn_error& e) {
    CHECK(e.code() == mitosis::errc::unknown_actor);
    CHECK(e.actor_type() == "test.nobody");
    CHECK_THAT(e.what(), Catch::Contains("test.nobody") && Catch::Contains("actors.unknown"));
  }
}

TEST_CASE("remote actors: exactly one down_msg with the exit reason when the actor quits") {
  mitosis::master m{0, nullptr};
  auto c = m.local({.name = "actors.quitter"});
  caf::scoped_actor self{m.system()};
  auto a = c.spawn<caf::actor>("test.echo");
  self->monitor(a);
  self->monitor(a); // two monitors: two down messages, each once
  self->send(a, quit_atom::value, 42);
  auto d = downs(self, 2, 5000ms);
  REQUIRE(d.size() == 2);
  for (auto& x : d) {
    CHECK(x.source == a.address());
    CHECK(x.reason.code() == 42);
    CHECK(x.reason.category() == caf::atom("test"));
  }
  // A request to the dead actor fails at once.
  caf::error err;
  self->request(a, 5s, 1, 2).receive([](int) {}, [&](caf::error& e) { err = e; });
  CHECK(err);
  CHECK(err != caf::sec::request_timeout);
  // Monitoring it now delivers its down message at once.
  self->monitor(a);
  CHECK(downs(self, 1, 2000ms, 100ms).size() == 1);
}

TEST_CASE("remote actors: an actor that exits before its spawn returns still gives one "
          "down_msg per monitor") {
  mitosis::master m{0, nullptr};
  auto c = m.local({.name = "actors.brief"});
  caf::scoped_actor self{m.system()};
  // Its actor_down may be read before the proxy exists: the proxy is then
  // made dead, and a monitor fires at once.
  for (int i = 0; i < 20; ++i) {
    auto a = c.spawn<caf::actor>("test.brief", 9);
    self->monitor(a);
    expect_test_exit(self, a, 9);
  }
}

TEST_CASE("remote actors: an actor in a context monitors an actor of the master") {
  mitosis::master m{0, nullptr};
  auto c = m.local({.name = "actors.watcher"});
  caf::scoped_actor self{m.system()};
  auto w = c.spawn<caf::actor>("test.watcher");
  CHECK(ask<bool>(self, w, subscribe_atom::value));
  std::promise<bool> watching;
  auto mine = m.system().spawn([w, &watching](caf::event_based_actor* me) -> caf::behavior {
    me->request(w, 5s, watch_atom::value)
      .then([&watching](bool) { watching.set_value(true); },
            [&watching](caf::error&) { watching.set_value(false); });
    return quits_on_request(me);
  });
  auto f = watching.get_future();
  REQUIRE(f.wait_for(5s) == std::future_status::ready);
  REQUIRE(f.get());
  // The master's actor_down reaches the watcher's context, which kills its
  // proxy: the watcher gets one down_msg and reports its reason.
  auto reported = [&] {
    std::vector<caf::error> seen;
    bool quiet = false;
    while (!quiet)
      self->receive([&](watched_atom, caf::error& e) { seen.push_back(e); },
                    caf::after(seen.empty() ? 5000ms : 500ms) >> [&] { quiet = true; });
    return seen;
  };
  self->send(mine, quit_atom::value, 5);
  auto seen = reported();
  REQUIRE(seen.size() == 1);
  CHECK(seen[0].code() == 5);
  CHECK(seen[0].category() == caf::atom("test"));

  // The same for an actor whose handle is passed in a message.
  auto passed = m.system().spawn(
    [](caf::event_based_actor* me) -> caf::behavior { return quits_on_request(me); });
  CHECK(ask<bool>(self, w, watch_atom::value, passed));
  self->send(passed, quit_atom::value, 6);
  seen = reported();
  REQUIRE(seen.size() == 1);
  CHECK(seen[0].code() == 6);
}

TEST_CASE("remote actors: kill -9 of the actor's context gives one down_msg and fails "
          "pending requests") {
  mitosis::master m{0, nullptr};
  auto c = m.local({.name = "actors.victim"});
  caf::scoped_actor self{m.system()};
  auto a = c.spawn<caf::actor>("test.echo");
  self->monitor(a);
  CHECK(ask<int>(self, a, 1, 1) == 2);
  int pid = m.pid_of(c);
  std::thread killer{[pid] {
    std::this_thread::sleep_for(200ms);
    ::kill(pid, SIGKILL);
  }};
  // Never answered: only the loss ends it.
  caf::error err;
  auto t0 = clk::now();
  self->request(a, 10s, hang_atom::value).receive([](int) {}, [&](caf::error& e) { err = e; });
  killer.join();
  CHECK(clk::now() - t0 < 3s);
  CHECK(err == mitosis::errc::context_lost);
  auto d = downs(self, 1, 5000ms);
  REQUIRE(d.size() == 1);
  CHECK(d[0].reason == mitosis::errc::context_lost);
  CHECK(m.system().render(d[0].reason).find("context lost") != std::string::npos);
  // A message to it afterwards is refused at once.
  caf::error late;
  self->request(a, 5s, 1, 1).receive([](int) {}, [&](caf::error& e) { late = e; });
  CHECK(late);
  CHECK(late != caf::sec::request_timeout);
}

TEST_CASE("remote actors: kill -9 of an intermediate gives exactly one down_msg for each of "
          "20 actors behind it") {
  mitosis::master m{0, nullptr};
  auto mid = m.local({.name = "actors.hop"});
  auto leaf = m.local({.name = "actors.behind", .via = mid});
  caf::scoped_actor self{m.system()};
  std::vector<caf::actor> actors;
  for (int i = 0; i < 20; ++i) {
    actors.push_back(leaf.spawn<caf::actor>("test.echo"));
    self->monitor(actors.back());
  }
  for (auto& a : actors)
    CHECK(ask<int>(self, a, 1, 2) == 3);
  REQUIRE(::kill(m.pid_of(mid), SIGKILL) == 0);
  auto d = downs(self, 20, 5000ms);
  CHECK(d.size() == 20);
  std::set<caf::actor_addr> sources;
  int lost = 0;
  for (auto& x : d) {
    sources.insert(x.source);
    lost += x.reason == mitosis::errc::context_lost ? 1 : 0;
  }
  CHECK(sources.size() == 20);
  CHECK(lost == 20);
}

namespace {

// A local actor linked to `remote` (the link made by the remote actor when
// `remote_links`), that quits with (code, "test") on `quit` and undoes the
// link on `unlinkme`.
caf::actor linked_to(caf::actor_system& sys, const caf::actor& remote, bool remote_links) {
  std::promise<bool> linked;
  auto l = sys.spawn([remote, remote_links, &linked](caf::event_based_actor* me) -> caf::behavior {
    if (remote_links) {
      me->request(remote, 5s, link_me_atom::value)
        .then([&linked](bool) { linked.set_value(true); },
              [&linked](caf::error&) { linked.set_value(false); });
    } else {
      me->link_to(remote);
      linked.set_value(true);
    }
    return quits_on_request(me).or_else(
      [me, remote, remote_links](unlink_me_atom) -> caf::result<bool> {
        if (!remote_links) {
          me->unlink_from(remote);
          return true;
        }
        auto rp = me->make_response_promise<bool>();
        me->request(remote, 5s, unlink_me_atom::value).then([rp](bool b) mutable {
          rp.deliver(b);
        });
        return rp;
      });
  });
  auto f = linked.get_future();
  REQUIRE(f.wait_for(5s) == std::future_status::ready);
  REQUIRE(f.get());
  return l;
}

} // namespace

TEST_CASE("remote actors: a link to a remote actor works both ways") {
  // The link made here (to the proxy) or there (by the remote actor, to
  // its proxy of ours).
  auto remote_links = GENERATE(false, true);
  INFO("link made by the " << (remote_links ? "remote" : "local") << " actor");
  mitosis::master m{0, nullptr};
  auto c = m.local({.name = "actors.linked"});
  caf::scoped_actor self{m.system()};

  SECTION("the remote actor exits: the local one gets its exit reason") {
    auto r = c.spawn<caf::actor>("test.echo");
    auto l = linked_to(m.system(), r, remote_links);
    self->monitor(l);
    CHECK(ask<int>(self, r, 1, 1) == 2);
    self->send(r, quit_atom::value, 42);
    expect_test_exit(self, l, 42);
  }
  SECTION("the local actor exits: the remote one gets its exit reason") {
    auto r = c.spawn<caf::actor>("test.echo");
    self->monitor(r);
    auto l = linked_to(m.system(), r, remote_links);
    CHECK(ask<int>(self, r, 1, 1) == 2);
    self->send(l, quit_atom::value, 7);
    expect_test_exit(self, r, 7);
  }
  SECTION("the remote actor's context is killed: the local one exits with context_lost") {
    auto r = c.spawn<caf::actor>("test.echo");
    auto l = linked_to(m.system(), r, remote_links);
    self->monitor(l);
    CHECK(ask<int>(self, r, 1, 1) == 2);
    REQUIRE(::kill(m.pid_of(c), SIGKILL) == 0);
    auto d = downs(self, 1, 5000ms);
    REQUIRE(d.size() == 1);
    CHECK(d[0].source == l.address());
    CHECK(d[0].reason == mitosis::errc::context_lost);
  }
  SECTION("once unlinked, the loss of the remote context leaves the local actor alone") {
    auto r = c.spawn<caf::actor>("test.echo");
    auto l = linked_to(m.system(), r, remote_links);
    self->monitor(l);
    CHECK(ask<bool>(self, l, unlink_me_atom::value));
    REQUIRE(::kill(m.pid_of(c), SIGKILL) == 0);
    CHECK(downs(self, 0, 0ms, 1000ms).empty());
    CHECK_THROWS_AS(c.call(add, 1, 1), mitosis::context_lost); // the loss was seen
  }
}

namespace {

// A child with a "test.counter" (500 us for each string) in it, and the
// scoped actor that talks to it.
struct counter_in_child {
  explicit counter_in_child(const char* name, mitosis::router::options opts = {})
    : m{0, nullptr, std::move(opts)}, c{m.local({.name = name})}, self{m.system()},
      counter{c.spawn<caf::actor>("test.counter")} {}

  // The strings the counter has taken (after every one sent before).
  int count() {
    int got = -1;
    self->request(counter, 60s, count_atom::value)
      .receive([&](int x) { got = x; },
               [&](caf::error& e) { FAIL_CHECK("request failed: " << self->system().render(e)); });
    return got;
  }

  mitosis::master m;
  mitosis::context c;
  caf::scoped_actor self;
  caf::actor counter;
};

} // namespace

TEST_CASE("remote actors: a sender faster than its peer is held back and the peer is not cut") {
  // 32 MiB of messages to an actor that takes 500 us for each 32 KiB (at
  // most 64 MiB/s), with 4 MiB allowed to wait unread: without
  // backpressure the queue passes the limit and the child is cut as a peer
  // that does not read (2 MiB of headroom over where the sender waits).
  counter_in_child t{"actors.slow", {.max_queued_bytes = 4 << 20}};
  REQUIRE(t.counter);
  const std::string chunk(32 * 1024, 'x');
  constexpr int n = 1024;
  for (int i = 0; i < n; ++i)
    t.self->send(t.counter, chunk);
  // What the child took in waits in its mailbox: seconds under a sanitizer.
  CHECK(t.count() == n);
  CHECK(t.c.call(add, 2, 3) == 5); // still there
}

TEST_CASE("remote actors: a call is answered while an actor of the child works through a "
          "backlog of small messages") {
  // 4,000 strings to an actor that takes 500 us for each (2 s of work), then
  // a call behind them on the same stream: the thread that read the strings
  // runs the actor for a while, but the stream is read on meanwhile, so the
  // call (a few hundred KiB behind) is answered long before the backlog is.
  counter_in_child t{"actors.backlog"};
  REQUIRE(t.counter);
  constexpr int n = 4000;
  const std::string small(64, 'x');
  for (int i = 0; i < n; ++i)
    t.self->send(t.counter, small);
  const auto t0 = std::chrono::steady_clock::now();
  CHECK(t.c.call(add, 2, 3) == 5);
  CHECK(std::chrono::steady_clock::now() - t0 < 1s);
  CHECK(t.count() == n);
}
