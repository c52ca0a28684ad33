// How much an ssh connection may send before the router has its stream:
// the bytes in flight (sent and not yet acknowledged by a window
// adjustment) are kept under a limit. Private to bootstrap/ (ssh_conn.cpp).
//
// Until the router has the stream, the one big transfer is stage 1's
// bundle upload, read on the target by `head`, 8 KiB a read, more slowly
// than the network brings it. What the client sends beyond that waits in
// sshd's channel buffer, which OpenSSH grows up to the channel's window
// (2 MiB) by reallocating and copying it into fresh pages, again and
// again: on a VM where a page fault is dear an 8 MB bundle took 0.5-1 s to
// upload (sshd at 100 % CPU, in page faults under memmove), and 35-100 ms
// with at most 256 KiB in flight (sshd acknowledges what it passed on once
// 96 KiB are outstanding). A server that acknowledges only later (below
// half its window) would hold us at the limit for good: held back for 5
// ms by a server that has never acknowledged anything, the limit doubles,
// up to the whole window. A server that has acknowledged before is only
// waiting for the target's reader (a slow exec, a disk): the limit stays.
// Once the router has the stream the whole window is used: its reader
// drains sshd at once, and a limit would cost throughput on a long link.
#pragma once

#include <algorithm>
#include <chrono>
#include <cstdint>

namespace mitosis::bootstrap::ssh_impl {

struct flight_cap {
  using clock = std::chrono::steady_clock;
  static constexpr std::uint32_t first_limit = 256 * 1024;
  static constexpr std::chrono::milliseconds patience{5};

  std::uint32_t max_window = 0; // the largest remote window seen: nothing in flight
  std::uint32_t limit = first_limit;
  clock::time_point held_since{}; // held back at the limit since (or never)
  std::uint32_t expected = 0;     // the window after our last write, if not acknowledged
  bool acknowledged = false;      // the server gave some of its window back, ever

  /// How much of the remote `window` may be written now.
  std::uint32_t room(std::uint32_t window, clock::time_point now) noexcept {
    if (max_window != 0 && window > expected)
      acknowledged = true;
    expected = window;
    max_window = std::max(max_window, window);
    if (window == 0)
      return 0;
    auto in_flight = max_window - window;
    if (in_flight < limit) {
      held_since = {};
      return std::min(window, limit - in_flight);
    }
    if (held_since == clock::time_point{}) {
      held_since = now;
    } else if (now - held_since >= patience && limit < max_window && !acknowledged) {
      limit = max_window - limit > limit ? limit * 2 : max_window;
      held_since = {};
      return room(window, now);
    }
    return 0;
  }

  /// `n` bytes of what room() allowed were written (the window shrank).
  void wrote(std::uint32_t n) noexcept {
    expected -= std::min(expected, n);
  }
};

} // namespace mitosis::bootstrap::ssh_impl
