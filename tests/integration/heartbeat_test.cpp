// Freeze detection with real processes: a SIGSTOPped intermediate (master
// -> A -> B) is lost within 3 heartbeat intervals with every actor behind
// it, and stays lost (SIGCONT resurrects nothing, no orphan is left); kill
// -9 gives exactly one down per actor; heartbeats off leave a stopped child
// alone; a long call is not a silence.
#include <catch2/catch.hpp>

#include <caf/actor_system.hpp>
#include <caf/scoped_actor.hpp>
#include <chrono>
#include <csignal>
#include <set>
#include <sys/wait.h>
#include <unistd.h>

#include "loss_helpers.hpp"
#include "mitosis/actors/remote_actor.hpp"
#include "mitosis/mitosis.hpp"
#include "../sanitized.hpp"
#include "test_actors.hpp"
#include "test_functions.hpp"

using namespace std::chrono_literals;
using clk = std::chrono::steady_clock;

namespace {

// Under a sanitizer, on a loaded 2-vCPU machine, a context just started
// (TSan: shadow memory for every new thread and page) was silent for more
// than 3 intervals of 100 ms now and then, before the test froze anything:
// the intervals there are 4 times as long, and so is the slack.
constexpr auto interval = std::chrono::milliseconds{sanitized_build ? 400 : 100};
constexpr auto slack = 4 * interval;
constexpr int actor_count = 50;

mitosis::master_options with_heartbeat(std::chrono::milliseconds every) {
  mitosis::master_options o;
  o.heartbeat_interval = every;
  return o;
}

// master -> A ("hb.mid") -> B ("hb.leaf") with actor_count "test.echo"
// actors spawned in B, each answered once and monitored by `self`.
struct tree_with_actors {
  explicit tree_with_actors(mitosis::master& m)
    : self{m.system()},
      mid{m.local({.name = "hb.mid"})},
      leaf{m.local({.name = "hb.leaf", .via = mid})},
      mid_pid{m.pid_of(mid)},
      leaf_pid{leaf.call(my_pid)} {
    for (int i = 0; i < actor_count; ++i) {
      actors.push_back(leaf.spawn<caf::actor>("test.echo"));
      self->monitor(actors.back());
    }
    for (auto& a : actors) {
      int sum = 0;
      self->request(a, 5s, 1, 2).receive([&](int x) { sum = x; }, [](caf::error&) {});
      REQUIRE(sum == 3);
    }
  }
  // Sends `sig` to A and collects the downs (every one or 5 s); `took` is
  // the time from the signal to the last.
  std::vector<caf::down_msg> signal_mid(int sig, clk::duration& took) {
    REQUIRE(::kill(mid_pid, sig) == 0);
    const auto t0 = clk::now();
    auto d = loss::downs(self, actor_count, 5000ms, 0ms);
    took = clk::now() - t0;
    return d;
  }
  caf::scoped_actor self;
  mitosis::context mid;
  mitosis::context leaf;
  int mid_pid;
  int leaf_pid;
  std::vector<caf::actor> actors;
};

// Checks that `d` holds exactly one down per actor of `t`, each with
// reason context_lost.
void exactly_one_lost_down_each(const std::vector<caf::down_msg>& d, const tree_with_actors& t) {
  CHECK(d.size() == static_cast<std::size_t>(actor_count));
  std::set<caf::actor_addr> sources;
  int lost = 0;
  for (auto& x : d) {
    sources.insert(x.source);
    lost += x.reason == mitosis::errc::context_lost ? 1 : 0;
  }
  CHECK(sources.size() == static_cast<std::size_t>(actor_count));
  CHECK(lost == actor_count);
  for (auto& a : t.actors)
    CHECK(sources.count(a.address()) == 1);
}

} // namespace

TEST_CASE("heartbeat: SIGSTOP of an intermediate gives one down per actor behind it within 3 "
          "intervals, and SIGCONT resurrects nothing") {
  mitosis::master m{0, nullptr, with_heartbeat(interval)};
  tree_with_actors t{m};
  clk::duration took;
  auto d = t.signal_mid(SIGSTOP, took);
  ::kill(t.mid_pid, SIGCONT); // whatever happened: nothing may stay stopped
  INFO("downs after " << std::chrono::duration_cast<std::chrono::milliseconds>(took).count()
                      << " ms");
  exactly_one_lost_down_each(d, t);
  // 3 silent intervals, detected within half an interval more, plus slack
  // for a loaded machine.
  CHECK(took >= 3 * interval - 50ms);
  CHECK(took < 3 * interval + slack);
  // Resumed, nothing comes back: no second down, and the whole subtree is
  // gone (no orphan holding the actors).
  CHECK(loss::downs(t.self, 0, 0ms, 5 * interval).empty());
  CHECK(loss::all_gone_within({t.mid_pid, t.leaf_pid}, 3000ms));
  CHECK_THROWS_AS(t.leaf.call(add, 1, 2), mitosis::context_lost);
  CHECK_THROWS_AS(t.mid.call(add, 1, 2), mitosis::context_lost);
  // The cause, named with the context.
  CHECK_THROWS_WITH(t.leaf.call(add, 1, 2),
                    Catch::Matchers::Contains("hb.mid") && Catch::Matchers::Contains("heartbeat"));
  // The rest of the tree is served as before.
  auto other = m.local({.name = "hb.after"});
  CHECK(other.call(add, 1, 2) == 3);
}

