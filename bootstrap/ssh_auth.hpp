// The ssh method's checks on a connected session: the host key against
// known_hosts (with the fingerprint for error messages) and user
// authentication. Private to bootstrap/ (it exposes libssh's types).
#pragma once

#include <chrono>
#include <string>

#include <libssh/libssh.h>

#include "method.hpp"

namespace mitosis::bootstrap::ssh_impl {

/// "host:port" of session `ss`, for messages.
std::string where(const ssh_settings& s, ssh_session ss);

/// "<key type> SHA256:..." of the server's host key.
std::string fingerprint(ssh_session s);

/// Checks the server's host key as `s.host_keys` says. Throws method_error
/// (host_key_rejected) naming host, port and fingerprint.
void check_host_key(const ssh_settings& s, ssh_session ss);

/// Gives the next blocking libssh call on `ss` what is left until
/// `deadline` as its timeout. Throws method_error (timeout, naming
/// host:port and `step`) when nothing is left.
void arm_timeout(const ssh_settings& s, ssh_session ss,
                 std::chrono::steady_clock::time_point deadline, const std::string& step);

/// Authenticates: identity file, ssh-agent, default keys, then password and
/// keyboard-interactive, each attempt (and each keyboard-interactive round)
/// bounded by what is left until `deadline`. Throws method_error
/// (auth_failed, naming what was tried; timeout once the deadline passed,
/// naming the attempt it cut; unreachable when the server fails during
/// auth).
void authenticate(const ssh_settings& s, ssh_session ss,
                  std::chrono::steady_clock::time_point deadline);

} // namespace mitosis::bootstrap::ssh_impl
