// The policy actor of a process: the single writer of the rule snapshot.
#pragma once

#include <caf/fwd.hpp>

#include "interfaces.hpp"
#include "rules.hpp"

#include <functional>
#include <memory>

namespace mitosis::policy {

/// Where the policy actor publishes each new snapshot (the router's
/// set_rules); called from the actor, so it must be thread-safe.
using publish_fn = std::function<void(std::shared_ptr<const rules>)>;

/// Publishes `initial` (on the calling thread), then spawns the policy actor.
policy_actor spawn_policy_actor(caf::actor_system& sys, publish_fn publish, rules initial);

} // namespace mitosis::policy
