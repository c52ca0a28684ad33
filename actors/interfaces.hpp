// Typed actor handles and atoms of the user-facing runtime: the context
// actor, the face of one context this process knows (context::actor()).
#pragma once

#include <cstdint>
#include <string>

#include <caf/atom.hpp>
#include <caf/fwd.hpp>
#include <caf/replies_to.hpp>

#include "../router/interfaces.hpp"

namespace mitosis::actors {

using info_atom = caf::atom_constant<caf::atom("info")>;

/// A context this process knows (one actor per context and process). It
/// exits with `make_error(errc::context_lost, why)` (category "mitosis")
/// when the context is lost, so a monitor gets one down_msg and a link one
/// exit_msg; asked for after the loss, it is made already exited.
/// - info: (context id, name);
/// - stats: the counters of the stream the context lives behind (the next
///   hop; all zero for this process's own context);
/// - connection: the connection actor of that stream.
using context_actor
  = caf::typed_actor<caf::replies_to<info_atom>::with<std::uint32_t, std::string>,
                     caf::replies_to<router::stats_atom>::with<router::connection_stats>,
                     caf::replies_to<router::connection_atom>::with<router::connection_actor>>;

} // namespace mitosis::actors
