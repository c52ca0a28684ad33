// Unit tests of a spinning reader's yield (router/spin_yield.hpp): moving a
// thread off its CPU keeps its affinity; parks that yield late three times
// in a row move the spinner, rarely: once per interval in the process,
// less often for a thread whose moves do not help.
#include "mitosis/router/spin_yield.hpp"

#include <sched.h>

#include <chrono>
#include <thread>

#include <catch2/catch.hpp>

namespace rt = mitosis::router;

namespace {

cpu_set_t affinity() {
  cpu_set_t s;
  CPU_ZERO(&s);
  REQUIRE(::sched_getaffinity(0, sizeof(s), &s) == 0);
  return s;
}

bool same(const cpu_set_t& a, const cpu_set_t& b) {
  return CPU_EQUAL(&a, &b);
}

// One park of a spinner whose yields took `took` each, `yields` of them;
// whether it moved the thread.
bool park(std::chrono::nanoseconds took, int yields = 1) {
  rt::spin_yield y;
  bool moved = false;
  for (int i = 0; i < yields; ++i)
    moved = y.after_yield(took) || moved;
  return moved;
}

} // namespace

TEST_CASE("spin_yield: a thread moved off its CPU keeps its affinity", "[spin_yield]") {
  const auto before = affinity();
  std::thread t{[&] {
    if (CPU_COUNT(&before) < 2) {
      // Nowhere to go: refused, and nothing changes.
      CHECK(rt::move_to_another_cpu() == -1);
    } else {
      const int left = rt::move_to_another_cpu();
      CHECK(left >= 0);
      CHECK(CPU_ISSET(left, &before));
    }
    CHECK(same(affinity(), before));
  }};
  t.join();
}

TEST_CASE("spin_yield: a thread that may run on one CPU only is not moved", "[spin_yield]") {
  std::thread t{[] {
    cpu_set_t one;
    CPU_ZERO(&one);
    CPU_SET(::sched_getcpu(), &one);
    REQUIRE(::sched_setaffinity(0, sizeof(one), &one) == 0);
    CHECK(rt::move_to_another_cpu() == -1);
    CHECK(same(affinity(), one));
  }};
  t.join();
}

TEST_CASE("spin_yield: three parks in a row that yield late move the spinner, rarely",
          "[spin_yield]") {
  const auto allowed = affinity();
  // This machine kind has two CPUs; on one there is nowhere to move.
  REQUIRE(CPU_COUNT(&allowed) >= 2);
  using namespace std::chrono_literals;
  using steady = std::chrono::steady_clock;
  const auto late = rt::spin_yield::late + 1us;
  const auto quick = rt::spin_yield::late / 5;
  // A streak's parks must come within streak_gap of each other; a machine
  // that stops this thread longer than that between two of them (a loaded
  // sanitizer run) proves nothing either way, so the section ends there.
  auto in_time = [](steady::time_point since) {
    if (steady::now() - since < rt::spin_yield::streak_gap)
      return true;
    WARN("this thread was held up longer than streak_gap: section not checked");
    return false;
  };
  // Each section on a fresh thread (the streak and the back-off are per
  // thread), once the process-wide interval since the last move is over.
  auto on_thread = [](auto f) {
    std::this_thread::sleep_for(rt::spin_yield::move_interval + 1ms);
    std::thread t{f};
    t.join();
  };
  SECTION("the third late park moves it; several late yields in a park count once") {
    on_thread([&] {
      const auto t = steady::now();
      CHECK_FALSE(park(late, 5));
      CHECK_FALSE(park(late, 5));
      const bool moved = park(late);
      if (in_time(t))
        CHECK(moved);
      CHECK(same(affinity(), allowed));
    });
  }
  SECTION("a park whose yields came back at once ends the streak") {
    on_thread([&] {
      const auto t = steady::now();
      CHECK_FALSE(park(late));
      CHECK_FALSE(park(late));
      CHECK_FALSE(park(quick, 3));
      CHECK_FALSE(park(late));
      CHECK_FALSE(park(late));
      const bool moved = park(late);
      if (in_time(t))
        CHECK(moved);
    });
  }
  SECTION("a park that did not yield leaves the streak as it was") {
    on_thread([&] {
      const auto t = steady::now();
      CHECK_FALSE(park(late));
      CHECK_FALSE(park(late, 0));
      CHECK_FALSE(park(late));
      const bool moved = park(late);
      if (in_time(t))
        CHECK(moved);
    });
  }
  SECTION("late parks further apart than streak_gap start the streak again") {
    on_thread([&] {
      CHECK_FALSE(park(late));
      CHECK_FALSE(park(late));
      std::this_thread::sleep_for(rt::spin_yield::streak_gap + 1ms);
      const auto t = steady::now();
      CHECK_FALSE(park(late));
      CHECK_FALSE(park(late));
      const bool moved = park(late);
      if (in_time(t))
        CHECK(moved);
    });
  }
  SECTION("no second move within move_interval, and a longer wait after a move that did "
          "not help") {
    on_thread([&] {
      const auto t0 = steady::now(); // before the move: a bound on when it was
      CHECK_FALSE(park(late));
      CHECK_FALSE(park(late));
      const bool first = park(late);
      if (!in_time(t0))
        return;
      REQUIRE(first);
      CHECK_FALSE(park(late));
      CHECK_FALSE(park(late));
      const bool soon = park(late);
      if (steady::now() - t0 < rt::spin_yield::move_interval)
        CHECK_FALSE(soon);
      if (soon)
        return; // the machine was too slow to see the interval
      std::this_thread::sleep_for(rt::spin_yield::move_interval);
      const auto t1 = steady::now();
      CHECK_FALSE(park(late));
      CHECK_FALSE(park(late));
      const bool moved_again = park(late);
      const auto t1_end = steady::now(); // after the second move
      if (!in_time(t1))
        return;
      CHECK(moved_again); // past the interval
      // The second move within twice the interval of the first: the
      // interval doubled, so no third move within it.
      if (moved_again && t1_end - t0 < 2 * rt::spin_yield::move_interval) {
        CHECK_FALSE(park(late));
        CHECK_FALSE(park(late));
        const bool third = park(late);
        if (steady::now() - t1 < 2 * rt::spin_yield::move_interval)
          CHECK_FALSE(third);
      }
    });
  }
}
