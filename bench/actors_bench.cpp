// mitosis-bench-actors: the actor figures of docs/benchmarks.md (Targets,
// "actors"), in one process tree and one run:
//   actor_rtt_us  request/response of a 64-byte string between an actor in
//                 the master and one in a local child;
//   call_rtt_us   ctx.call of the same shape;
//   actor_msgs_s  one-way 64-byte messages per second, master actor to an
//                 actor in the child that counts them;
//   spawn_us      a remote spawn in the child, until the handle answers (its
//                 exit is after the clock).
// The same request/response and one-way figures over CAF 0.17's own network
// layer (publish / remote_actor between two local processes) come from
// `mitosis-bench-actors basp-server` and `basp-client PORT`, which bench/run.sh
// runs beside it. `mitosis-bench-actors spawn ROUNDS` measures only the
// spawns, `actor-rtt|scoped-rtt|call-rtt ROUNDS N` only one kind of round
// trip (scoped: from a blocking actor, as spawn_us's request is), `msgs
// ROUNDS N` only the one-way messages, for a profiler. Prints key=value lines (bench_util.hpp).
// BENCH_SPAWN_STEPS=1 prints each spawn's two steps (the spawn's reply, the
// new actor's first answer) on stderr.
#include <mitosis/actors/remote_actor.hpp>
#include <mitosis/mitosis.hpp>

#include <caf/all.hpp>
#include <caf/io/all.hpp>

#include <cstdio>
#include <cstdlib>
#include <future>
#include <iostream>

#include "bench_util.hpp"

namespace {

using count_atom = caf::atom_constant<caf::atom("count")>;

// Echoes what it is sent.
caf::behavior echo_actor(caf::event_based_actor*) {
  return {[](const std::string& s) { return s; }};
}

// Counts strings; answers the count when asked (after everything sent
// before the question, messages from one sender arriving in order).
caf::behavior sink_actor(caf::event_based_actor*) {
  auto n = std::make_shared<std::uint64_t>(0);
  return {[n](const std::string&) { ++*n; }, [n](count_atom) { return *n; }};
}

} // namespace

MITOSIS_ACTOR("bench.echo", echo_actor);
MITOSIS_ACTOR("bench.sink", sink_actor);

