// The child side of bootstrap: the agent's first exchange with its parent,
// done with plain blocking reads so that nothing is read past the boot frame.
#pragma once

#include <chrono>
#include <string>

#include "../serialization/expected.hpp"
#include "../serialization/messages.hpp"

namespace mitosis::bootstrap {

/// Returns whether this process was started as an agent.
bool is_agent_process() noexcept;

/// Arms PR_SET_PDEATHSIG when the parent pid is known, writes our hello to
/// `out_fd`, reads and checks the parent's hello and the boot frame from
/// `in_fd`, within `timeout`. Returns the boot frame, or why not.
expected<serialization::boot_info> read_boot(int in_fd, int out_fd,
                                             std::chrono::milliseconds timeout);

} // namespace mitosis::bootstrap