TEST_CASE("heartbeat: kill -9 of an intermediate gives exactly one down per actor behind it") {
  mitosis::master m{0, nullptr, with_heartbeat(interval)};
  tree_with_actors t{m};
  clk::duration took;
  auto d = t.signal_mid(SIGKILL, took);
  exactly_one_lost_down_each(d, t);
  // A closed stream, not a silence: no heartbeat interval to wait for.
  CHECK(took < std::chrono::milliseconds{sanitized_build ? 3000 : 1000});
  CHECK(loss::downs(t.self, 0, 0ms, 5 * interval).empty());
  CHECK(loss::all_gone_within({t.leaf_pid}, 3000ms));
}

TEST_CASE("heartbeat: with an interval of 0 a stopped child is not noticed") {
  mitosis::master m{0, nullptr, with_heartbeat(0ms)};
  auto c = m.local({.name = "hb.off"});
  caf::scoped_actor self{m.system()};
  auto a = c.spawn<caf::actor>("test.echo");
  self->monitor(a);
  const int pid = m.pid_of(c);
  REQUIRE(::kill(pid, SIGSTOP) == 0);
  // 5 intervals of the other tests: no down, the context still counts.
  auto d = loss::downs(self, 0, 0ms, 5 * interval);
  REQUIRE(::kill(pid, SIGCONT) == 0);
  CHECK(d.empty());
  CHECK_FALSE(loss::gone(pid));
  CHECK(c.call(add, 1, 2) == 3); // never dropped: served once resumed
  int sum = 0;
  self->request(a, 5s, 2, 3).receive([&](int x) { sum = x; }, [](caf::error&) {});
  CHECK(sum == 5);
}

TEST_CASE("heartbeat: a call longer than 3 intervals is not a silence") {
  // One worker per context: it is busy in the call, the I/O thread
  // answers the heartbeats.
  auto o = with_heartbeat(interval);
  o.pool_threads = 1;
  mitosis::master m{0, nullptr, o};
  auto mid = m.local({.name = "hb.busy.mid"});
  auto leaf = m.local({.name = "hb.busy.leaf", .via = mid});
  caf::scoped_actor self{m.system()};
  auto a = leaf.spawn<caf::actor>("test.echo");
  self->monitor(a);
  CHECK(mid.call(sleep_ms, static_cast<int>(6 * interval.count())) == 6 * interval.count());
  auto far = leaf.call_async(sleep_ms, static_cast<int>(6 * interval.count()));
  CHECK(mid.call(sleep_ms, static_cast<int>(4 * interval.count())) == 4 * interval.count());
  CHECK(far.get() == 6 * interval.count());
  CHECK(loss::downs(self, 0, 0ms, 0ms).empty());
  CHECK(leaf.call(add, 1, 2) == 3);
}

TEST_CASE("heartbeat: children of a frozen master exit on their own, leaving no orphan") {
  // A master in a process of its own, with a child and a grandchild; the
  // master is stopped, not killed, so no PR_SET_PDEATHSIG fires: the child
  // must hear its parent fall silent and shut its subtree down.
  auto sub = loss::start_submaster(std::to_string(interval.count()).c_str());
  REQUIRE(sub.pid > 0);
  REQUIRE(::kill(sub.pid, SIGSTOP) == 0);
  const auto t0 = clk::now();
  const bool subtree_gone = loss::all_gone_within({sub.child_pid, sub.gc_pid}, 3 * interval + 2700ms);
  const auto took = clk::now() - t0;
  const bool master_still_there = !loss::gone(sub.pid);
  ::kill(sub.pid, SIGKILL);
  ::waitpid(sub.pid, nullptr, 0);
  INFO("subtree gone after "
       << std::chrono::duration_cast<std::chrono::milliseconds>(took).count() << " ms");
  CHECK(subtree_gone);
  CHECK(master_still_there); // stopped all along: the subtree left by itself
  // 3 intervals of silence, then the child's shutdown.
  CHECK(took >= 3 * interval - 50ms);
}
