// samples/actor_tree: a parallel word count by a tree of actors three
// levels deep. The supervisor (an actor in the master) spawns a worker in
// each child context; each worker starts its own child contexts (the
// grandchildren: the tree is built from below) and spawns a sub-worker in
// each; sub-workers count the words of files, workers add up their
// subtree, the supervisor the whole. Then one intermediate is killed with
// SIGKILL: the supervisor prints the down messages it gets, restarts the
// lost subtree, has its share counted again, and the total is checked
// against a count in this process (exit 1 on a mismatch).
//
//   mitosis-actor-tree [DIR] [--workers N] [--subs M] [--victim K|none] [--cluster]
//
// DIR defaults to /usr/share/doc; worker K (default 2) is the victim.
// --cluster starts the workers over ssh on the hosts of the localhost
// cluster (docs/cluster.md): as root, `sh scripts/cluster.sh up 4`, then
// `mitosis-actor-tree --cluster`; worker i goes to the i-th host the
// control namespace reaches directly (round robin; the hidden host is
// left out), and each worker starts its sub-workers locally on its host.
#include <caf/scoped_actor.hpp>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <map>
#include <fcntl.h>
#include <sched.h>
#include <string>
#include <unistd.h>

#include "../cluster/cluster_env.hpp"
#include "mitosis/actors/remote_actor.hpp"
#include "tree.hpp"

namespace {

using clk = std::chrono::steady_clock;

int usage(const char* argv0) {
  std::fprintf(stderr,
               "usage: %s [DIR] [--workers N] [--subs M] [--victim K|none] [--cluster]\n",
               argv0);
  return 64;
}

} // namespace

int main(int argc, char** argv) {
  mitosis::serve_if_agent(argc, argv);
  std::string dir = "/usr/share/doc";
  int workers = 3, subs = 2, victim = 2;
  bool on_cluster = false;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    if (a == "--workers" && i + 1 < argc)
      workers = std::atoi(argv[++i]);
    else if (a == "--subs" && i + 1 < argc)
      subs = std::atoi(argv[++i]);
    else if (a == "--victim" && i + 1 < argc) {
      std::string v = argv[++i];
      victim = v == "none" ? 0 : std::atoi(v.c_str());
    } else if (a == "--cluster")
      on_cluster = true;
    else if (!a.empty() && a[0] != '-')
      dir = a;
    else
      return usage(argv[0]);
  }
  if (workers < 1 || subs < 1 || victim < 0 || victim > workers)
    return usage(argv[0]);

  auto files = tree::list_files(dir);
  if (files.empty()) {
    std::fprintf(stderr, "actor_tree: no readable files under %s\n", dir.c_str());
    return 1;
  }
  auto t0 = clk::now();
  std::uint64_t expected = 0;
  for (auto& f : files)
    expected += tree::count_words(f);
  auto single_ms = std::chrono::duration<double, std::milli>(clk::now() - t0).count();
  std::printf("%zu files under %s: %llu words counted in this process in %.0f ms\n", files.size(),
              dir.c_str(), static_cast<unsigned long long>(expected), single_ms);

  std::map<std::string, std::string> env;
  std::vector<std::string> hosts; // --cluster: the hosts reachable from the control namespace
  if (on_cluster) {
    // The hosts are reachable from the cluster's control namespace.
    env = cluster::read_env("/tmp/mitosis-cluster/env");
    int ns = ::open("/run/netns/mitosis-ctl", O_RDONLY | O_CLOEXEC);
    if (env.empty() || ns < 0 || ::setns(ns, CLONE_NEWNET) != 0) {
      std::fprintf(stderr, "actor_tree: no cluster (run scripts/cluster.sh up %d as root)\n",
                   workers);
      return 1;
    }
    ::close(ns);
    for (auto& [k, v] : env)
      if (k.rfind("CLUSTER_ADDR_h", 0) == 0 && k.substr(13) != env["CLUSTER_HIDDEN"])
        hosts.push_back(k.substr(13));
    if (hosts.empty()) {
      std::fprintf(stderr, "actor_tree: the cluster's env lists no host\n");
      return 1;
    }
  }

  tree::plan plan;
  plan.shares.resize(static_cast<std::size_t>(workers));
  for (std::size_t i = 0; i < files.size(); ++i)
    plan.shares[i % plan.shares.size()].push_back(files[i]);
  plan.subs = subs;
  plan.victim = victim - 1;
  mitosis::master* master = nullptr;
  plan.start_worker = [&](int i, int generation) {
    auto name = "w" + std::to_string(i + 1) + (generation ? "r" + std::to_string(generation) : "");
    if (!on_cluster)
      return mitosis::start_local({.name = name});
    // Worker i on the i-th host the control namespace reaches directly.
    auto host = hosts[static_cast<std::size_t>(i) % hosts.size()];
    return master->ssh(cluster::ssh_to(env, host), {.name = host + "." + name});
  };

  int rc = 0;
  {
    mitosis::master m{argc, argv, {.name = "master"}};
    master = &m;
    auto t1 = clk::now();
    auto sup = tree::spawn_supervisor(m.system(), &plan);
    caf::scoped_actor self{m.system()};
    self->request(sup, std::chrono::minutes{5}, tree::run_atom::value)
      .receive(
        [&](std::uint64_t words, std::uint64_t n) {
          auto ms = std::chrono::duration<double, std::milli>(clk::now() - t1).count();
          std::printf("\ntotal: %llu files, %llu words by the tree in %.0f ms%s; "
                      "single process: %zu files, %llu words\n",
                      static_cast<unsigned long long>(n), static_cast<unsigned long long>(words),
                      ms, victim ? " (with the restart)" : "", files.size(),
                      static_cast<unsigned long long>(expected));
          if (words != expected || n != files.size()) {
            std::printf("MISMATCH\n");
            rc = 1;
          } else {
            std::printf("totals match\n");
          }
        },
        [&](caf::error& e) {
          std::printf("the tree failed: %s\n", m.system().render(e).c_str());
          rc = 1;
        });
    caf::anon_send_exit(sup, caf::exit_reason::user_shutdown);
  }
  return rc;
}
