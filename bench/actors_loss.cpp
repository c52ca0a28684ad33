// mitosis-bench-actors-loss: how fast the loss of an intermediate reaches
// the monitors of the actors behind it (docs/benchmarks.md, Targets). Builds
// master -> A -> B with `actors` actors spawned in B and monitored from the
// master, twice:
//   freeze_ms     SIGSTOP of A until every down arrived (heartbeats: within
//                 3 intervals; target <= 3 * heartbeat_ms + 100)
//   down_ms       kill -9 of A until every down arrived (target <= 50)
// and prints key=value lines (bench/run.sh actors reads them), then one
// JSON object on stdout:
//   {"freeze_ms":..,"freeze_count":..,"heartbeat_ms":..,"down_ms":..,
//    "down_count":..,"down_expected":..,"targets_failed":..}
// A count short of down_expected means downs were missing after 10 s (the
// time is then that wait).
//
// Usage: mitosis-bench-actors-loss [heartbeat_ms=100] [actors=50]
// The same binary is re-executed as the agent: mitosis::master comes first.
#include <caf/actor_system.hpp>
#include <caf/after.hpp>
#include <caf/event_based_actor.hpp>
#include <caf/scoped_actor.hpp>
#include <caf/system_messages.hpp>
#include <chrono>
#include <csignal>
#include <cstdio>
#include <exception>
#include <vector>

#include <mitosis/actors/actor_registry.hpp>
#include <mitosis/actors/remote_actor.hpp>
#include <mitosis/mitosis.hpp>

#include "bench_util.hpp"

namespace {

using namespace bench;
using namespace std::chrono_literals;

// "bench.echo": adds two ints (one answer proves it runs).
caf::behavior echo_actor(caf::event_based_actor*) {
  return {[](int a, int b) { return a + b; }};
}

} // namespace

MITOSIS_ACTOR("bench.echo", echo_actor);

namespace bench {

struct loss_figure {
  double ms = 0;    // signal until the last down
  int count = 0;    // downs with reason context_lost
  int expected = 0; // actors monitored
};

// Starts master -> A -> B, spawns `actors` actors in B, monitors them,
// sends `sig` to A and times the downs. A is SIGCONTed afterwards (a
// stopped process must not outlive the measurement).
loss_figure measure_loss(mitosis::master& m, int sig, int actors) {
  caf::scoped_actor self{m.system()};
  auto mid = m.local({.name = "loss.mid"});
  auto leaf = m.local({.name = "loss.leaf", .via = mid});
  std::vector<caf::actor> spawned;
  for (int i = 0; i < actors; ++i) {
    spawned.push_back(leaf.spawn<caf::actor>("bench.echo"));
    self->monitor(spawned.back());
    self->request(spawned.back(), 5s, 1, 2).receive([](int) {}, [](caf::error&) {});
  }
  const int pid = m.pid_of(mid);
  loss_figure out;
  out.expected = actors;
  const auto t0 = clock_type::now();
  ::kill(pid, sig);
  const auto deadline = t0 + 10s;
  int seen = 0;
  bool timed_out = false;
  while (seen < actors && !timed_out)
    self->receive(
      [&](caf::down_msg& d) {
        ++seen;
        out.count += d.reason == mitosis::errc::context_lost ? 1 : 0;
      },
      caf::after(std::max(deadline - clock_type::now(), clock_type::duration{0}))
        >> [&] { timed_out = true; });
  out.ms = ms_since(t0);
  ::kill(pid, SIGCONT);
  return out;
}

} // namespace bench

int main(int argc, char** argv) {
  const int heartbeat_ms = arg_or(argc, argv, 1, 100);
  const int actors = arg_or(argc, argv, 2, 50);
  mitosis::master_options opts;
  opts.heartbeat_interval = std::chrono::milliseconds{heartbeat_ms};
  mitosis::master m{argc, argv, opts}; // in a started copy: serves, never returns
  try {
    auto freeze = measure_loss(m, SIGSTOP, actors);
    auto kill = measure_loss(m, SIGKILL, actors);
    int failed = 0;
    failed += freeze.count != freeze.expected || freeze.ms > 3.0 * heartbeat_ms + 100;
    failed += kill.count != kill.expected || kill.ms > 50;
    // key=value lines for bench/run.sh actors, then the same as JSON.
    std::printf("freeze_ms=%.3f\nfreeze_count=%d\nheartbeat_ms=%d\ndown_ms=%.3f\n"
                "down_count=%d\ndown_expected=%d\n",
                freeze.ms, freeze.count, heartbeat_ms, kill.ms, kill.count, kill.expected);
    std::printf("{\"freeze_ms\":%.3f,\"freeze_count\":%d,\"heartbeat_ms\":%d,"
                "\"down_ms\":%.3f,\"down_count\":%d,\"down_expected\":%d,"
                "\"targets_failed\":%d}\n",
                freeze.ms, freeze.count, heartbeat_ms, kill.ms, kill.count, kill.expected,
                failed);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "mitosis-bench-actors-loss: %s\n", e.what());
    return 1;
  }
  return 0;
}
