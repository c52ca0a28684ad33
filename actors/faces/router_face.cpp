#include "router_face.hpp"

#include <caf/actor_system.hpp>
#include <caf/exit_reason.hpp>
#include <caf/mailbox_element.hpp>
#include <caf/typed_event_based_actor.hpp>
#include <unordered_map>

#include "../actor_registry.hpp"
#include "../../router/router.hpp"

namespace mitosis::actors::faces {

using router::connection_actor;
using router::router_actor;

namespace {

connection_actor::behavior_type connection_behavior(connection_actor::pointer,
                                                    router::router* r, router::stream_id sid) {
  return {
    [=](router::stats_atom) -> caf::result<router::connection_stats> {
      if (auto c = r->connection(sid))
        return *c;
      return make_error(errc::context_lost, "stream " + std::to_string(sid) + " is closed");
    },
    [=](router::state_atom) -> std::string {
      auto c = r->connection(sid);
      if (!c || !c->open)
        return "closing";
      return c->handshaken ? "open" : "handshaking";
    },
    [=](router::close_atom) -> bool {
      if (!r->connection(sid))
        return false;
      r->close_stream(sid, "closed by its connection actor");
      return true;
    },
  };
}

struct router_state {
  std::vector<caf::strong_actor_ptr> subscribers;
  std::unordered_map<router::stream_id, connection_actor> connections;
  static inline const char* name = "mitosis.router";
};

router_actor::behavior_type router_behavior(router_actor::stateful_pointer<router_state> self,
                                            router::router* r) {
  // Subscribers that exit are dropped.
  self->set_down_handler([=](caf::down_msg& dm) {
    std::erase_if(self->state.subscribers,
                  [&](const caf::strong_actor_ptr& p) { return p && p->address() == dm.source; });
  });
  // Ending (at shutdown) ends every connection actor with the same reason.
  self->set_exit_handler([=](caf::exit_msg& m) {
    for (auto& [sid, c] : self->state.connections)
      send_exit(caf::actor_cast<caf::strong_actor_ptr>(c), m.reason);
    self->state.connections.clear();
    self->state.subscribers.clear();
    self->quit(m.reason);
  });
  return {
    [=](router::subscribe_atom) -> bool {
      auto who = self->current_sender();
      if (!who)
        return false;
      for (auto& p : self->state.subscribers)
        if (p == who)
          return true;
      self->monitor(who);
      self->state.subscribers.push_back(std::move(who));
      return true;
    },
    [=](router::unsubscribe_atom) -> bool {
      auto who = self->current_sender();
      auto n = std::erase(self->state.subscribers, who);
      if (n && who)
        self->demonitor(who->address());
      return n > 0;
    },
    [=](router::routes_atom) { return r->routes(); },
    [=](router::stats_atom) { return r->stats(); },
    [=](router::connection_atom, router::context_id id) -> caf::result<connection_actor> {
      auto hop = r->next_hop(id);
      if (!hop)
        return make_error(errc::no_route, "context " + std::to_string(id)
                                            + " is not behind any stream of context '"
                                            + r->config().name + "'");
      auto& conns = self->state.connections;
      if (auto i = conns.find(*hop); i != conns.end())
        return i->second;
      // Checked here, in the actor: a stream that exists now is dropped
      // later, and its stream_lost event then reaches this mailbox after
      // the connection actor is recorded.
      if (!r->connection(*hop))
        return make_error(errc::context_lost, "the stream to context " + std::to_string(id)
                                                + " is gone");
      auto c = self->spawn(connection_behavior, r, *hop);
      conns.emplace(*hop, c);
      return c;
    },
    [=](router::route_event& ev) {
      if (ev.what() == router::event_kind::stream_lost) {
        auto& conns = self->state.connections;
        if (auto i = conns.find(ev.stream); i != conns.end()) {
          send_exit(caf::actor_cast<caf::strong_actor_ptr>(i->second),
                    make_error(errc::context_lost, ev.reason));
          conns.erase(i);
        }
      }
      for (auto& p : self->state.subscribers)
        p->enqueue(self->ctrl(), caf::make_message_id(), caf::make_message(ev), self->context());
    },
  };
}

} // namespace

void send_exit(const caf::strong_actor_ptr& to, caf::error reason) {
  if (to)
    to->enqueue(nullptr, caf::make_message_id(),
                caf::make_message(caf::exit_msg{to->address(), std::move(reason)}), nullptr);
}

router_actor spawn_router_actor(caf::actor_system& sys, router::router& r) {
  return sys.spawn(router_behavior, &r);
}

} // namespace mitosis::actors::faces
