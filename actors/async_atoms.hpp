// The atom of context::spawn_async's request to the async spawner's helper.
#pragma once

#include <caf/atom.hpp>

namespace mitosis::actors {

/// (await_spawn_atom, id): answered with the outcome of async spawn `id`.
using await_spawn_atom = caf::atom_constant<caf::atom("mxspawait")>;

} // namespace mitosis::actors
