// Test support for losses: the down messages a scoped actor collects, and
// whether processes are gone.
#pragma once

#include <caf/after.hpp>
#include <caf/system_messages.hpp>
#include <caf/scoped_actor.hpp>
#include <cerrno>
#include <chrono>
#include <csignal>
#include <fstream>
#include <string>
#include <thread>
#include <vector>

namespace loss {

using clk = std::chrono::steady_clock;

/// Collects the down messages `self` receives until `n` arrived or `limit`
/// passed, then waits `quiet` more for any extra one.
inline std::vector<caf::down_msg> downs(caf::scoped_actor& self, std::size_t n,
                                        std::chrono::milliseconds limit,
                                        std::chrono::milliseconds quiet
                                        = std::chrono::milliseconds{500}) {
  std::vector<caf::down_msg> out;
  auto deadline = clk::now() + limit;
  bool timed_out = false;
  while (out.size() < n && !timed_out)
    self->receive([&](caf::down_msg& d) { out.push_back(std::move(d)); },
                  caf::after(std::max(deadline - clk::now(), clk::duration{0}))
                    >> [&] { timed_out = true; });
  timed_out = false;
  while (!timed_out)
    self->receive([&](caf::down_msg& d) { out.push_back(std::move(d)); },
                  caf::after(quiet) >> [&] { timed_out = true; });
  return out;
}

/// A pid is gone when it no longer exists or is a zombie nobody reaped yet.
inline bool gone(int pid) {
  if (::kill(pid, 0) != 0 && errno == ESRCH)
    return true;
  std::ifstream stat{"/proc/" + std::to_string(pid) + "/stat"};
  std::string pid_s, comm, state;
  stat >> pid_s >> comm >> state;
  return !stat || state == "Z" || state == "X";
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

} // namespace loss
