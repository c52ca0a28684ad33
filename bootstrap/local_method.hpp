// The `local` connection method: fork/exec this very executable in agent
// mode over a socketpair. No shell, no bundle: the fast path.
#pragma once

#include <chrono>
#include <memory>
#include <string>

#include "../router/fd.hpp"
#include "../router/fwd.hpp"
#include "../serialization/messages.hpp"

namespace mitosis::bootstrap {

/// Environment variable that puts a started copy into agent mode.
inline constexpr const char* agent_env = "MITOSIS_AGENT";
/// Environment variable carrying the parent's pid (for PR_SET_PDEATHSIG).
inline constexpr const char* parent_pid_env = "MITOSIS_PARENT_PID";

/// How a local child's stdin/stdout are connected to us.
enum class local_transport : std::uint8_t {
  /// One socketpair: the fast path.
  socketpair,
  /// Two pipes, as sshd gives a remote command: exercises the agent's pipe
  /// path on this host.
  pipes,
};

/// A started local child, before its hello has been read.
struct started_child {
  int pid = 0;
  router::unique_fd rfd;
  /// Unset for a socketpair (rfd is both ends).
  router::unique_fd wfd;
};

/// The master, in its constructor on the main thread: starts this
/// process's fork server (bootstrap/fork_server.hpp) without waiting for it.
void start_fork_server();

/// Starts /proc/self/exe in agent mode with its stdin and stdout connected
/// to us by `transport`, writes our hello and `boot` to it, and returns our
/// ends. Throws std::system_error when the process cannot start.
/// Call from a long-lived thread: PR_SET_PDEATHSIG follows the thread that
/// created the child.
started_child start_local(const serialization::boot_info& boot,
                          local_transport transport = local_transport::socketpair);

/// Registers a new child's stream with the router, after announcing its
/// route up the tree: whatever it sends (a log line, say) then reaches our
/// parent after the route_add, never as an unknown source. A failed
/// handshake drops the stream, which sends the route_del. `driver`: see
/// router::stream_options. Returns the stream id.
std::uint32_t attach_child(router::router& r, const serialization::boot_info& boot, int pid,
                           router::unique_fd rfd, router::unique_fd wfd,
                           std::shared_ptr<router::stream_driver> driver = nullptr);

/// Writes our hello and the boot frame for `boot` to a new child's stream.
/// Throws std::system_error.
void send_boot(int write_fd, const serialization::boot_info& boot);


} // namespace mitosis::bootstrap
