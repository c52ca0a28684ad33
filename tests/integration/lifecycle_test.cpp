// Contexts dying and being stopped: kill -9 of a child, of an intermediate
// and of the master (every killed child reaped, no zombie kept); a child
// sending a malformed frame; graceful shutdown.
#include <catch2/catch.hpp>

#include <cerrno>
#include <chrono>
#include <csignal>
#include <cstdio>
#include <fstream>
#include <string>
#include <sys/wait.h>
#include <thread>
#include <unistd.h>
#include <utility>

#include "captured_log.hpp"
#include "loss_helpers.hpp"
#include "mitosis/mitosis.hpp"
#include "test_functions.hpp"
#include "../sanitized.hpp"

using namespace std::chrono_literals;
using clk = std::chrono::steady_clock;

using loss::all_gone_within;
using loss::gone;

TEST_CASE("kill -9 of a child during a call fails the call with context_lost within 1 s") {
  mitosis::master m{0, nullptr};
  auto c = m.local({.name = "victim"});
  auto other = m.local({.name = "bystander"});
  auto f = c.call_async(sleep_ms, 10000);
  std::this_thread::sleep_for(50ms);
  REQUIRE(::kill(m.pid_of(c), SIGKILL) == 0);
  auto t0 = clk::now();
  CHECK_THROWS_AS(f.get(), mitosis::context_lost);
  CHECK(clk::now() - t0 < 1s);
  CHECK_THROWS_AS(c.call(add, 1, 2), mitosis::context_lost);
  CHECK(other.call(add, 1, 2) == 3);
}

TEST_CASE("kill -9 of an intermediate fails calls to the contexts behind it within 1 s") {
  mitosis::master m{0, nullptr};
  auto mid = m.local({.name = "mid"});
  auto leaf = m.local({.name = "leaf", .via = mid});
  int leaf_pid = leaf.call(my_pid);
  auto f = leaf.call_async(sleep_ms, 10000);
  std::this_thread::sleep_for(50ms);
  REQUIRE(::kill(m.pid_of(mid), SIGKILL) == 0);
  auto t0 = clk::now();
  try {
    f.get();
    FAIL("no exception");
  } catch (const mitosis::context_lost& e) {
    CHECK(e.context() == "leaf");
  }
  CHECK(clk::now() - t0 < 1s);
  CHECK(all_gone_within({leaf_pid}, 2000ms));
}

TEST_CASE("kill -9 of the master takes every descendant down within 2 s") {
  auto sub = loss::start_submaster();
  REQUIRE(sub.pid > 0);
  const int pid = sub.pid, child_pid = sub.child_pid, gc_pid = sub.gc_pid;
  CHECK_FALSE(gone(child_pid));
  CHECK_FALSE(gone(gc_pid));
  REQUIRE(::kill(pid, SIGKILL) == 0);
  ::waitpid(pid, nullptr, 0);
  CHECK(all_gone_within({child_pid, gc_pid}, 2000ms));
}

TEST_CASE("a malformed frame from a child is logged the child cut and the others served") {
  mitosis::master m{0, nullptr};
  captured_log log;
  auto bad = m.local({.name = "rogue"});
  auto good1 = m.local({.name = "good1"});
  auto good2 = m.local({.name = "good2"});
  CHECK(bad.call(add, 1, 1) == 2);
  auto f = bad.call_async(send_garbage);
  CHECK_THROWS_AS(f.get(), mitosis::context_lost);
  CHECK_THROWS_AS(bad.call(add, 1, 1), mitosis::context_lost);
  for (int i = 0; i < 50; ++i) {
    CHECK(good1.call(add, i, 1) == i + 1);
    CHECK(good2.call(echo, "still here") == "still here");
  }
  CHECK(log.wait_for("malformed frame", "rogue"));
}

TEST_CASE("destroying the master stops the whole tree") {
  std::vector<int> pids;
  {
    mitosis::master m{0, nullptr};
    auto a = m.local({.name = "a"});
    auto b = m.local({.name = "b"});
    auto a1 = m.local({.name = "a1", .via = a});
    auto a11 = m.local({.name = "a11", .via = a1});
    for (auto* c : {&a, &b, &a1, &a11})
      pids.push_back(c->call(my_pid));
  }
  CHECK(all_gone_within(pids, 2000ms));
}

