// The context actors of a process: one per context it knows, made on first
// use (context::actor()) and ended with context_lost when the context is.
#pragma once

#include <deque>
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
  /// Keeps the exited actor `a` of lost context `id`; the oldest beyond
  /// max_ended is dropped. Under mtx_.
  void keep_ended(router::context_id id, context_actor a);

  /// The actors of lost contexts (exited), so that each context keeps one:
  /// the last max_ended of them, oldest first in ended_order_ (as core
  /// keeps the last losses), so that a program that asks for the actors of
  /// contexts it starts and loses forever does not grow.
  std::unordered_map<router::context_id, context_actor> ended_;
  std::deque<router::context_id> ended_order_;
  static constexpr std::size_t max_ended = 1024;
};

} // namespace mitosis::actors::faces
