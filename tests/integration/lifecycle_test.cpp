// Contexts dying and being stopped: kill -9 of a child, of an intermediate
// and of the master; a child sending a malformed frame; graceful shutdown.
#include <catch2/catch.hpp>

#include <cerrno>
#include <chrono>
#include <csignal>
#include <cstdio>
#include <fstream>
#include <sys/wait.h>
#include <thread>
#include <unistd.h>

#include "captured_log.hpp"
#include "loss_helpers.hpp"
#include "mitosis/mitosis.hpp"
#include "test_functions.hpp"

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
