// The actor service: spawns for other contexts, the wire handlers of the
// actor types, and losses (see actor_service.hpp).
#include "actor_state.hpp"

namespace mitosis::actors::services {

// -- wire handlers --------------------------------------------------------------

void actor_service::state::on_spawn(frame&& f, policy::direction d, router::stream_id from) {
  auto& r = core_.routes();
  const auto& h = f.hdr;
  serialization::actor_spawn_info info;
  if (!core_.decode_or_refuse(f, info))
    return;
  // The arguments are still bytes: the rights are checked before CAF decodes them.
  if (!spawn_allowed(f, d, from, info.name))
    return;
  auto where = "in context '" + core_.name() + "'";
  auto* entry = actor_registry::instance().find(info.name);
  if (auto bar = info.name.find('|'); !entry && bar != std::string::npos && load_module) {
    // An actor type of a plugin module we lack: fetch the module from our
    // parent (import rights apply), as for a plugin function.
    if (auto loaded = load_module(info.name.substr(0, bar)); !loaded) {
      r.reply_dead(h, loaded.error().code,
                   "actor type '" + info.name + "' " + where + ": " + loaded.error().reason);
      return;
    }
    entry = actor_registry::instance().find(info.name.substr(bar + 1));
  }
  if (!entry) {
    r.reply_dead(h, errc::unknown_actor,
                 "actor type '" + info.name + "' is not registered " + where);
    return;
  }
  std::set<std::string> want{info.interface.begin(), info.interface.end()};
  if (!want.empty()) {
    auto have = entry->interface(sys);
    if (!sys.assignable(have, want)) {
      r.reply_dead(h, errc::actor_interface_mismatch,
                   "actor type '" + info.name + "' " + where + " implements "
                     + (have.empty() ? std::string{"a dynamic interface"} : render(have))
                     + ", the handle expects " + render(want));
      return;
    }
  }
  auto args = decode(info.args);
  if (!args) {
    r.reply_dead(h, errc::bad_actor_arguments,
                 "actor type '" + info.name + "' " + where + ": " + args.error().reason);
    return;
  }
  // What a child spawned here and still runs is bounded per child stream:
  // the token is kept with the actor, or let go however this ends.
  std::shared_ptr<void> running;
  if (!core_.admit_spawned(h, from, d == policy::direction::from_child, running))
    return;
  // Its first run (the behaviour's set-up) happens here, after the reply
  // left: no CAF worker has to be woken for it.
  inline_unit first_run{sys};
  auto a = entry->spawn(sys, *args, &first_run);
  if (!a) {
    r.reply_dead(h, errc::bad_actor_arguments,
                 "actor type '" + info.name + "' " + where + " takes other arguments than "
                   + caf::to_string(*args));
    return;
  }
  {
    std::lock_guard<std::mutex> guard{mtx};
    spawned.emplace(a->id(), std::move(running)); // local_exited lets it go
    if (!info.detached)
      ties[{h.src, static_cast<caf::actor_id>(info.owner)}].insert(a->id());
  }
  export_actor(a, h.src);
  // Its spawner may have gone while this spawn waited for the pool.
  if (auto gone = core_.lost_reason(h.src); gone && !info.detached)
    end_tied(h.src, std::nullopt, make_error(errc::context_lost, *gone));
  std::optional<caf::error> owner_gone;
  if (!info.detached && info.owner != 0) {
    std::lock_guard<std::mutex> guard{mtx};
    if (auto t = tombstones.find({h.src, static_cast<caf::actor_id>(info.owner)});
        t != tombstones.end())
      owner_gone = t->second;
  }
  if (owner_gone)
    owner_exited(h.src, static_cast<caf::actor_id>(info.owner), *owner_gone);
  serialization::buffer out(serialization::frame_header::size);
  serialization::encode_into(out, serialization::actor_spawned_info{a->id()});
  r.reply(h, wire_type::actor_spawned, std::move(out));
  first_run.run();
}

void actor_service::state::on_message(frame&& f, policy::direction d, router::stream_id from) {
  sweep(); // the proxies made dead by the last message's handles
  message_head m;
  if (!decode_or_warn(f, m) || !message_allowed(f, d, from, m))
    return;
  caf::message_id mid{m.mid};
  // Bounded before it is decoded; a response answers a request of ours.
  std::shared_ptr<void> held;
  if (!mid.is_response()
      && !core_.admit_message(f.hdr, from, d == policy::direction::from_child, held))
    return;
  caf::strong_actor_ptr sender;
  if (m.sender != 0)
    sender = m.sender_ctx == core_.self() ? sys.registry().get(m.sender)
                                          : proxies.get_or_put(node_of(m.sender_ctx), m.sender);
  auto element = decode_element(m.content, m.size, mid, std::move(held));
  if (!element) {
    lg()->warn("[{}] actor_message from context {} dropped: {}", core_.name(), f.hdr.src,
               element.error().reason);
    if (mid.is_request() && sender)
      answer(sender, mid, make_error(errc::protocol_error, element.error().reason));
    return;
  }
  // A response nobody waits for any more was failed already (its proxy was
  // killed): drop it, so that a requester sees exactly one response.
  if (mid.is_response() && !take_request({static_cast<caf::actor_id>(m.dst), m.mid}))
    return;
  auto dst = sys.registry().get(m.dst);
  if (!dst) {
    // Gone: bounce a request, and tell the sender's context again.
    if (mid.is_request() && sender)
      answer(sender, mid, caf::sec::request_receiver_down);
    send_down(f.hdr.src, static_cast<caf::actor_id>(m.dst), caf::exit_reason::unknown);
    return;
  }
  // Whoever sends to it knows it (an actor introduced by a third context):
  // its exit must reach them too.
  if (f.hdr.src != core_.self())
    export_actor(dst, f.hdr.src);
  // On a thread that reads for someone who runs actors (a parked pool
  // worker, a worker waiting for its reply), the actor runs there next.
  auto& rd = reading();
  (*element)->sender = std::move(sender);
  dst->enqueue(std::move(*element), rd.host);
  if (rd.active)
    ++rd.woken;
}

void actor_service::state::on_down(frame&& f) {
  sweep();
  serialization::actor_down_info d;
  if (!decode_or_warn(f, d))
    return;
  auto ctx = f.hdr.src;
  auto aid = static_cast<caf::actor_id>(d.actor);
  auto reason = decode_error(d.reason);
  {
    // If the proxy is made after this, it is made dead (make_proxy).
    std::lock_guard<std::mutex> guard{mtx};
    if (tombstones.size() >= 4096)
      tombstones.erase(tombstones.begin());
    tombstones[{ctx, aid}] = reason;
  }
  {
    std::lock_guard<std::mutex> guard{mtx};
    links.erase({ctx, aid});
  }
  auto nid = node_of(ctx);
  if (proxies.get(nid, aid)) {
    proxies.erase(nid, aid, reason);
    std::lock_guard<std::mutex> guard{mtx};
    tombstones.erase({ctx, aid});
  }
  owner_exited(ctx, aid, reason);
}

void actor_service::state::on_link(frame&& f) {
  serialization::actor_link_info l;
  if (!decode_or_warn(f, l))
    return;
  std::lock_guard<std::mutex> guard{mtx};
  auto key = std::make_pair(f.hdr.src, static_cast<caf::actor_id>(l.peer));
  auto known = exported.find(static_cast<caf::actor_id>(l.actor));
  if (l.add && (known == exported.end() || known->second.count(f.hdr.src) == 0)) {
    // Only a context that knows the actor links to it: a forged report for
    // another's actor must not let this context's loss end it.
    lg()->warn("[{}] ignored actor_link from context {} for actor {} it does not know",
               core_.name(), f.hdr.src, l.actor);
    return;
  }
  if (l.add) {
    links[key].insert(static_cast<caf::actor_id>(l.actor));
  } else if (auto i = links.find(key); i != links.end()) {
    i->second.erase(static_cast<caf::actor_id>(l.actor));
    if (i->second.empty())
      links.erase(i);
  }
}

// -- actor_service ---------------------------------------------------------------

actor_service::actor_service(core& c, caf::actor_system& sys)
  : state_(std::make_shared<state>(c, sys)) {
  state_->outbox = std::make_shared<actor_outbox>(
    c.routes(), [w = std::weak_ptr<state>{state_}](router::context_id ctx, errc err) {
      if (auto s = w.lock())
        s->unroutable(ctx, err);
    });
  state_->pool_host = std::make_unique<pool_unit>(
    sys, [&c](std::function<void()> job) { return c.submit(std::move(job)); });
  auto& h = c.routes().handlers();
  h.add(wire_type::actor_spawn, [this](frame&& f, policy::direction d, router::stream_id from) {
    auto hdr = f.hdr;
    // Queued on the call pool: a child's spawns count as its calls.
    std::shared_ptr<void> admitted;
    if (!state_->core_.admit_call(hdr, from, d == policy::direction::from_child, admitted))
      return;
    state_->core_.on_pool(hdr, [st = state_, f = std::move(f), d, from,
                                admitted = std::move(admitted)]() mutable {
      st->on_spawn(std::move(f), d, from);
    });
  });
  h.add(wire_type::actor_message,
        [this](frame&& f, policy::direction d, router::stream_id from) {
          state_->on_message(std::move(f), d, from);
        });
  h.add(wire_type::actor_lost, [this](frame&& f, policy::direction d, router::stream_id) {
    serialization::actor_lost_info l;
    if (d != policy::direction::from_parent || !state_->decode_or_warn(f, l))
      return;
    // Only contexts that do not live here or below: the parent speaks for
    // the rest of the tree, our own subtree reports its losses itself.
    std::vector<router::context_id> ids;
    for (auto id : l.ids)
      if (id != state_->core_.self() && state_->core_.routes().next_hop(id) == router::parent_stream)
        ids.push_back(id);
    if (ids.empty())
      return;
    state_->core_.mark_lost(ids, l.reason);
    lost(ids, l.reason);
    relay_lost(ids, l.reason);
  });
  c.on_unclaimed_dead([w = std::weak_ptr<state>{state_}](frame&& f, router::stream_id from) {
    if (auto st = w.lock())
      st->on_unclaimed_dead(std::move(f), from);
  });
  h.add(wire_type::actor_down, [this](frame&& f, policy::direction, router::stream_id) {
    state_->on_down(std::move(f));
  });
  h.add(wire_type::actor_link, [this](frame&& f, policy::direction, router::stream_id) {
    state_->on_link(std::move(f));
  });
}

void actor_service::set_module_loader(std::function<expected<void>(const std::string&)> load) {
  state_->load_module = std::move(load);
}

caf::execution_unit* actor_service::pool_host() {
  return state_->pool_host.get();
}

actor_service::~actor_service() {
  shutdown();
}

std::optional<router::context_id> actor_service::context_of(const caf::node_id& nid) {
  if (!nid || nid->implementation_id() != caf::node_id::default_data::class_id)
    return std::nullopt;
  const auto& d = static_cast<const caf::node_id::default_data&>(*nid);
  auto h = d.host_id();
  router::context_id ctx = 0;
  std::memcpy(&ctx, h.data() + prefix_size, sizeof(ctx));
  // Compared in place: node_of would allocate, and this runs per message.
  if (d.process_id() != mitosis_process
      || std::memcmp(h.data(), host_prefix.data(), prefix_size) != 0)
    return std::nullopt;
  return ctx;
}

void actor_service::use_context_node_id(caf::actor_system& sys, router::context_id self) {
  // actor_system::node() returns a reference to the system's own (non-const)
  // member; without the middleman nobody else sets it.
  const_cast<caf::node_id&>(sys.node()) = node_of(self);
}

expected<caf::strong_actor_ptr> actor_service::spawn(router::context_id ctx,
                                                     const std::string& type,
                                                     const caf::message& args,
                                                     const std::set<std::string>& interface,
                                                     const caf::strong_actor_ptr& owner,
                                                     bool detached) {
  auto& st = *state_;
  if (owner && owner->node() != st.sys.node())
    return fail(errc::bad_actor_arguments,
                "the owner of a spawned actor must be an actor of the spawning context");
  // An empty message has no content to look at.
  auto bytes = args.empty() ? expected<std::vector<char>>{std::vector<char>{}}
                            : st.encode(args.content());
  if (!bytes)
    return fail(errc::bad_actor_arguments, bytes.error().reason);
  if (!args.empty())
    st.export_handles(args.content(), ctx);
  if (owner && !detached)
    st.export_actor(owner, ctx); // its exit reaches ctx, which ends the actor
  serialization::actor_spawn_info info{type, std::move(*bytes),
                                       {interface.begin(), interface.end()},
                                       owner ? owner->id() : 0, detached};
  auto r = st.core_.ask<serialization::actor_spawned_info>(
    ctx, wire_type::actor_spawn, wire_type::actor_spawned, st.core_.request_deadline(), info);
  if (!r)
    return std::move(r).error();
  if (ctx == st.core_.self()) // spawned here: the actor itself, no proxy
    return st.sys.registry().get(static_cast<caf::actor_id>(r->actor));
  auto p = st.proxies.get_or_put(node_of(ctx), static_cast<caf::actor_id>(r->actor));
  st.sweep();
  if (!p)
    return fail(errc::protocol_error, "no proxy for actor " + std::to_string(r->actor));
  return p;
}

void actor_service::lost(const std::vector<router::context_id>& ids, const std::string& reason) {
  auto& st = *state_;
  // Links made in the lost contexts: (their actor, our actor).
  std::vector<std::pair<router::context_id, std::pair<caf::actor_id, caf::actor_id>>> broken;
  {
    std::lock_guard<std::mutex> guard{st.mtx};
    for (auto& [aid, knows] : st.exported)
      for (auto id : ids)
        knows.erase(id);
    for (auto id : ids) {
      st.proxy_contexts.erase(id);
      auto first = st.links.lower_bound({id, 0});
      auto last = id == UINT32_MAX ? st.links.end() : st.links.lower_bound({id + 1, 0});
      for (auto i = first; i != last; ++i)
        for (auto ours : i->second)
          broken.push_back({id, {i->first.second, ours}});
      st.links.erase(first, last);
    }
  }
  auto why = make_error(errc::context_lost, reason);
  for (auto id : ids) {
    auto nid = node_of(id);
    for (auto& p : st.proxies.get_all(nid))
      st.proxies.erase(nid, p->id(), why);
  }
  // The actors spawned here by them (or their actors) go with them.
  for (auto id : ids)
    st.end_tied(id, std::nullopt, why);
  // The master tells the tree: a context learns only the losses below it.
  if (!st.core_.routes().config().has_parent)
    relay_lost(ids, reason);
  // Each linked actor of ours gets the exit_msg the link would have sent.
  for (auto& [ctx, pair] : broken)
    if (auto ours = st.sys.registry().get(pair.second)) {
      auto theirs = st.proxies.get_or_put(node_of(ctx), pair.first); // made dead: ctx is lost
      ours->enqueue(caf::make_mailbox_element(nullptr, caf::make_message_id(), {},
                                              caf::exit_msg{caf::actor_cast<caf::actor_addr>(theirs),
                                                            why}),
                    nullptr);
    }
}

std::vector<std::uint32_t> actor_service::waiting_on(router::context_id ctx) const {
  std::vector<std::uint32_t> out;
  std::lock_guard<std::mutex> guard{state_->mtx};
  for (const auto& [key, r] : state_->requests)
    if (r.ctx == ctx)
      out.push_back(r.handle);
  return out;
}

void actor_service::relay_lost(const std::vector<router::context_id>& ids,
                               const std::string& reason) {
  auto& r = state_->core_.routes();
  serialization::actor_lost_info l{ids, reason};
  for (auto child : r.known_contexts())
    r.send(child, serialization::frame_builder{serialization::make_header(
                                                 wire_type::actor_lost, child, r.config().self)}
                    .add(l)
                    .finish());
}

void actor_service::shutdown() {
  auto& st = *state_;
  std::set<router::context_id> contexts;
  std::map<caf::actor_id, std::shared_ptr<void>> spawned;
  std::vector<caf::actor_id> exported;
  {
    std::lock_guard<std::mutex> guard{st.mtx};
    if (st.stopped)
      return;
    st.stopped = true;
    contexts = std::move(st.proxy_contexts);
    spawned = std::move(st.spawned);
    for (auto& [aid, knows] : st.exported)
      exported.push_back(aid);
    st.exported.clear();
    st.tombstones.clear();
  }
  auto why = make_error(errc::shutting_down, "context '" + st.core_.name() + "' is shutting down");
  for (auto id : contexts) {
    auto nid = node_of(id);
    for (auto& p : st.proxies.get_all(nid))
      st.proxies.erase(nid, p->id(), why);
  }
  st.proxies.clear();
  for (auto& [aid, running] : spawned)
    if (auto a = st.sys.registry().get(aid))
      caf::anon_send_exit(caf::actor_cast<caf::actor>(a), caf::exit_reason::user_shutdown);
  for (auto aid : exported)
    st.sys.registry().erase(aid);
}

} // namespace mitosis::actors::services
