// Actor ids that are capabilities (actor_ids.cpp).
#pragma once

namespace caf {
class actor_system;
}

namespace mitosis::actors {

/// Returns whether the actors of `sys` got their ids from mitosis's
/// caf::actor_system::next_actor_id() (random, not countable) rather than
/// CAF's counter: false when the program was linked so that libcaf_core's
/// own definition wins (a static CAF, -Bsymbolic).
bool actor_ids_unguessable(const caf::actor_system& sys);

} // namespace mitosis::actors
