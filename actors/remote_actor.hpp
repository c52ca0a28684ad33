// Remote actors, as a user sees them: MITOSIS_ACTOR registers an actor type
// in every copy of the program, and context::spawn starts one in a context
// and returns a CAF handle to it (send, request, monitor work on it as on a
// local actor; docs/architecture.md, "Remote actors (first slice)").
#pragma once

#include <set>
#include <string>
#include <utility>

#include <caf/actor_cast.hpp>
#include <caf/actor_system.hpp>
#include <caf/make_message.hpp>

#include "actor_registry.hpp"
#include "context.hpp"

namespace mitosis {

namespace detail {

/// Spawns actor type `type` in context `dst` (named `context`); throws what
/// context::spawn documents.
caf::strong_actor_ptr spawn_actor(actors::runtime& rt, router::context_id dst,
                                  const std::string& context, const std::string& type,
                                  const caf::message& args,
                                  const std::set<std::string>& interface);

/// The actor system of the process `rt` runs in.
caf::actor_system& system_of(actors::runtime& rt);

} // namespace detail

template <class Handle, class... Ts>
Handle context::spawn(const std::string& type, Ts&&... args) const {
  auto& sys = detail::system_of(*rt_);
  return caf::actor_cast<Handle>(detail::spawn_actor(*rt_, id_, name_, type,
                                                     caf::make_message(std::forward<Ts>(args)...),
                                                     sys.message_types<Handle>()));
}

} // namespace mitosis
