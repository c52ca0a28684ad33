// The router actor of a process and its connection actors (the interfaces
// are in router/interfaces.hpp).
#pragma once

#include <caf/fwd.hpp>

#include "../../router/interfaces.hpp"

namespace mitosis::actors::faces {

/// Sends `to` an exit message with `reason` (caf::anon_send_exit takes only
/// an exit_reason; the faces end with a mitosis error).
void send_exit(const caf::strong_actor_ptr& to, caf::error reason);

/// Spawns the router actor of `r`. The runtime points the router's event
/// hook at it; `r` must outlive it.
router::router_actor spawn_router_actor(caf::actor_system& sys, router::router& r);

} // namespace mitosis::actors::faces