namespace {

const std::string payload(64, 'x');

// `n` request/response round trips from an event-based actor of `sys` to
// `target`, one at a time; microseconds per round trip.
double pingpong(caf::actor_system& sys, const caf::actor& target, int n) {
  std::promise<double> done;
  sys.spawn([&done, target, n](caf::event_based_actor* self) {
    auto left = std::make_shared<int>(n);
    auto t0 = std::make_shared<bench::clock_type::time_point>(bench::clock_type::now());
    auto step = std::make_shared<std::function<void()>>();
    *step = [=, &done] {
      self->request(target, caf::infinite, payload)
        .then(
          [=, &done](const std::string&) {
            if (--*left > 0) {
              (*step)();
              return;
            }
            done.set_value(bench::ms_since(*t0) * 1000.0 / n);
            *step = nullptr;
            self->quit();
          },
          [=, &done](caf::error&) {
            done.set_value(-1);
            *step = nullptr;
            self->quit();
          });
    };
    (*step)();
  });
  return done.get_future().get();
}

// `n` one-way messages from an actor of `sys` to the counting `sink`, then
// its count; messages per second, or -1 when the count is short.
double oneway(caf::actor_system& sys, const caf::actor& sink, int n) {
  std::promise<double> done;
  sys.spawn([&done, sink, n](caf::event_based_actor* self) {
    auto t0 = bench::clock_type::now();
    for (int i = 0; i < n; ++i)
      self->send(sink, payload);
    self->request(sink, caf::infinite, count_atom::value)
      .then([=, &done](std::uint64_t got) {
        done.set_value(got >= static_cast<std::uint64_t>(n) ? n / bench::seconds_since(t0) : -1);
        self->quit();
      },
      [=, &done](caf::error&) {
        done.set_value(-1);
        self->quit();
      });
  });
  return done.get_future().get();
}

// `n` remote spawns in `c`, each until the new actor answered a request;
// microseconds per spawn.
double spawns(caf::scoped_actor& self, const mitosis::context& c, int n) {
  std::vector<caf::actor> spawned;
  spawned.reserve(static_cast<std::size_t>(n));
  // BENCH_SPAWN_STEPS=1: each spawn's two steps on stderr (the spawn's
  // reply, then the new actor's answer), in microseconds.
  static const bool steps = std::getenv("BENCH_SPAWN_STEPS") != nullptr;
  auto t0 = bench::clock_type::now();
  for (int i = 0; i < n; ++i) {
    auto s0 = bench::clock_type::now();
    spawned.push_back(c.spawn<caf::actor>("bench.echo"));
    auto s1 = bench::clock_type::now();
    self->request(spawned.back(), caf::infinite, payload)
      .receive([](const std::string&) {}, [](caf::error&) {});
    if (steps) {
      auto s2 = bench::clock_type::now();
      auto us_between = [](auto a, auto b) {
        return std::chrono::duration<double, std::micro>(b - a).count();
      };
      std::fprintf(stderr, "spawn %d: %.1f + %.1f\n", i, us_between(s0, s1), us_between(s1, s2));
    }
  }
  const double us = bench::ms_since(t0) * 1000.0 / n;
  // An exit is not part of a spawn: they end after the clock stopped, and
  // the next round starts once every down message is in.
  for (auto& a : spawned) {
    self->monitor(a);
    self->send_exit(a, caf::exit_reason::user_shutdown);
  }
  for (int i = 0; i < n; ++i)
    self->receive([](const caf::down_msg&) {});
  return us;
}

// Runs `f` `rounds` times and prints the median as key=value.
template <class F>
void report(const char* name, const char* unit, int rounds, F f) {
  std::vector<double> v;
  for (int i = 0; i < rounds; ++i)
    v.push_back(f());
  bench::print_spread(name, unit, v);
  std::fflush(stdout);
}

void tune(caf::actor_system_config& cfg) {
  cfg.set("scheduler.max-threads", std::size_t{2});
  cfg.set("work-stealing.moderate-poll-attempts", std::size_t{0});
  cfg.set("work-stealing.relaxed-sleep-duration", caf::timespan{std::chrono::milliseconds{100}});
}

int basp_server() {
  caf::actor_system_config cfg;
  tune(cfg);
  cfg.load<caf::io::middleman>();
  caf::actor_system sys{cfg};
  auto echo = sys.spawn(echo_actor);
  auto sink = sys.spawn(sink_actor);
  auto p1 = sys.middleman().publish(echo, 0, "127.0.0.1");
  auto p2 = sys.middleman().publish(sink, 0, "127.0.0.1");
  if (!p1 || !p2)
    return 1;
  std::cout << *p1 << ' ' << *p2 << std::endl;
  std::string line;
  std::getline(std::cin, line); // until the client is done
  caf::anon_send_exit(echo, caf::exit_reason::user_shutdown);
  caf::anon_send_exit(sink, caf::exit_reason::user_shutdown);
  return 0;
}

int basp_client(int echo_port, int sink_port, int rounds, int calls, int msgs) {
  caf::actor_system_config cfg;
  tune(cfg);
  cfg.load<caf::io::middleman>();
  caf::actor_system sys{cfg};
  auto echo = sys.middleman().remote_actor("127.0.0.1", static_cast<std::uint16_t>(echo_port));
  auto sink = sys.middleman().remote_actor("127.0.0.1", static_cast<std::uint16_t>(sink_port));
  if (!echo || !sink) {
    std::cerr << "basp-client: " << sys.render(echo ? sink.error() : echo.error()) << '\n';
    return 1;
  }
  pingpong(sys, *echo, calls / 10); // warm-up
  report("basp_rtt", "us", rounds, [&] { return pingpong(sys, *echo, calls); });
  report("basp_msgs", "s", rounds, [&] { return oneway(sys, *sink, msgs); });
  return 0;
}

} // namespace

