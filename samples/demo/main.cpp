// samples/demo: the README's demo. Starts a two-level tree of local contexts
// (2 children, 3 grandchildren under each), calls every one, spawns an actor
// in every one and asks each, and prints the tree with per-context results
// and timings.
#include <caf/scoped_actor.hpp>
#include <caf/typed_event_based_actor.hpp>
#include <chrono>
#include <cstdio>
#include <string>
#include <unistd.h>
#include <vector>

#include <mitosis/actors/remote_actor.hpp>
#include <mitosis/mitosis.hpp>

struct probe_result {
  int pid = 0;
  int ppid = 0;
  std::string host;
};

template <class Ar>
void serialize(Ar& ar, probe_result& r, unsigned) {
  ar& r.pid;
  ar& r.ppid;
  ar& r.host;
}

probe_result probe() {
  char host[256] = {};
  ::gethostname(host, sizeof(host) - 1);
  return {::getpid(), ::getppid(), host};
}
MITOSIS_REMOTE(probe);

// An actor type every copy of the program can run: asked for a greeting,
// it answers with where it runs.
using greeter = caf::typed_actor<caf::replies_to<std::string>::with<std::string>>;

greeter::behavior_type greeter_actor(greeter::pointer) {
  return {[](const std::string& who) {
    return "hello " + who + " from pid " + std::to_string(::getpid());
  }};
}
MITOSIS_ACTOR("demo.greeter", greeter_actor);

using clk = std::chrono::steady_clock;

double ms_since(clk::time_point t) {
  return std::chrono::duration<double, std::milli>(clk::now() - t).count();
}

int main(int argc, char** argv) {
  mitosis::master m{argc, argv};
  struct node {
    mitosis::context ctx;
    int depth;
    double start_ms;
  };
  std::vector<node> tree;
  auto t_all = clk::now();
  for (int i = 0; i < 2; ++i) {
    auto t = clk::now();
    auto child = m.local({.name = "child" + std::to_string(i)});
    tree.push_back({child, 1, ms_since(t)});
    for (int j = 0; j < 3; ++j) {
      auto tg = clk::now();
      auto gc = m.local({.name = "child" + std::to_string(i) + ".gc" + std::to_string(j),
                         .via = child});
      tree.push_back({gc, 2, ms_since(tg)});
    }
  }
  auto started_ms = ms_since(t_all);
  std::printf("mitosis demo: master pid %d started %zu contexts in %.1f ms\n\n", ::getpid(),
              tree.size(), started_ms);
  std::printf("%-16s %4s %8s %8s %10s %10s\n", "context", "id", "pid", "ppid", "start ms",
              "call us");
  auto t_calls = clk::now();
  for (auto& n : tree) {
    auto t = clk::now();
    auto r = n.ctx.call(probe);
    auto us = std::chrono::duration<double, std::micro>(clk::now() - t).count();
    std::printf("%*s%-*s %4u %8d %8d %10.2f %10.1f\n", 2 * (n.depth - 1), "",
                16 - 2 * (n.depth - 1), n.ctx.name().c_str(), n.ctx.id(), r.pid, r.ppid,
                n.start_ms, us);
  }
  std::printf("\n%zu calls in %.2f ms\n\n", tree.size(), ms_since(t_calls));

  // The same tree, as actors: one greeter spawned in every context, each
  // asked from the master through a typed handle.
  auto t_actors = clk::now();
  std::vector<greeter> actors;
  for (auto& n : tree)
    actors.push_back(n.ctx.spawn<greeter>("demo.greeter"));
  auto spawned_ms = ms_since(t_actors);
  caf::scoped_actor self{m.system()};
  std::size_t answered = 0;
  for (std::size_t i = 0; i < actors.size(); ++i)
    self->request(actors[i], std::chrono::seconds{5}, std::string{"master"})
      .receive(
        [&](const std::string& greeting) {
          ++answered;
          std::printf("%-16s actor says: %s\n", tree[i].ctx.name().c_str(), greeting.c_str());
        },
        [&](caf::error& e) {
          std::printf("%-16s actor failed: %s\n", tree[i].ctx.name().c_str(),
                      m.system().render(e).c_str());
        });
  std::printf("\n%zu actors spawned in %.2f ms, %zu answered; whole run %.1f ms\n", actors.size(),
              spawned_ms, answered, ms_since(t_all));
}
