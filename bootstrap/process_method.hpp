// Methods that start a local program which runs stage-1: sudo, su, doas,
// chroot, setns, docker/podman exec and a plain shell. Also the common
// shape every non-local method reduces to (a transport).
#pragma once

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "mitosis/bootstrap/method.hpp"
#include "mitosis/bootstrap/stage1.hpp"
#include "mitosis/router/stream.hpp"

namespace mitosis::bootstrap {

/// A byte stream to a target where stage-1 runs, before the handshake.
struct transport {
  /// The local process we started (sudo, su, ...), 0 for ssh.
  int pid = 0;
  router::unique_fd rfd;
  /// Unset: rfd is both ends (socketpair, pty).
  router::unique_fd wfd;
  /// Where the started program's stderr arrives: a pty master (become
  /// programs print prompts and errors there) or a pipe (other methods);
  /// logged for the whole life of the context (see drain_lines).
  router::unique_fd tty;
  /// Prompts to answer during stage-1.
  prompt_answerer prompts;
  /// Text the target wrote to stderr so far (ssh, pipe methods), for
  /// error messages.
  std::function<std::string()> stderr_text;
  /// Stage-1 must keep the agent's stderr off the stream (full pty).
  bool quiet_stderr = false;
  /// Moves the stream's bytes beyond rfd (ssh: the session behind the
  /// socketpair); goes into the stream's options.
  std::shared_ptr<router::stream_driver> driver;
};

/// Starts the local program of method `s` (not local, not ssh) with
/// `/bin/sh -c script` as the command it runs. Throws connect_error-like
/// std::system_error / std::runtime_error naming the cause (no such
/// program, no /bin/sh in the chroot, cannot enter a namespace, ...).
transport start_process(const method_spec& s, const std::string& script);

/// Returns the argv `start_process` runs for `s` (tests, docs).
std::vector<std::string> process_argv(const method_spec& s, const std::string& script);

/// Logs every line read from `fd` on logger "stderr" as "[context] line"
/// until EOF, on one process-wide thread.
void drain_lines(router::unique_fd fd, std::string context);

} // namespace mitosis::bootstrap
