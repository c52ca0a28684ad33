// Methods that start a local program which runs stage-1: sudo, su, doas,
// chroot, setns, docker/podman exec and a plain shell.
#pragma once

#include <functional>
#include <string>
#include <vector>

#include "transport.hpp"

namespace mitosis::bootstrap {

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
