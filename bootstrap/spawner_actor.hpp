// The spawner actor: every new child of this process starts here, by any
// connection method (local ones on its own thread, stage-1 ones on a
// detached worker each).
#pragma once

#include <caf/fwd.hpp>

#include "../router/fwd.hpp"
#include "interfaces.hpp"


namespace mitosis::bootstrap {

/// Spawns the spawner as a detached actor (its own thread, kept for the life
/// of the process) registering new streams with `r`; `r` must outlive it.
spawner_actor spawn_spawner_actor(caf::actor_system& sys, router::router& r);

} // namespace mitosis::bootstrap
