// The interface every connection method but `local` implements: get
// `/bin/sh -c <stage-1>` running on the target with a byte stream back to
// us (a transport), then the same stage-1 dialog, boot frame and stream
// registration for all of them.
#pragma once

#include <chrono>
#include <functional>
#include <memory>
#include <string>

#include "../router/fwd.hpp"
#include "method.hpp"
#include "stage1.hpp"
#include "../router/fd.hpp"
#include "../router/stream_driver.hpp"
#include "../router/routing_table.hpp"
#include "../serialization/expected.hpp"
#include "../serialization/messages.hpp"


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

/// Runs `script` on the target of `s` (any method but local) with
/// `/bin/sh -c`: over ssh (start_ssh) or through a local program
/// (start_process). Throws method_error naming a known cause, or
/// std::exception.
transport open_transport(const method_spec& s, const std::string& script,
                         std::chrono::steady_clock::time_point deadline);

/// Kills and reaps `pid`, a program this process started (0: nothing).
void stop_program(int pid);

/// A context started by a non-local method, registered with the router,
/// before its hello.
struct remote_start {
  router::stream_id stream = 0;
  /// The local program we started (sudo, su, ...); 0 for ssh.
  int pid = 0;
  /// The bundle was sent (a cold start).
  bool installed = false;
};

/// Starts the context `boot` describes by method `s`: opens the transport,
/// runs stage-1 (sending this program's bundle when the target lacks it),
/// writes the boot frame and registers the stream with `r`. The failure
/// names the cause (host key, auth, bootstrap, timeout, ...).
expected<remote_start> start_remote(const method_spec& s, const serialization::boot_info& boot,
                                    router::router& r,
                                    std::chrono::steady_clock::time_point deadline);

} // namespace mitosis::bootstrap