namespace {

/// Runs `cycles` start / kill -9 / call cycles of a context started by
/// `start` (returning it and its pid) and counts the calls that failed with
/// anything but context_lost; `what` collects the first such message.
template <class Start>
int wrong_failures(int cycles, Start start, std::string& what) {
  int wrong = 0;
  // Runs `call`, which must throw context_lost; else notes what happened.
  auto expect_lost = [&](auto&& call, const char* if_it_returns) {
    std::string w;
    try {
      call();
      w = if_it_returns;
    } catch (const mitosis::context_lost&) {
      return;
    } catch (const mitosis::error& e) {
      w = e.what();
    }
    if (wrong++ == 0)
      what = w;
  };
  for (int i = 0; i < cycles; ++i) {
    auto [c, pid] = start(i);
    REQUIRE(::kill(pid, SIGKILL) == 0);
    // At once: the death may not be noticed yet, but the call's reply
    // never comes, so it is context_lost either way.
    expect_lost([&] { c.call(add, 1, 2); }, "a call to a killed context returned");
    // Known lost now (the call above said so): with and without a reply.
    expect_lost([&] { c.call_no_reply(bump); }, "a no-reply call to a lost context was sent");
    expect_lost([&] { c.call(add, 1, 2); }, "a call to a lost context returned");
  }
  return wrong;
}

} // namespace

TEST_CASE("300 start / kill -9 cycles: every call to the killed child fails with context_lost") {
  mitosis::master m{0, nullptr};
  std::string what;
  auto wrong = wrong_failures(
    cycles_or(300, 40),
    [&](int i) {
      auto c = m.local({.name = "cycle." + std::to_string(i)});
      return std::pair{c, m.pid_of(c)};
    },
    what);
  INFO(what);
  CHECK(wrong == 0);
  // Every killed child was reaped, not left a zombie until the master ends.
  CHECK(loss::zombies_after(::getpid(), 3000ms) == 0);
}

TEST_CASE("100 start / kill -9 cycles behind an intermediate: every call fails with context_lost") {
  mitosis::master m{0, nullptr};
  auto mid = m.local({.name = "cycle.mid"});
  std::string what;
  auto wrong = wrong_failures(
    cycles_or(100, 20),
    [&](int i) {
      auto c = m.local({.name = "cycle.gc." + std::to_string(i), .via = mid});
      return std::pair{c, c.call(my_pid)};
    },
    what);
  INFO(what);
  CHECK(wrong == 0);
  CHECK(mid.call(add, 2, 2) == 4);
  // The intermediate reaped every child killed behind it.
  CHECK(loss::zombies_after(m.pid_of(mid), 3000ms) == 0);
}

TEST_CASE("a child that dies before its hello fails the start and is reaped") {
  // Set before the master exists, so that no thread of it reads the
  // environment while it changes; every local child inherits it.
  ::setenv("MITOSIS_TEST_AGENT_EXIT_EARLY", "1", 1);
  // Through exec, so that the copy runs main(), which reads the variable
  // above (a copy from the fork server starts in the agent's code).
  ::setenv("MITOSIS_FORK_SERVER", "0", 1);
  std::string what;
  {
    mitosis::master m{0, nullptr};
    for (int i = 0; i < 5; ++i) {
      try {
        m.local({.name = "dies-early." + std::to_string(i)});
        what = "a start succeeded";
      } catch (const mitosis::error& e) {
        if (what.empty())
          what = e.what();
      }
    }
    INFO(what);
    CHECK(what.find("dies-early.0") != std::string::npos);
    // Not one left a zombie while the master lives on.
    CHECK(loss::zombies_after(::getpid(), 3000ms) == 0);
  }
  ::unsetenv("MITOSIS_TEST_AGENT_EXIT_EARLY");
  ::unsetenv("MITOSIS_FORK_SERVER");
}
