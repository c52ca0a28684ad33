// Typed actor handles and atoms of the bootstrap subsystem.
#pragma once

#include <cstdint>
#include <string>
#include <tuple>
#include <vector>

#include <caf/atom.hpp>
#include <caf/replies_to.hpp>
#include <caf/typed_actor.hpp>

namespace mitosis::bootstrap {

using spawn_atom = caf::atom_constant<caf::atom("spawn")>;

/// The spawner: starts local children from its own long-lived thread (so
/// PR_SET_PDEATHSIG stays armed) and registers their streams. Takes an
/// encoded boot_info and whether to use pipes (local_transport::pipes);
/// answers (stream id, pid, error text).
using spawner_actor = caf::typed_actor<caf::replies_to<spawn_atom, std::vector<char>, bool>::with<
  std::uint32_t, std::int32_t, std::string>>;

} // namespace mitosis::bootstrap
