// Actor ids that are capabilities (actor_ids.cpp).
#pragma once

#include <cstdint>

namespace caf {
class actor_system;
}

namespace mitosis::actors {

/// The largest actor id mitosis gives (actor_ids.cpp), and takes from
/// another context: CAF orders addresses by the difference of their ids,
/// which is right only below 2^62.
inline constexpr std::uint64_t max_actor_id = (std::uint64_t{1} << 62) - 1;

/// Returns whether the actors of `sys` got their ids from mitosis's
/// caf::actor_system::next_actor_id() (random, not countable) rather than
/// CAF's counter: false when the program was linked so that libcaf_core's
/// own definition wins (a static CAF, -Bsymbolic).
bool actor_ids_unguessable(const caf::actor_system& sys);

} // namespace mitosis::actors