int main(int argc, char** argv) {
  mitosis::serve_if_agent(argc, argv);
  std::string mode = argc > 1 ? argv[1] : "";
  if (mode == "basp-server")
    return basp_server();
  if (mode == "basp-client")
    return basp_client(bench::arg_or(argc, argv, 2, 0), bench::arg_or(argc, argv, 3, 0),
                       bench::arg_or(argc, argv, 4, 5), bench::arg_or(argc, argv, 5, 2000),
                       bench::arg_or(argc, argv, 6, 200000));
  if (mode == "spawn") {
    // Only the spawns, `rounds` rounds of 50 (for a profiler).
    mitosis::master m(argc, argv);
    auto c = m.local({.name = "bench"});
    caf::scoped_actor self{m.system()};
    report("spawn", "us", bench::arg_or(argc, argv, 2, 200), [&] { return spawns(self, c, 50); });
    return 0;
  }
  if (mode == "actor-rtt" || mode == "call-rtt" || mode == "scoped-rtt") {
    // Only one of the round trips, `rounds` rounds of `n` (for a profiler
    // or strace -c).
    mitosis::master m(argc, argv);
    auto c = m.local({.name = "bench"});
    const int rounds = bench::arg_or(argc, argv, 2, 5);
    const int n = bench::arg_or(argc, argv, 3, 2000);
    if (mode == "call-rtt") {
      report("call_rtt", "us", rounds, [&] {
        auto t0 = bench::clock_type::now();
        for (int i = 0; i < n; ++i)
          c.call(echo, payload);
        return bench::ms_since(t0) * 1000.0 / n;
      });
    } else if (mode == "scoped-rtt") {
      // From a blocking actor on this thread (as spawn_us's request is).
      auto target = c.spawn<caf::actor>("bench.echo");
      caf::scoped_actor self{m.system()};
      report("scoped_rtt", "us", rounds, [&] {
        int failed = 0;
        auto t0 = bench::clock_type::now();
        for (int i = 0; i < n; ++i)
          self->request(target, caf::infinite, payload)
            .receive([](const std::string&) {}, [&failed](caf::error&) { ++failed; });
        return failed > 0 ? -1.0 : bench::ms_since(t0) * 1000.0 / n; // -1: a request failed
      });
    } else {
      auto target = c.spawn<caf::actor>("bench.echo");
      report("actor_rtt", "us", rounds, [&] { return pingpong(m.system(), target, n); });
    }
    return 0;
  }
  if (mode == "msgs") {
    // Only the one-way messages, `rounds` rounds of `n`.
    mitosis::master m(argc, argv);
    auto c = m.local({.name = "bench"});
    auto sink = c.spawn<caf::actor>("bench.sink");
    report("actor_msgs", "s", bench::arg_or(argc, argv, 2, 5),
           [&] { return oneway(m.system(), sink, bench::arg_or(argc, argv, 3, 200000)); });
    return 0;
  }
  int rounds = bench::arg_or(argc, argv, 1, 5);
  int calls = bench::arg_or(argc, argv, 2, 2000);
  int msgs = bench::arg_or(argc, argv, 3, 200000);

  mitosis::master m(argc, argv);
  auto& sys = m.system();
  auto c = m.local({.name = "bench"});

  for (int i = 0; i < calls / 10; ++i) // warm-up
    c.call(echo, payload);
  report("call_rtt", "us", rounds, [&] {
    auto t0 = bench::clock_type::now();
    for (int i = 0; i < calls; ++i)
      c.call(echo, payload);
    return bench::ms_since(t0) * 1000.0 / calls;
  });

  auto echo = c.spawn<caf::actor>("bench.echo");
  pingpong(sys, echo, calls / 10); // warm-up
  report("actor_rtt", "us", rounds, [&] { return pingpong(sys, echo, calls); });

  auto sink = c.spawn<caf::actor>("bench.sink");
  report("actor_msgs", "s", rounds, [&] { return oneway(sys, sink, msgs); });

  caf::scoped_actor self{sys};
  report("spawn", "us", rounds, [&] { return spawns(self, c, 50); });
  return 0;
}
