// Test support for losses: the down messages a scoped actor collects, and
// whether processes are gone.
#pragma once

#include <caf/after.hpp>
#include <caf/system_messages.hpp>
#include <caf/scoped_actor.hpp>
#include <cerrno>
#include <chrono>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>
#include <thread>
#include <unistd.h>
#include <vector>

#include "actor_waits.hpp"
#include "proc_helpers.hpp"

namespace loss {

using clk = std::chrono::steady_clock;

using mitosis::test::downs;

/// A pid is gone when it no longer exists or is a zombie nobody reaped yet.
inline bool gone(int pid) {
  if (::kill(pid, 0) != 0 && errno == ESRCH)
    return true;
  std::ifstream stat{"/proc/" + std::to_string(pid) + "/stat"};
  std::string pid_s, comm, state;
  stat >> pid_s >> comm >> state;
  return !stat || state == "Z" || state == "X";
}

/// The zombie children of `parent`: processes that exited and that it has
/// not reaped (state Z).
inline int zombie_children(int parent) {
  int n = 0;
  for (auto& c : proc::children_of(parent))
    if (c.state == 'Z')
      ++n;
  return n;
}

/// Waits until `parent` has no zombie child; returns how many it has at
/// `limit` (0: all reaped).
inline int zombies_after(int parent, std::chrono::milliseconds limit) {
  auto deadline = clk::now() + limit;
  for (;;) {
    int n = zombie_children(parent);
    if (n == 0 || clk::now() > deadline)
      return n;
    std::this_thread::sleep_for(std::chrono::milliseconds{20});
  }
}

/// Waits until every pid in `pids` is gone; false if one is left at `limit`.
inline bool all_gone_within(const std::vector<int>& pids, std::chrono::milliseconds limit) {
  auto deadline = clk::now() + limit;
  for (;;) {
    bool all = true;
    for (int p : pids)
      all = all && gone(p);
    if (all)
      return true;
    if (clk::now() > deadline)
      return false;
    std::this_thread::sleep_for(std::chrono::milliseconds{5});
  }
}

/// A throw-away master in a process of its own (main.cpp, run_submaster)
/// with a child and a grandchild (through the child).
struct submaster {
  int pid = 0;
  int child_pid = 0;
  int gc_pid = 0;
};

/// Starts a submaster, with `heartbeat_ms` as its heartbeat interval when
/// given, and reads its pids. `pid` is 0 when it did not report them.
inline submaster start_submaster(const char* heartbeat_ms = nullptr) {
  submaster out;
  int fds[2];
  if (::pipe(fds) != 0)
    return out;
  pid_t pid = ::fork();
  if (pid == 0) {
    ::dup2(fds[1], 1);
    ::close(fds[0]);
    ::close(fds[1]);
    ::setenv("MITOSIS_TEST_SUBMASTER", "1", 1);
    if (heartbeat_ms)
      ::setenv("MITOSIS_TEST_SUBMASTER_HEARTBEAT_MS", heartbeat_ms, 1);
    char arg0[] = "submaster";
    char* argv[] = {arg0, nullptr};
    ::execv("/proc/self/exe", argv);
    ::_exit(127);
  }
  ::close(fds[1]);
  FILE* f = ::fdopen(fds[0], "r");
  int master_pid = 0;
  if (std::fscanf(f, "PIDS %d %d %d", &master_pid, &out.child_pid, &out.gc_pid) == 3
      && master_pid == pid)
    out.pid = pid;
  std::fclose(f);
  if (out.pid == 0 && pid > 0)
    ::kill(pid, SIGKILL);
  return out;
}

} // namespace loss
