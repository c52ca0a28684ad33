// The ssh pump: one thread per process that owns every libssh session after
// set-up and moves bytes between each channel and a socketpair the router
// reads like any other stream. Private to bootstrap/ (it exposes libssh's
// types).
#pragma once

#include <chrono>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include <libssh/libssh.h>

#include "mitosis/bootstrap/ssh_loader.hpp"
#include "mitosis/router/stream.hpp"

namespace mitosis::bootstrap::ssh_impl {

/// The remote command's stderr so far (its tail), for error messages.
struct stderr_tail {
  std::mutex mtx;
  std::string text;
};

/// One ssh connection handed to the pump: the session, its exec channel
/// and the pump's end of the socketpair, with what is in flight each way.
struct conn {
  session_ptr session;
  ssh_channel channel = nullptr;
  router::unique_fd local;
  std::string label;
  std::shared_ptr<stderr_tail> err;
  std::string err_partial;
  std::vector<char> to_remote;
  std::size_t to_remote_off = 0;
  std::vector<char> to_local;
  std::size_t to_local_off = 0;
  bool local_eof = false;
  std::chrono::seconds keepalive{0};
  std::chrono::steady_clock::time_point next_keepalive{};
  bool done = false;
  // Drain once on arrival: set-up (the exec request) may already have
  // taken the first output off the socket into libssh's buffer.
  bool kick = true;

  ~conn();
};

/// Hands `c` (connected, its channel running the command, the session
/// non-blocking) to the pump, which starts on the first call.
void pump_add(std::unique_ptr<conn> c);

} // namespace mitosis::bootstrap::ssh_impl
