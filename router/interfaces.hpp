// Typed actor handles and atoms of the router's actor faces: the router
// actor (one per process) and a connection actor per stream. Events reach
// them through mailboxes; frames never do (docs/architecture.md, "Actor
// faces").
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include <caf/atom.hpp>
#include <caf/fwd.hpp>
#include <caf/replies_to.hpp>

#include "events.hpp"
#include "fwd.hpp"

namespace mitosis::router {

using subscribe_atom = caf::atom_constant<caf::atom("subscribe")>;
using unsubscribe_atom = caf::atom_constant<caf::atom("unsubscrib")>;
using routes_atom = caf::atom_constant<caf::atom("routes")>;
using stats_atom = caf::atom_constant<caf::atom("stats")>;
using connection_atom = caf::atom_constant<caf::atom("connection")>;
using state_atom = caf::atom_constant<caf::atom("state")>;
using close_atom = caf::atom_constant<caf::atom("close")>;

/// One stream (to a direct child, or to the parent). It quits with
/// `make_error(errc::context_lost, why)` when the stream drops, so a
/// monitor gets one down_msg and a link one exit_msg.
/// - stats: its counters (frames and bytes each way, violations);
/// - state: "handshaking", "open" or "closing";
/// - close: closes the stream (its contexts are reported lost); true when
///   the stream still existed.
using connection_actor
  = caf::typed_actor<caf::replies_to<stats_atom>::with<connection_stats>,
                     caf::replies_to<state_atom>::with<std::string>,
                     caf::replies_to<close_atom>::with<bool>>;

/// The router of a process.
/// - subscribe / unsubscribe: the sender gets (or stops getting) every
///   route_event as a message from this actor; subscribers that exit are
///   dropped;
/// - routes: a snapshot of the routing table;
/// - stats: the router's counters;
/// - connection, id: the connection actor of the stream `id` lives
///   behind; an error (context_lost, no_route) when there is none;
/// - route_event: posted by the router itself (through its event hook).
using router_actor
  = caf::typed_actor<caf::replies_to<subscribe_atom>::with<bool>,
                     caf::replies_to<unsubscribe_atom>::with<bool>,
                     caf::replies_to<routes_atom>::with<std::vector<route_entry>>,
                     caf::replies_to<stats_atom>::with<router_stats>,
                     caf::replies_to<connection_atom, context_id>::with<connection_actor>,
                     caf::reacts_to<route_event>>;

} // namespace mitosis::router
