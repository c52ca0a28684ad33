// The policy actor of a process: the single writer of the rule snapshot.
#pragma once

#include <caf/fwd.hpp>

#include "mitosis/policy/interfaces.hpp"
#include "mitosis/policy/rules.hpp"

namespace mitosis::router {
class router;
} // namespace mitosis::router

namespace mitosis::policy {

/// Spawns the policy actor, publishing `initial` to `r` at once.
policy_actor spawn_policy_actor(caf::actor_system& sys, router::router& r, rules initial);

} // namespace mitosis::policy
