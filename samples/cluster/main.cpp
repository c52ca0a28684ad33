// samples/cluster: the localhost test cluster (scripts/cluster.sh) driven
// the way an automation app drives a fleet. It brings the cluster up, joins
// its control namespace, starts one context per host through the tree (the
// hidden host through its gateway), calls every host in parallel and prints
// the tree with each host's answer and timings.
//
//   mitosis-cluster [--hosts N] [--keep] [--script path/to/cluster.sh]
//
// Needs root (namespaces, sshd). --keep leaves the cluster up afterwards.
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <fcntl.h>
#include <fstream>
#include <future>
#include <ifaddrs.h>
#include <map>
#include <netinet/in.h>
#include <arpa/inet.h>
#include <sched.h>
#include <string>
#include <unistd.h>
#include <vector>

#include "cluster_env.hpp"
#include "mitosis/mitosis.hpp"

namespace {

using clk = std::chrono::steady_clock;

double ms_since(clk::time_point t0) {
  return std::chrono::duration<double, std::milli>(clk::now() - t0).count();
}

// What each host reports: its IPv4 addresses (the namespace's), pid, uid
// and the bundle it runs from.
std::string host_facts() {
  std::string addrs;
  ifaddrs* all = nullptr;
  if (::getifaddrs(&all) == 0) {
    for (auto* a = all; a; a = a->ifa_next) {
      if (!a->ifa_addr || a->ifa_addr->sa_family != AF_INET)
        continue;
      char buf[INET_ADDRSTRLEN];
      auto* sin = reinterpret_cast<sockaddr_in*>(a->ifa_addr);
      ::inet_ntop(AF_INET, &sin->sin_addr, buf, sizeof(buf));
      if (std::string{buf} != "127.0.0.1")
        addrs += (addrs.empty() ? "" : ",") + std::string{buf};
    }
    ::freeifaddrs(all);
  }
  return addrs + " pid " + std::to_string(::getpid()) + " uid " + std::to_string(::getuid());
}
MITOSIS_REMOTE(host_facts);

struct node {
  std::string host;
  std::string parent; // "" = the master
  mitosis::context ctx;
  double start_ms = 0;
  std::string facts;
  double call_ms = 0;
};

std::string default_script(const char* argv0) {
  // The build tree sits in <repo>/build*/samples/cluster.
  std::string exe = argv0;
  auto dir = exe.substr(0, exe.rfind('/') + 1);
  for (auto rel : {"../../../scripts/cluster.sh", "../../scripts/cluster.sh", "scripts/cluster.sh"})
    if (::access((dir + rel).c_str(), R_OK) == 0)
      return dir + rel;
  return "scripts/cluster.sh";
}

} // namespace

int main(int argc, char** argv) {
  mitosis::serve_if_agent(argc, argv);
  int hosts = 4;
  bool keep = false;
  std::string script = default_script(argv[0]);
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    if (a == "--hosts" && i + 1 < argc)
      hosts = std::atoi(argv[++i]);
    else if (a == "--keep")
      keep = true;
    else if (a == "--script" && i + 1 < argc)
      script = argv[++i];
    else {
      std::fprintf(stderr, "usage: %s [--hosts N] [--keep] [--script cluster.sh]\n", argv[0]);
      return 64;
    }
  }
  auto t_up = clk::now();
  auto up = "sh " + script + " up " + std::to_string(hosts) + " >&2";
  if (std::system(up.c_str()) != 0) {
    std::fprintf(stderr, "cluster: could not bring the cluster up (root? see above)\n");
    return 1;
  }
  std::printf("cluster of %d hosts up in %.0f ms\n", hosts, ms_since(t_up));
  auto env = cluster::read_env("/tmp/mitosis-cluster/env");
  // Join the control host's network namespace while this process has one
  // thread: every context started from here connects from 10.77.0.1.
  int ns = ::open("/run/netns/mitosis-ctl", O_RDONLY | O_CLOEXEC);
  if (ns < 0 || ::setns(ns, CLONE_NEWNET) != 0) {
    std::perror("cluster: cannot enter namespace mitosis-ctl");
    return 1;
  }
  ::close(ns);
  int rc = 0;
  {
    mitosis::master m{argc, argv, {.name = "master"}};
    auto ssh_to = [&](const std::string& host) { return cluster::ssh_to(env, host); };
    std::vector<node> nodes;
    auto gateway = env["CLUSTER_GATEWAY"];
    auto hidden = env["CLUSTER_HIDDEN"];
    try {
      // Level 1 in parallel: every host the control host can reach.
      auto t0 = clk::now();
      std::vector<std::pair<std::string, std::future<mitosis::context>>> starting;
      for (int i = 1; i <= hosts; ++i) {
        auto h = "h" + std::to_string(i);
        if (h == hidden)
          continue;
        mitosis::bootstrap::method_spec spec;
        spec.kind = mitosis::bootstrap::method_kind::ssh;
        spec.name = "ssh:" + h;
        spec.ssh = ssh_to(h);
        starting.emplace_back(h, m.connect_async(spec));
      }
      for (auto& [h, f] : starting)
        nodes.push_back({h, "", f.get(), ms_since(t0), {}, 0});
      // Level 2: the hidden host, started by its gateway's copy.
      auto t1 = clk::now();
      for (auto& n : nodes)
        if (n.host == gateway) {
          auto c = m.ssh(ssh_to(hidden), {.name = "ssh:" + hidden, .via = n.ctx});
          nodes.push_back({hidden, gateway, c, ms_since(t1), {}, 0});
          break;
        }
      std::printf("started %zu contexts in %.0f ms\n", nodes.size(), ms_since(t0));
      // Every host at once.
      auto tc = clk::now();
      std::vector<mitosis::future<std::string>> calls;
      std::vector<clk::time_point> sent;
      for (auto& n : nodes)
        calls.push_back(n.ctx.call_async(host_facts));
      for (std::size_t i = 0; i < nodes.size(); ++i) {
        nodes[i].facts = calls[i].get();
        nodes[i].call_ms = ms_since(tc);
      }
      std::printf("%zu parallel calls answered in %.2f ms\n\n", nodes.size(), ms_since(tc));
      std::printf("master (ctl %s, pid %d)\n", env["CLUSTER_CTL_ADDR"].c_str(), ::getpid());
      auto print = [&](const std::string& parent, const std::string& indent, auto&& self) -> void {
        std::vector<const node*> kids;
        for (auto& n : nodes)
          if (n.parent == parent)
            kids.push_back(&n);
        for (std::size_t i = 0; i < kids.size(); ++i) {
          bool last = i + 1 == kids.size();
          std::printf("%s%s %-7s %-34s start %6.1f ms  answer after %6.2f ms\n", indent.c_str(),
                      last ? "`--" : "|--", kids[i]->ctx.name().c_str(), kids[i]->facts.c_str(),
                      kids[i]->start_ms, kids[i]->call_ms);
          self(kids[i]->host, indent + (last ? "    " : "|   "), self);
        }
      };
      print("", "", print);
    } catch (const mitosis::error& e) {
      std::fprintf(stderr, "cluster: %s\n", e.what());
      rc = 1;
    }
  }
  if (!keep) {
    auto down = "sh " + script + " down >&2";
    if (std::system(down.c_str()) != 0)
      rc = 1;
  }
  return rc;
}
