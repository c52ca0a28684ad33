// Remote actors: spawns registered actor types (MITOSIS_ACTOR) for other
// contexts, moves CAF messages between contexts as actor_message frames,
// and gives every actor of another context one proxy here (a caf::actor
// that serialises what it is sent onto the router). An actor that exits is
// reported to every context that knows it (actor_down), and a lost context
// kills the proxies of its actors, so monitors get exactly one down_msg.
#pragma once

#include <memory>
#include <functional>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include <caf/fwd.hpp>

#include "core.hpp"

namespace mitosis::actors::services {

class actor_service {
public:
  /// Registers actor_spawn, actor_message, actor_down, actor_link and actor_lost
  /// (actor_spawned, a reply, completes its request through core).
  actor_service(core& c, caf::actor_system& sys);
  ~actor_service();

  actor_service(const actor_service&) = delete;
  actor_service& operator=(const actor_service&) = delete;

  /// Sets how an actor type of a plugin module ("module|type") that is not
  /// registered here gets loaded: `load(module)` (the module service's
  /// fetch from the parent, under the import policy).
  void set_module_loader(std::function<expected<void>(const std::string&)> load);

  /// The execution unit for the actors woken by frames that a parked pool
  /// worker reads (an agent's idle reader, under a `reading_scope`): they
  /// run on that worker when it unparks (inline_unit.hpp).
  caf::execution_unit* pool_host();

  /// Gives `sys` the CAF node id of context `self`: (self, a fixed mitosis
  /// host id). Call before any actor of `sys` is seen by another context.
  static void use_context_node_id(caf::actor_system& sys, router::context_id self);

  /// Returns the context a CAF node id names (the node of an actor handle),
  /// or nothing for a node id that is not a context's.
  static std::optional<router::context_id> context_of(const caf::node_id& nid);

  /// Spawns an actor of the registered type `type` in context `ctx` with
  /// the arguments `args`, checked against `interface` (the handle's
  /// message types; empty: any). Unless `detached`, the new actor is tied
  /// to `owner` (a local actor; none: this context): it gets an exit when
  /// the owner exits or this context is lost. Returns the proxy of the new
  /// actor.
  expected<caf::strong_actor_ptr> spawn(router::context_id ctx, const std::string& type,
                                        const caf::message& args,
                                        const std::set<std::string>& interface,
                                        const caf::strong_actor_ptr& owner, bool detached);

  /// Kills the proxies of the actors of `ids` (lost contexts): one down_msg
  /// per monitor, a context_lost error for each request still waiting; ends
  /// the actors tied to them; the master relays the loss down the tree.
  void lost(const std::vector<router::context_id>& ids, const std::string& reason);

  /// Returns the reply handles of the requests sent through proxies to
  /// actors of `ctx` and not answered yet.
  std::vector<std::uint32_t> waiting_on(router::context_id ctx) const;

  /// Kills every proxy, stops the actors spawned for other contexts and
  /// forgets the rest; call before the actor system is destroyed.
  void shutdown();

  struct state;

private:
  /// Sends actor_lost for `ids` to every direct child (the master for each
  /// loss it learns; every context for each one its parent reports).
  void relay_lost(const std::vector<router::context_id>& ids, const std::string& reason);

  std::shared_ptr<state> state_;
};

} // namespace mitosis::actors::services
