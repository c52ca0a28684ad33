// Remote actors, as a user sees them: MITOSIS_ACTOR registers an actor type
// in every copy of the program, and context::spawn starts one in a context
// and returns a CAF handle to it (send, request, monitor work on it as on a
// local actor; docs/architecture.md, "Remote actors (first slice)").
#pragma once

#include <set>
#include <string>
#include <utility>

#include <caf/actor_addr.hpp>
#include <caf/actor_cast.hpp>
#include <caf/actor_system.hpp>
#include <caf/make_message.hpp>

#include "actor_registry.hpp"
#include "context.hpp"

namespace mitosis {

/// How context::spawn ties the new actor's lifetime to its spawner (like
/// Akka's remote deployment): by default it gets an exit when the spawning
/// context is lost; with `owner`, also when that actor exits (with
/// errc::spawner_exited); `detached` ties it to nothing.
struct spawn_options {
  /// An actor of the spawning process (e.g. `self->address()`); none: the
  /// spawning context.
  caf::actor_addr owner{};
  bool detached = false;
};

/// ctx.spawn<H>(mitosis::detached, "type", args...): an actor that outlives
/// its spawner.
inline const spawn_options detached{{}, true};

namespace detail {

/// Spawns actor type `type` in context `dst` (named `context`); throws what
/// context::spawn documents.
caf::strong_actor_ptr spawn_actor(actors::runtime& rt, router::context_id dst,
                                  const std::string& context, const std::string& type,
                                  const caf::message& args,
                                  const std::set<std::string>& interface,
                                  const spawn_options& opts);

/// The actor system of the process `rt` runs in.
caf::actor_system& system_of(actors::runtime& rt);

} // namespace detail

template <class Handle, class... Ts>
Handle context::spawn(const spawn_options& opts, const std::string& type, Ts&&... args) const {
  auto& sys = detail::system_of(*rt_);
  return caf::actor_cast<Handle>(detail::spawn_actor(*rt_, id_, name_, type,
                                                     caf::make_message(std::forward<Ts>(args)...),
                                                     sys.message_types<Handle>(), opts));
}

template <class Handle, class... Ts>
Handle context::spawn(const std::string& type, Ts&&... args) const {
  return spawn<Handle>(spawn_options{}, type, std::forward<Ts>(args)...);
}

} // namespace mitosis
