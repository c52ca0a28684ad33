#include "context_faces.hpp"

#include <caf/actor_system.hpp>
#include <caf/send.hpp>
#include <caf/typed_event_based_actor.hpp>

#include "router_face.hpp"
#include "../actor_registry.hpp"
#include "../../router/router.hpp"

namespace mitosis::actors::faces {

namespace {

context_actor::behavior_type context_behavior(context_actor::pointer self, router::router* r,
                                              router::router_actor ra, router::context_id id,
                                              std::string name) {
  return {
    [=](info_atom) -> std::tuple<std::uint32_t, std::string> { return {id, name}; },
    [=](router::stats_atom) -> caf::result<router::connection_stats> {
      if (id == r->config().self)
        return router::connection_stats{};
      auto hop = r->next_hop(id);
      auto c = hop ? r->connection(*hop) : std::nullopt;
      if (!c)
        return make_error(errc::context_lost, "no stream leads to context '" + name + "'");
      return *c;
    },
    [=](router::connection_atom) {
      return self->delegate(ra, router::connection_atom::value, id);
    },
  };
}

} // namespace

context_faces::context_faces(caf::actor_system& sys, router::router& r, router::router_actor ra,
                             services::core& c)
  : sys_(sys), router_(r), router_actor_(std::move(ra)), core_(c) {}

context_actor context_faces::of(router::context_id id, const std::string& name) {
  std::lock_guard<std::mutex> guard{mtx_};
  if (auto i = live_.find(id); i != live_.end())
    return i->second;
  if (auto i = ended_.find(id); i != ended_.end())
    return i->second;
  auto a = sys_.spawn(context_behavior, &router_, router_actor_, id, name);
  // The runtime records a loss in core before it calls lost(): either the
  // loss is seen here, or lost() finds the actor in live_.
  if (auto why = core_.lost_reason(id)) {
    send_exit(caf::actor_cast<caf::strong_actor_ptr>(a), make_error(errc::context_lost, *why));
    keep_ended(id, a);
    return a;
  }
  live_.emplace(id, a);
  return a;
}

void context_faces::lost(const std::vector<router::context_id>& ids, const std::string& reason) {
  std::lock_guard<std::mutex> guard{mtx_};
  for (auto id : ids)
    if (auto i = live_.find(id); i != live_.end()) {
      send_exit(caf::actor_cast<caf::strong_actor_ptr>(i->second),
                make_error(errc::context_lost, reason));
      auto a = std::move(i->second);
      live_.erase(i);
      keep_ended(id, std::move(a));
    }
}

void context_faces::keep_ended(router::context_id id, context_actor a) {
  if (!ended_.emplace(id, std::move(a)).second)
    return;
  ended_order_.push_back(id);
  if (ended_order_.size() > max_ended) {
    ended_.erase(ended_order_.front());
    ended_order_.pop_front();
  }
}

void context_faces::shutdown() {
  std::lock_guard<std::mutex> guard{mtx_};
  for (auto& [id, a] : live_)
    caf::anon_send_exit(a, caf::exit_reason::user_shutdown);
  live_.clear();
  ended_.clear();
  ended_order_.clear();
  router_actor_ = nullptr;
}

} // namespace mitosis::actors::faces
