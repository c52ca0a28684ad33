// Receivers, senders and select across real local contexts: values in
// order, close, overflow, a sender handed on through a hop, a receiver in a
// child, losses (kill -9) ending a receiver with context_lost, and select
// over futures and receivers in completion order.
#include <catch2/catch.hpp>

#include <chrono>
#include <csignal>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include <caf/scoped_actor.hpp>

#include "channel_functions.hpp"
#include "mitosis/serialization/type_registry.hpp"
#include "mitosis/actors/remote_actor.hpp"
#include "mitosis/mitosis.hpp"
#include "test_functions.hpp"

using namespace std::chrono_literals;
using clk = std::chrono::steady_clock;
using mitosis::serialization::to_u32;
using mitosis::serialization::wire_type;

namespace {

// Takes values until the receiver is closed, checking that they are
// 0, 1, 2, ...; returns how many came.
int drain_in_order(mitosis::receiver<int>& rx) {
  int n = 0;
  while (auto v = rx.next())
    CHECK(*v == n++);
  return n;
}

} // namespace

TEST_CASE("channels: a child streams values into a receiver in the master, then closes it") {
  mitosis::master m{0, nullptr};
  auto c = m.local({.name = "streamer"});
  mitosis::receiver<int> rx;
  auto done = c.call_async(stream_numbers, rx.to_sender(), 1000, true);
  for (int i = 0; i < 1000; ++i)
    REQUIRE(rx.get_for(5s) == i);
  CHECK_THROWS_AS(rx.get(), mitosis::channel_closed);
  CHECK_FALSE(rx.next().has_value());
  CHECK(done.get() == 1000);
  try {
    rx.get();
    FAIL("no exception");
  } catch (const mitosis::channel_closed& e) {
    CHECK(e.code() == mitosis::errc::channel_closed);
    CHECK(e.context() == "streamer");
    CHECK(std::string{e.what()}.find("closed by its sender in 'streamer'") != std::string::npos);
  }
}

TEST_CASE("channels: receiver ids are random, not a count another context could follow") {
  mitosis::master m{0, nullptr};
  std::vector<mitosis::receiver<int>> rxs(200);
  std::set<std::uint32_t> ids;
  int next_of_previous = 0;
  for (std::size_t i = 0; i < rxs.size(); ++i) {
    CHECK(rxs[i].handle() != 0);
    ids.insert(rxs[i].handle());
    if (i > 0 && rxs[i].handle() == rxs[i - 1].handle() + 1)
      ++next_of_previous;
  }
  CHECK(ids.size() == rxs.size());
  CHECK(next_of_previous < 3); // a counter: 199
}

TEST_CASE("channels: get_for times out on a receiver nobody writes to") {
  mitosis::master m{0, nullptr};
  mitosis::receiver<std::string> rx;
  auto t0 = clk::now();
  CHECK_THROWS_AS(rx.get_for(100ms), mitosis::timeout_error);
  CHECK(clk::now() - t0 >= 100ms);
  CHECK_FALSE(rx.try_get().has_value());
}

TEST_CASE("channels: a full receiver ends with channel_overflow after its queued values") {
  mitosis::master m{0, nullptr};
  auto c = m.local({.name = "flooder"});
  mitosis::receiver<int> rx{8};
  CHECK(c.call(stream_numbers, rx.to_sender(), 100, true) == 100);
  // The call's reply came after every value: the queue is full and ended.
  for (int i = 0; i < 8; ++i)
    CHECK(rx.get_for(5s) == i);
  try {
    rx.get_for(5s);
    FAIL("no exception");
  } catch (const mitosis::error& e) {
    CHECK(e.code() == mitosis::errc::channel_overflow);
    CHECK(std::string{e.what()}.find("flooder") != std::string::npos);
  }
}

TEST_CASE("channels: a sender handed on to a grandchild streams through the hop") {
  mitosis::master m{0, nullptr};
  auto c = m.local({.name = "relay"});
  mitosis::receiver<int> rx;
  int gc_pid = c.call(relay_stream, rx.to_sender(), 500);
  CHECK(gc_pid > 0);
  CHECK(drain_in_order(rx) == 500);
}

TEST_CASE("channels: the master calls a grandchild through its parent with a sender") {
  mitosis::master m{0, nullptr};
  auto c = m.local({.name = "mid"});
  auto gc = m.local({.name = "leaf", .via = c});
  mitosis::receiver<int> rx;
  gc.call_no_reply(stream_numbers, rx.to_sender(), 50, true);
  CHECK(drain_in_order(rx) == 50);
}

TEST_CASE("channels: a receiver in a child takes values from the child's own child") {
  mitosis::master m{0, nullptr};
  auto c = m.local({.name = "collector"});
  CHECK(c.call(sum_from_child, 200) == 199 * 200 / 2);
}

