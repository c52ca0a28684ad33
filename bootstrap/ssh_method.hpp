// The ssh connection method, on libssh: connect, check the host key,
// authenticate, run stage-1 on an exec channel. After set-up, bytes move
// between each channel and a socketpair the router reads like any other
// stream: on the threads that send and read the stream (the session is the
// stream's driver) or on one pump thread per process (ssh_pump).
#pragma once

#include <chrono>
#include <stdexcept>
#include <string>

#include "method.hpp"
#include "transport.hpp"
#include "../serialization/errc.hpp"

namespace mitosis::bootstrap {

/// Connects to s.host, authenticates and runs `command` there. Blocks the
/// calling thread until `deadline` at most; at most a fixed number of
/// connects run at once. Throws method_error (host_key_rejected naming host,
/// port and fingerprint; auth_failed; unreachable; timeout).
transport start_ssh(const method_spec& s, const std::string& command,
                    std::chrono::steady_clock::time_point deadline);

/// Threads the ssh pump uses (1 once any session exists, else 0).
int ssh_pump_threads() noexcept;

/// Waits up to `timeout` until the pump has closed every session whose
/// stream the router dropped (at shutdown, so that no session is torn
/// down while the process exits). Returns false on timeout.
bool ssh_wait_idle(std::chrono::milliseconds timeout);

} // namespace mitosis::bootstrap
