// Unit tests of a spinning reader's yield (router/spin_yield.hpp): moving a
// thread off its CPU keeps its affinity; parks that yield late three times
// in a row move the spinner, at most once per interval.
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

TEST_CASE("spin_yield: a thread moved off its CPU runs elsewhere with its affinity as before",
          "[spin_yield]") {
  const auto before = affinity();
  std::thread t{[&] {
    if (CPU_COUNT(&before) < 2) {
      // Nowhere to go: refused, and nothing changes.
      CHECK_FALSE(rt::move_to_another_cpu());
    } else {
      const int here = ::sched_getcpu();
      REQUIRE(rt::move_to_another_cpu());
      CHECK(::sched_getcpu() != here);
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
    CHECK_FALSE(rt::move_to_another_cpu());
    CHECK(same(affinity(), one));
  }};
  t.join();
}

TEST_CASE("spin_yield: three parks in a row that yield late move the spinner, once per "
          "interval",
          "[spin_yield]") {
  const auto allowed = affinity();
  // This machine kind has two CPUs; on one there is nowhere to move.
  REQUIRE(CPU_COUNT(&allowed) >= 2);
  using namespace std::chrono_literals;
  const auto late = rt::spin_yield::late + 1us;
  const auto quick = rt::spin_yield::late / 5;
  // Each on a fresh thread: the streak and the last move are per thread.
  auto on_thread = [](auto f) {
    std::thread t{f};
    t.join();
  };
  SECTION("the third late park moves it; several late yields in a park count once") {
    on_thread([&] {
      CHECK_FALSE(park(late, 5));
      CHECK_FALSE(park(late, 5));
      const int here = ::sched_getcpu();
      CHECK(park(late));
      CHECK(::sched_getcpu() != here);
      CHECK(same(affinity(), allowed));
    });
  }
  SECTION("a park whose yields came back at once ends the streak") {
    on_thread([&] {
      CHECK_FALSE(park(late));
      CHECK_FALSE(park(late));
      CHECK_FALSE(park(quick, 3));
      CHECK_FALSE(park(late));
      CHECK_FALSE(park(late));
      CHECK(park(late));
    });
  }
  SECTION("a park that did not yield leaves the streak as it was") {
    on_thread([&] {
      CHECK_FALSE(park(late));
      CHECK_FALSE(park(late, 0));
      CHECK_FALSE(park(late));
      CHECK(park(late));
    });
  }
  SECTION("no second move within move_interval") {
    on_thread([&] {
      for (int i = 0; i < 2; ++i)
        CHECK_FALSE(park(late));
      REQUIRE(park(late));
      const auto moved_at = std::chrono::steady_clock::now();
      for (int i = 0; i < 2; ++i)
        CHECK_FALSE(park(late));
      const bool again = park(late);
      if (std::chrono::steady_clock::now() - moved_at < rt::spin_yield::move_interval)
        CHECK_FALSE(again);
      std::this_thread::sleep_for(rt::spin_yield::move_interval);
      for (int i = 0; i < 2; ++i)
        CHECK_FALSE(park(late));
      CHECK(park(late));
    });
  }
}
