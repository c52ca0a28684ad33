// The fork server: a single-threaded copy of this process, forked before
// the runtime starts any thread, that starts our local children by forking
// itself again with CLONE_PARENT. A child is born with this executable
// already loaded and relocated: no exec, no dynamic loader, none of the
// page faults of relocating libcaf and libstdc++ again. It is still our
// child (we reap it; its PR_SET_PDEATHSIG follows the thread that made the
// server, our main thread) and gets the fds, environment and working
// directory we hand it at the start, as an exec'd one would.
//
// Used when the process is single-threaded on its main thread when start()
// runs, unless MITOSIS_FORK_SERVER=0; otherwise, or once the server is
// gone, local starts exec as before (docs/architecture.md, "Starting a
// local child").
#pragma once

#include <optional>
#include <string>
#include <vector>

namespace mitosis::bootstrap::fork_server {

/// Environment variable that turns the fork server off when set to 0:
/// read when the server would start and at every start (then exec).
inline constexpr const char* env_switch = "MITOSIS_FORK_SERVER";

/// Forks the server if this process may (single-threaded, on its main
/// thread, not turned off). A child it forks restores its fds, environment
/// and working directory, then calls `entry`, which must not return.
/// Once per process; later calls do nothing.
void start(void (*entry)()) noexcept;

/// Lets the server go and reaps it (an agent, before it exits: where no
/// init reaps orphans, as in a container, it would be left a zombie).
void stop() noexcept;

/// Whether a server is running (it may still turn out gone at spawn()).
bool available() noexcept;

/// Starts a child: `in_fd` becomes its fd 0, `out_fd` its fd 1, our fd 2
/// its fd 2; `env` ("NAME=value" each) its whole environment; our working
/// directory its own; `name` its thread name (ps's comm, 15 characters).
/// Returns its pid, or nullopt when the server is not there or could not
/// fork (then exec instead). Safe from any thread.
std::optional<int> spawn(int in_fd, int out_fd, const std::vector<std::string>& env,
                         const std::string& name);

} // namespace mitosis::bootstrap::fork_server