TEST_CASE("channels: kill -9 of the sender's context ends the receiver with context_lost") {
  mitosis::master m{0, nullptr};
  auto c = m.local({.name = "doomed"});
  mitosis::receiver<std::string> rx;
  auto f = c.call_async(stream_lines, rx.to_sender(), 3, 60000);
  for (int i = 0; i < 3; ++i)
    CHECK(rx.get_for(5s) == "line " + std::to_string(i));
  auto t0 = clk::now();
  ::kill(m.pid_of(c), SIGKILL);
  try {
    rx.get_for(5s);
    FAIL("no exception");
  } catch (const mitosis::context_lost& e) {
    CHECK(e.context() == "doomed");
  }
  CHECK(clk::now() - t0 < 1s);
  CHECK_THROWS_AS(f.get(), mitosis::context_lost);
}

TEST_CASE("channels: a context handed a sender that is killed before it sends ends the receiver") {
  mitosis::master m{0, nullptr};
  auto c = m.local({.name = "silent"});
  mitosis::receiver<std::string> rx;
  auto f = c.call_async(stream_lines, rx.to_sender(), 0, 60000);
  // The call is running once the context answers another one.
  CHECK(c.call(add, 1, 2) == 3);
  ::kill(m.pid_of(c), SIGKILL);
  CHECK_THROWS_AS(rx.get_for(5s), mitosis::context_lost);
}

TEST_CASE("channels: a grandchild handed the sender second-hand is watched before it sends") {
  mitosis::master m{0, nullptr};
  auto c = m.local({.name = "handover"});
  mitosis::receiver<std::string> rx;
  int gc_pid = c.call(relay_and_hang, rx.to_sender());
  ::kill(gc_pid, SIGKILL);
  try {
    rx.get_for(5s);
    FAIL("no exception");
  } catch (const mitosis::context_lost& e) {
    CHECK(e.code() == mitosis::errc::context_lost); // named by its id: started from below
  }
}

TEST_CASE("channels: kill -9 of a grandchild sender ends a receiver in the master") {
  mitosis::master m{0, nullptr};
  auto c = m.local({.name = "hop"});
  auto gc = m.local({.name = "far", .via = c});
  int gc_pid = gc.call(my_pid);
  mitosis::receiver<std::string> rx;
  gc.call_no_reply(stream_lines, rx.to_sender(), 2, 60000);
  CHECK(rx.get_for(5s) == "line 0");
  CHECK(rx.get_for(5s) == "line 1");
  auto t0 = clk::now();
  ::kill(gc_pid, SIGKILL);
  try {
    rx.get_for(5s);
    FAIL("no exception");
  } catch (const mitosis::context_lost& e) {
    CHECK(e.context() == "far");
  }
  CHECK(clk::now() - t0 < 1s);
  CHECK(c.call(add, 2, 2) == 4); // the hop lives on
}

TEST_CASE("channels: a receiver with a respondent ends when it is lost and refuses others") {
  mitosis::master m{0, nullptr};
  auto a = m.local({.name = "resp.a"});
  auto b = m.local({.name = "resp.b"});
  mitosis::receiver<int> rx{a};
  CHECK(b.call(stream_numbers, rx.to_sender(), 5, false) == 5);
  CHECK(a.call(stream_numbers, rx.to_sender(), 2, false) == 2);
  CHECK(rx.get_for(5s) == 0); // a's values only
  CHECK(rx.get_for(5s) == 1);
  ::kill(m.pid_of(a), SIGKILL);
  CHECK_THROWS_AS(rx.get_for(5s), mitosis::context_lost);
}

TEST_CASE("channels: sending to a receiver whose context is lost throws context_lost") {
  mitosis::master m{0, nullptr};
  auto c = m.local({.name = "gone"});
  int pid = m.pid_of(c);
  ::kill(pid, SIGKILL);
  CHECK_THROWS_AS(c.call_for(5s, add, 1, 1), mitosis::context_lost);
  mitosis::sender<int> s{c.id(), 1};
  CHECK_THROWS_AS(s.send(1), mitosis::context_lost);
}

TEST_CASE("channels: a sender travels in an actor message to an actor in a child") {
  mitosis::master m{0, nullptr};
  auto c = m.local({.name = "actors.stream"});
  auto a = c.spawn<caf::actor>("test.streamer");
  mitosis::receiver<int> rx;
  caf::scoped_actor self{m.system()};
  int answered = -1;
  self->request(a, caf::infinite, rx.to_sender(), 20)
    .receive([&](int n) { answered = n; }, [&](caf::error&) { answered = -2; });
  CHECK(answered == 20);
  CHECK(drain_in_order(rx) == 20);
}

TEST_CASE("channels: the type rules apply: values from a child denied channel_data are refused") {
  mitosis::master m{0, nullptr};
  auto denied = m.local({.name = "denied"});
  auto allowed = m.local({.name = "allowed"});
  auto r = mitosis::policy::rules::defaults();
  r.types_from_context[denied.id()] = {to_u32(wire_type::call_reply),
                                       to_u32(wire_type::call_error), to_u32(wire_type::dead)};
  m.set_policy(r);
  mitosis::receiver<int> rx;
  CHECK(denied.call(stream_numbers, rx.to_sender(), 3, false) == 3);
  // What the router refused never reaches the receiver; a value sent after
  // them by another context is the first one it gets.
  CHECK(allowed.call(stream_numbers, rx.to_sender(), 1, false) == 1);
  CHECK(rx.get_for(5s) == 0);
  CHECK_FALSE(rx.try_get().has_value());
}

