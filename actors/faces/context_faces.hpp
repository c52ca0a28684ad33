// The context actors of a process: one per context it knows, made on first
// use (context::actor()) and ended with context_lost when the context is.
#pragma once

#include <mutex>
#include <string>
#include <unordered_map>
#include <vector>

#include <caf/fwd.hpp>

#include "../interfaces.hpp"
#include "../services/core.hpp"

namespace mitosis::actors::faces {

class context_faces {
public:
  /// `ra` answers connection requests; `c` knows names and losses.
  context_faces(caf::actor_system& sys, router::router& r, router::router_actor ra,
                services::core& c);

  /// Returns the actor of context `id` (named `name`), made now if need be
  /// (already exited with context_lost if the context is lost); the same
  /// one every time.
  context_actor of(router::context_id id, const std::string& name);

  /// Ends the actors of `ids` with context_lost and `reason`.
  void lost(const std::vector<router::context_id>& ids, const std::string& reason);

  /// Ends every actor (user_shutdown) and drops them.
  void shutdown();

private:
  caf::actor_system& sys_;
  router::router& router_;
  router::router_actor router_actor_;
  services::core& core_;
  std::mutex mtx_;
  std::unordered_map<router::context_id, context_actor> live_;
  /// The actors of lost contexts (exited), so that each context keeps one.
  std::unordered_map<router::context_id, context_actor> ended_;
};

} // namespace mitosis::actors::faces
