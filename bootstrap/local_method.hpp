// The `local` connection method: fork/exec this very executable in agent
// mode over a socketpair. No shell, no bundle: the fast path.
#pragma once

#include <chrono>
#include <string>

#include "mitosis/router/stream.hpp"
#include "mitosis/serialization/messages.hpp"

namespace mitosis::bootstrap {

/// Environment variable that puts a started copy into agent mode.
inline constexpr const char* agent_env = "MITOSIS_AGENT";
/// Environment variable carrying the parent's pid (for PR_SET_PDEATHSIG).
inline constexpr const char* parent_pid_env = "MITOSIS_PARENT_PID";

/// A started local child, before its hello has been read.
struct started_child {
  int pid = 0;
  router::unique_fd fd;
};

/// Starts /proc/self/exe in agent mode with one end of a socketpair as its
/// stdin and stdout, writes our hello and `boot` to it, and returns the
/// other end. Throws std::system_error when the process cannot start.
/// Call from a long-lived thread: PR_SET_PDEATHSIG follows the thread that
/// created the child.
started_child start_local(const serialization::boot_info& boot);

/// Returns the path of this executable, resolved once at start-up.
const std::string& self_exe();

} // namespace mitosis::bootstrap