TEST_CASE("channels: a sender in a sibling reaches the receiver only under sibling_routing") {
  mitosis::master m{0, nullptr};
  auto a = m.local({.name = "sib.a"});
  auto b = m.local({.name = "sib.b"});
  // Off by default: b's values are refused where the paths fork (here).
  CHECK(b.call(stream_numbers, a.call(open_kept_receiver), 3, true) == 3);
  CHECK(a.call(drain_kept_receiver, 200) == 0);
  auto r = mitosis::policy::rules::defaults();
  r.sibling_routing = true;
  m.set_policy(r);
  CHECK(b.call(stream_numbers, a.call(open_kept_receiver), 3, true) == 3);
  CHECK(a.call(drain_kept_receiver, 5000) == 3);
}

TEST_CASE("select: futures and receivers come back in completion order, with a timeout") {
  mitosis::master m{0, nullptr};
  auto c = m.local({.name = "sel"});
  auto slow = c.call_async(sleep_ms, 1500);
  auto fast = c.call_async(sleep_ms, 500);
  mitosis::receiver<int> rx;
  mitosis::select sel;
  auto i_slow = sel.add(slow);
  auto i_fast = sel.add(fast);
  auto i_rx = sel.add(rx);
  CHECK(sel.size() == 3);
  CHECK_THROWS_AS(sel.wait_for(10ms), mitosis::timeout_error);
  c.call_no_reply(stream_numbers, rx.to_sender(), 2, true);
  std::vector<std::size_t> order;
  std::vector<int> values;
  bool closed = false;
  while (!sel.empty()) {
    auto i = sel.wait_for(5s);
    order.push_back(i);
    if (i == i_rx) {
      if (auto v = rx.try_get())
        values.push_back(*v);
      else
        FAIL("a receiver came back with nothing to take");
    } else if (i == i_fast) {
      CHECK(fast.get() == 500);
    } else if (i == i_slow) {
      CHECK(slow.get() == 1500);
    }
    if (i == i_rx && values.size() == 2) {
      // The close comes back too: then get() throws, and rx is done.
      CHECK(sel.wait_for(5s) == i_rx);
      CHECK_THROWS_AS(rx.get(), mitosis::channel_closed);
      closed = true;
    }
  }
  CHECK(closed);
  CHECK(values == std::vector<int>{0, 1});
  // The receiver's values (sent at once) before the 500 ms call, that
  // before the 1500 ms one.
  REQUIRE(order.size() == 4);
  CHECK(order[0] == i_rx);
  CHECK(order[1] == i_rx);
  CHECK(order[2] == i_fast);
  CHECK(order[3] == i_slow);
  try {
    sel.wait_for(10ms);
    FAIL("no exception");
  } catch (const mitosis::error& e) {
    CHECK(e.code() == mitosis::errc::channel_closed); // nothing left, not a timeout
  }
}

TEST_CASE("select: a receiver's last value and its end, arriving while wait() looks at it, "
          "are both returned") {
  // The race the TSan suite once lost: wait() saw one queued value, then
  // the last value and the close came before it asked whether the
  // receiver had ended, and the receiver was taken for ended with its last
  // value and its end never returned. A sender in this process delivers on
  // its own thread, at the same time as wait() looks. The window is a few
  // instructions wide: on a fast machine these rounds did not hit it with
  // the old code (10,000 rounds, under load too); TSan's slowness did. They
  // hold the contract under concurrency.
  mitosis::master m{0, nullptr};
  for (int round = 0; round < 300; ++round) {
    mitosis::receiver<int> rx;
    mitosis::select sel;
    auto i = sel.add(rx);
    auto tx = rx.to_sender();
    std::thread t{[tx] {
      tx.send(0);
      tx.send(1);
      tx.close();
    }};
    std::vector<int> got;
    bool closed = false;
    while (!sel.empty()) {
      REQUIRE(sel.wait_for(5s) == i);
      try {
        auto v = rx.try_get();
        REQUIRE(v.has_value()); // returned, so a value or the end is there
        got.push_back(*v);
      } catch (const mitosis::channel_closed&) {
        closed = true;
      }
    }
    t.join();
    INFO("round " << round);
    REQUIRE(got == std::vector<int>{0, 1});
    REQUIRE(closed);
  }
}

TEST_CASE("select: a future that failed comes back, and get() throws its error") {
  mitosis::master m{0, nullptr};
  auto c = m.local({.name = "selfail"});
  auto f = c.call_async(fail_with, std::string{"nope"});
  mitosis::select sel;
  auto i = sel.add(f);
  CHECK(sel.wait_for(5s) == i);
  CHECK_THROWS_AS(f.get(), mitosis::call_error);
  CHECK(sel.empty());
}
