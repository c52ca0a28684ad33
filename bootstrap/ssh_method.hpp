// The ssh connection method, on libssh: connect, check the host key,
// authenticate, run stage-1 on an exec channel. After set-up, one pump
// thread per process owns every session and moves bytes between each
// channel and a socketpair the router reads like any other stream.
#pragma once

#include <chrono>
#include <stdexcept>
#include <string>

#include "mitosis/bootstrap/method.hpp"
#include "mitosis/bootstrap/process_method.hpp"
#include "mitosis/serialization/errc.hpp"

namespace mitosis::bootstrap {

/// A connection method failed for a known cause (host key, auth, ...).
class method_error : public std::runtime_error {
public:
  method_error(errc code, const std::string& what) : std::runtime_error(what), code_(code) {}
  errc code() const noexcept {
    return code_;
  }

private:
  errc code_;
};

/// Connects to s.host, authenticates and runs `command` there. Blocks the
/// calling thread until `deadline` at most; at most a fixed number of
/// connects run at once. Throws method_error (host_key_rejected naming host,
/// port and fingerprint; auth_failed; unreachable; timeout).
transport start_ssh(const method_spec& s, const std::string& command,
                    std::chrono::steady_clock::time_point deadline);

/// Threads the ssh pump uses (1 once any session exists, else 0).
int ssh_pump_threads() noexcept;

} // namespace mitosis::bootstrap
