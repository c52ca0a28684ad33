// The fork server: a single-threaded copy of this program, exec'd with
// LD_BIND_NOW, that starts our local children by forking itself with
// CLONE_PARENT. A child is born with the program loaded and every symbol
// bound: no exec, no dynamic loader, no lazy binding (which was ~10 % of a
// forked child's CPU). It is still our child (we reap it; its
// PR_SET_PDEATHSIG follows the thread that made the server) and gets the
// fds, environment and working directory we hand it at the start, as an
// exec'd one would; what main() did before mitosis::master it did in the
// server, as in any context.
//
// The master starts its server in its constructor, on the main thread,
// without waiting (the program loads while the runtime starts; the first
// local start waits until it is ready). An agent makes none until it
// starts a local child of its own: most contexts never do. With
// MITOSIS_FORK_SERVER=0, or once the server is gone, local starts exec
// (docs/architecture.md, "The fork server").
#pragma once

#include <functional>
#include <optional>
#include <string>
#include <sys/types.h>
#include <vector>

namespace mitosis::bootstrap::fork_server {

/// Environment variable that turns the fork server off when set to 0:
/// read when the server would start and at every start (then exec).
inline constexpr const char* env_switch = "MITOSIS_FORK_SERVER";

/// How to exec the program as a server: `server_fd` must become the fd
/// `fd_in_child` of the new process, whose environment must be `env`
/// (NAME=value each); returns its pid or throws.
using exec_launcher =
  std::function<pid_t(int server_fd, int fd_in_child, const std::vector<std::string>& env)>;

/// The master, in its constructor: starts the server (unless turned off,
/// or not on the main thread) and returns without waiting for it. `env`:
/// the environment its children would have. Once per process.
void start(const exec_launcher& launch, const std::vector<std::string>& env) noexcept;

/// Environment variable of a process exec'd to be a server: "FD:PID", its
/// socket and the pid of the process it serves.
inline constexpr const char* serve_env = "MITOSIS_FORK_SERVE";

/// In a process exec'd to be a server (serve_env is set): serves, and
/// never returns. A child it forks restores its fds, environment and
/// working directory, then calls `entry`, which must not return. Otherwise
/// does nothing. Called first thing in an agent-capable main
/// (mitosis::serve_if_agent).
void serve_if_asked(void (*entry)()) noexcept;

/// Lets the server go and reaps it (an agent, before it exits: where no
/// init reaps orphans, as in a container, it would be left a zombie).
void stop() noexcept;

/// Starts a child: `in_fd` becomes its fd 0, `out_fd` its fd 1, our fd 2
/// its fd 2; `env` ("NAME=value" each) its whole environment; our working
/// directory its own; `name` its thread name (ps's comm, 15 characters).
/// Returns its pid, or nullopt when the server is not there or could not
/// fork (then exec instead). A process that never had a server (an agent)
/// first starts one through `exec_server`, once, and waits until it is
/// ready (up to 30 s). Safe from any thread, but the thread that makes the
/// server is the one its PR_SET_PDEATHSIG, and that of every child it
/// forks, follows: call it from a long-lived thread (the spawner's).
std::optional<int> spawn(int in_fd, int out_fd, const std::vector<std::string>& env,
                         const std::string& name, const exec_launcher& exec_server = {});

} // namespace mitosis::bootstrap::fork_server
