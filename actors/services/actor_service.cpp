#include "actor_service.hpp"

#include <atomic>
#include <cstring>
#include <tuple>
#include <map>
#include <mutex>
#include <optional>
#include <unordered_map>
#include <utility>

#include <caf/actor_config.hpp>
#include <caf/actor_proxy.hpp>
#include <caf/actor_system.hpp>
#include <caf/binary_deserializer.hpp>
#include <caf/binary_serializer.hpp>
#include <caf/exit_reason.hpp>
#include <caf/mailbox_element.hpp>
#include <caf/make_actor.hpp>
#include <caf/node_id.hpp>
#include <caf/proxy_registry.hpp>
#include <caf/scoped_execution_unit.hpp>
#include <caf/sec.hpp>
#include <caf/send.hpp>
#include <spdlog/spdlog.h>

#include "../actor_registry.hpp"

namespace mitosis::actors::services {

using serialization::frame;
using serialization::wire_type;

namespace {

// Every context's CAF node id is (a fixed process id, a host id made of a
// fixed prefix and the context id), so a node id names its context without
// a table (docs/architecture.md, "Remote actors"). The context id is not
// the process id: CAF takes a node id with process id 0 (the master's
// context id) for none, and omits it when it serialises a handle.
using host_id = caf::node_id::default_data::host_id_type;
constexpr std::uint32_t mitosis_process = 0x6d697473; // "mits"
constexpr std::size_t prefix_size = std::tuple_size_v<host_id> - sizeof(router::context_id);

caf::node_id node_of(router::context_id ctx) {
  host_id h = {'m', 'i', 't', 'o', 's', 'i', 's', '-', 'c', 'o', 'n', 't', 'e', 'x', 't', '-'};
  std::memcpy(h.data() + prefix_size, &ctx, sizeof(ctx));
  return caf::make_node_id(mitosis_process, h);
}

std::string render(const std::set<std::string>& xs) {
  std::string out = "{";
  for (const auto& x : xs)
    out += (out.size() > 1 ? ", " : "") + x;
  return out + "}";
}

/// Answers the request `mid` of `requester` with the error `e`, from `from`.
void answer(const caf::strong_actor_ptr& requester, caf::message_id mid, caf::error e,
            caf::strong_actor_ptr from = nullptr, caf::execution_unit* host = nullptr) {
  requester->enqueue(caf::make_mailbox_element(std::move(from), mid.response_id(), {},
                                               caf::make_message(std::move(e))),
                     host);
}

class remote_proxy;

} // namespace

/// What the service, its proxies and the exit hooks of exported actors
/// share. Lock order: the proxy registry's lock, then mtx.
struct actor_service::state final : caf::proxy_registry::backend,
                                    std::enable_shared_from_this<actor_service::state> {
  /// A request sent through a proxy by a local actor, not answered yet.
  struct request {
    caf::strong_actor_ptr requester;
    caf::message_id mid;
    router::context_id ctx;
    caf::actor_id to;
  };
  /// (requester, response id).
  using request_key = std::pair<caf::actor_id, std::uint64_t>;

  core& core_;
  caf::actor_system& sys;
  caf::proxy_registry proxies;

  std::mutex mtx;
  // Local actors other contexts know, and which contexts.
  std::unordered_map<caf::actor_id, std::set<router::context_id>> exported;
  // Local actors spawned for other contexts: stopped at shutdown.
  std::set<caf::actor_id> spawned;
  std::map<request_key, request> requests;
  // Exits of remote actors read before their proxy was made.
  std::map<std::pair<router::context_id, caf::actor_id>, caf::error> tombstones;
  // Contexts we made proxies for.
  std::set<router::context_id> proxy_contexts;
  // Links made in other contexts between their actors and their proxies of
  // ours: (context, its actor) -> our actors. Only the loss of that context
  // is acted on here (an exit travels as the exit_msg of the link itself).
  std::map<std::pair<router::context_id, caf::actor_id>, std::set<caf::actor_id>> links;
  bool stopped = false;

  state(core& c, caf::actor_system& s) : core_(c), sys(s), proxies(s, *this) {}

  // -- proxy_registry::backend -------------------------------------------------

  caf::strong_actor_ptr make_proxy(caf::node_id nid, caf::actor_id aid) override;
  void set_last_hop(caf::node_id*) override {}

  // -- encoding ----------------------------------------------------------------

  template <class F>
  auto with_unit(F f) {
    caf::scoped_execution_unit unit{&sys};
    unit.proxy_registry_ptr(&proxies);
    return f(&unit);
  }

  expected<std::vector<char>> encode(const caf::type_erased_tuple& x) {
    std::vector<char> buf;
    if (x.empty())
      return buf;
    auto err = with_unit([&](caf::execution_unit* u) {
      caf::binary_serializer sink{u, buf};
      return caf::message::save(sink, x);
    });
    if (err)
      return fail(errc::protocol_error, "cannot serialise the message: " + sys.render(err));
    if (buf.empty())
      return fail(errc::protocol_error,
                  "cannot serialise the message: a type in it is not registered with CAF");
    return buf;
  }

  expected<caf::message> decode(const std::vector<char>& bytes) {
    caf::message out;
    if (bytes.empty())
      return out;
    auto err = with_unit([&](caf::execution_unit* u) {
      caf::binary_deserializer src{u, bytes};
      return out.load(src);
    });
    if (err)
      return fail(errc::protocol_error, "cannot deserialise the message: " + sys.render(err));
    return out;
  }

  std::vector<char> encode_error(const caf::error& e) {
    std::vector<char> buf;
    with_unit([&](caf::execution_unit* u) {
      caf::binary_serializer sink{u, buf};
      auto copy = e;
      return sink(copy);
    });
    return buf;
  }

  caf::error decode_error(const std::vector<char>& bytes) {
    caf::error out;
    auto err = with_unit([&](caf::execution_unit* u) {
      caf::binary_deserializer src{u, bytes};
      return src(out);
    });
    return err ? caf::error{caf::exit_reason::unknown} : out;
  }

  // -- local actors other contexts know ----------------------------------------

  /// Records that context `to` knows the local actor `a`; the first time,
  /// makes it addressable by id and hooks its exit.
  void export_actor(const caf::strong_actor_ptr& a, router::context_id to) {
    bool first = false;
    {
      // Addressable before any other thread can send on its behalf.
      std::lock_guard<std::mutex> guard{mtx};
      auto [i, added] = exported.try_emplace(a->id());
      i->second.insert(to);
      first = added;
      if (first)
        sys.registry().put(a->id(), a);
    }
    if (!first)
      return;
    a->get()->attach_functor(
      [w = weak_from_this(), aid = a->id()](const caf::error& reason) {
        if (auto s = w.lock())
          s->local_exited(aid, reason);
      });
  }

  /// Records that context `to` knows the local actors whose handles are
  /// elements of `x` (caf::actor, actor_addr or strong_actor_ptr; handles
  /// nested deeper, or typed ones, are not seen).
  void export_handles(const caf::type_erased_tuple& x, router::context_id to) {
    for (std::size_t i = 0; i < x.size(); ++i) {
      caf::strong_actor_ptr h;
      if (x.match_element<caf::actor>(i))
        h = caf::actor_cast<caf::strong_actor_ptr>(x.get_as<caf::actor>(i));
      else if (x.match_element<caf::actor_addr>(i))
        h = caf::actor_cast<caf::strong_actor_ptr>(x.get_as<caf::actor_addr>(i));
      else if (x.match_element<caf::strong_actor_ptr>(i))
        h = x.get_as<caf::strong_actor_ptr>(i);
      if (h && h->node() == sys.node())
        export_actor(h, to);
    }
  }

  /// A local actor other contexts know has exited: tell each of them.
  void local_exited(caf::actor_id aid, const caf::error& reason) {
    std::set<router::context_id> to;
    bool quiet = false;
    {
      std::lock_guard<std::mutex> guard{mtx};
      if (auto i = exported.find(aid); i != exported.end()) {
        to = std::move(i->second);
        exported.erase(i);
      }
      spawned.erase(aid);
      // Its requests still waiting (it gave up on them): nobody to answer.
      requests.erase(requests.lower_bound({aid, 0}), requests.lower_bound({aid + 1, 0}));
      for (auto i = links.begin(); i != links.end();)
        i = i->second.erase(aid) && i->second.empty() ? links.erase(i) : std::next(i);
      quiet = stopped;
    }
    sys.registry().erase(aid);
    if (quiet || to.empty())
      return;
    for (auto ctx : to)
      send_down(ctx, aid, reason);
  }

  // -- requests through proxies ------------------------------------------------

  std::optional<request> take_request(const request_key& k) {
    std::lock_guard<std::mutex> guard{mtx};
    auto i = requests.find(k);
    if (i == requests.end())
      return std::nullopt;
    auto r = std::move(i->second);
    requests.erase(i);
    return r;
  }

  std::vector<request> take_requests_to(router::context_id ctx, caf::actor_id to) {
    std::vector<request> out;
    std::lock_guard<std::mutex> guard{mtx};
    for (auto i = requests.begin(); i != requests.end();) {
      if (i->second.ctx == ctx && i->second.to == to) {
        out.push_back(std::move(i->second));
        i = requests.erase(i);
      } else {
        ++i;
      }
    }
    return out;
  }

  /// Answers request `k` (if still waiting) with `e`, from `from`.
  void fail_request(const request_key& k, const caf::strong_actor_ptr& from, caf::error e) {
    if (auto r = take_request(k))
      answer(r->requester, r->mid, std::move(e), from);
  }

  /// Sends what a local actor sent to the proxy `p` (defined below).
  void forward(remote_proxy& p, caf::mailbox_element& e);

  // -- frames ------------------------------------------------------------------

  /// Decodes `f`'s payload into `x`, or logs why not and returns false
  /// (actor_message and actor_down get no dead reply).
  template <class T>
  bool decode_or_warn(const frame& f, T& x) {
    try {
      serialization::decode_exact(f.payload.data(), f.payload.size(), x);
      return true;
    } catch (const serialization::decode_error& e) {
      lg()->warn("[{}] undecodable {} from context {}: {}", core_.name(),
                 serialization::type_registry::name(f.hdr.type), f.hdr.src, e.what());
      return false;
    }
  }

  /// Tells context `to` that the local actor `aid` exited with `reason`.
  void send_down(router::context_id to, caf::actor_id aid, const caf::error& reason) {
    serialization::actor_down_info d{aid, encode_error(reason)};
    core_.routes().send(to, serialization::frame_builder{serialization::make_header(
                                                           wire_type::actor_down, to,
                                                           core_.self())}
                              .add(d)
                              .finish());
  }

  /// A link change between a local actor and one of our proxies, to report
  /// to the proxied actor's context.
  struct link_change {
    router::context_id ctx;
    caf::actor_id remote;
    caf::strong_actor_ptr local;
    bool add;
  };
  std::mutex link_mtx; // guards link_changes only: taken inside add_backlink
  std::vector<link_change> link_changes;
  std::atomic<bool> links_pending{false};
  std::mutex flush_mtx; // one flush at a time: reports leave in order

  /// The local actor `x` was linked to (or unlinked from) our proxy of
  /// actor `remote` of context `ctx`. Both actors are locked here: the
  /// report is queued, and sent by the pool or by the next message that
  /// leaves this process, whichever comes first (so it precedes anything
  /// the linked actor sends afterwards).
  void link_changed(router::context_id ctx, caf::actor_id remote, caf::strong_actor_ptr x,
                    bool add) {
    {
      std::lock_guard<std::mutex> guard{link_mtx};
      link_changes.push_back({ctx, remote, std::move(x), add});
      links_pending = true;
    }
    serialization::frame_header none; // no reply_to: nobody to answer when stopping
    core_.on_pool(none, [w = weak_from_this()] {
      if (auto s = w.lock())
        s->flush_links();
    });
  }

  /// Sends the queued link reports.
  void flush_links() {
    if (!links_pending.load())
      return;
    std::lock_guard<std::mutex> flushing{flush_mtx};
    std::vector<link_change> todo;
    {
      std::lock_guard<std::mutex> guard{link_mtx};
      todo.swap(link_changes);
      links_pending = false;
    }
    for (auto& c : todo) {
      if (c.add)
        export_actor(c.local, c.ctx); // its exit must reach ctx to end the record there
      serialization::actor_link_info l{c.remote, c.local->id(), c.add};
      core_.routes().send(c.ctx, serialization::frame_builder{serialization::make_header(
                                                                wire_type::actor_link, c.ctx,
                                                                core_.self())}
                                   .add(l)
                                   .finish());
    }
  }

  void on_spawn(frame&& f);
  void on_message(frame&& f);
  void on_down(frame&& f);
  void on_link(frame&& f);
};

namespace {

/// A local stand-in for an actor of another context. What it is sent goes
/// onto the router from the sender's thread; kill_proxy (exit or loss)
/// gives its monitors one down_msg each and fails the requests still
/// waiting on it.
class remote_proxy final : public caf::actor_proxy {
public:
  remote_proxy(caf::actor_config& cfg, std::weak_ptr<actor_service::state> st,
               router::context_id ctx)
    : caf::actor_proxy(cfg), st_(std::move(st)), ctx_(ctx) {}

  router::context_id ctx() const noexcept {
    return ctx_;
  }
  bool killed() const noexcept {
    return killed_.load();
  }
  void bounce_back(caf::mailbox_element_ptr& what) {
    bounce(what, caf::sec::request_receiver_down);
  }

  void enqueue(caf::mailbox_element_ptr what, caf::execution_unit*) override {
    auto st = st_.lock();
    if (!st || killed_.load()) {
      bounce_back(what);
      return;
    }
    st->forward(*this, *what);
  }

  bool add_backlink(caf::abstract_actor* x) override {
    return changed(caf::actor_proxy::add_backlink(x), x, true);
  }

  bool remove_backlink(caf::abstract_actor* x) override {
    return changed(caf::actor_proxy::remove_backlink(x), x, false);
  }

  void kill_proxy(caf::execution_unit* host, caf::error reason) override {
    caf::strong_actor_ptr guard{ctrl()};
    killed_ = true;
    std::vector<actor_service::state::request> orphans;
    if (auto st = st_.lock())
      orphans = st->take_requests_to(ctx_, id());
    cleanup(caf::error{reason}, host);
    for (auto& r : orphans)
      answer(r.requester, r.mid, reason, guard, host);
  }

private:
  bool changed(bool done, caf::abstract_actor* x, bool add) {
    if (done && !killed_.load())
      if (auto st = st_.lock())
        st->link_changed(ctx_, id(), caf::strong_actor_ptr{x->ctrl()}, add);
    return done;
  }

  std::weak_ptr<actor_service::state> st_;
  router::context_id ctx_;
  std::atomic<bool> killed_{false};
};

} // namespace

caf::strong_actor_ptr actor_service::state::make_proxy(caf::node_id nid, caf::actor_id aid) {
  auto ctx = context_of(nid);
  if (!ctx)
    return nullptr;
  caf::actor_config cfg;
  auto p = caf::make_actor<remote_proxy, caf::strong_actor_ptr>(aid, nid, &sys, cfg,
                                                                weak_from_this(), *ctx);
  caf::error dead_on_arrival;
  {
    std::lock_guard<std::mutex> guard{mtx};
    proxy_contexts.insert(*ctx);
    if (auto t = tombstones.find({*ctx, aid}); t != tombstones.end()) {
      dead_on_arrival = std::move(t->second);
      tombstones.erase(t);
    }
  }
  if (!dead_on_arrival)
    if (auto why = core_.lost_reason(*ctx))
      dead_on_arrival = make_error(errc::context_lost, *why);
  if (dead_on_arrival)
    static_cast<remote_proxy*>(p->get())->kill_proxy(nullptr, std::move(dead_on_arrival));
  return p;
}

void actor_service::state::forward(remote_proxy& p, caf::mailbox_element& e) {
  serialization::actor_message_info m;
  m.dst = p.id();
  m.mid = e.mid.integer_value();
  std::optional<request_key> waiting;
  if (e.sender) {
    if (auto sctx = context_of(e.sender->node())) {
      m.sender_ctx = *sctx;
      m.sender = e.sender->id();
    }
    if (m.sender != 0 && m.sender_ctx == core_.self()) {
      export_actor(e.sender, p.ctx());
      if (e.mid.is_request()) {
        waiting = request_key{e.sender->id(), e.mid.response_id().integer_value()};
        std::lock_guard<std::mutex> guard{mtx};
        requests[*waiting] = request{e.sender, e.mid, p.ctx(), p.id()};
      }
    }
  }
  caf::strong_actor_ptr self{p.ctrl()};
  flush_links();
  export_handles(e.content(), p.ctx());
  auto bytes = encode(e.content());
  if (!bytes) {
    lg()->warn("[{}] message to actor {} of {} dropped: {}", core_.name(), p.id(),
               core_.name_of(p.ctx()), bytes.error().reason);
    if (waiting)
      fail_request(*waiting, self, make_error(errc::protocol_error, bytes.error().reason));
    return;
  }
  m.content = std::move(*bytes);
  auto err = core_.routes().send(
    p.ctx(), serialization::frame_builder{serialization::make_header(wire_type::actor_message,
                                                                     p.ctx(), core_.self())}
               .add(m)
               .finish());
  if (!waiting)
    return;
  if (err != errc::none)
    fail_request(*waiting, self,
                 make_error(err == errc::no_route ? errc::context_lost : err,
                            "actor " + std::to_string(p.id()) + " of " + core_.name_of(p.ctx())));
  else if (p.killed()) // killed while we sent: kill_proxy may have missed it
    fail_request(*waiting, self, caf::sec::request_receiver_down);
}

void actor_service::state::on_spawn(frame&& f) {
  auto& r = core_.routes();
  const auto& h = f.hdr;
  serialization::actor_spawn_info info;
  if (!core_.decode_or_refuse(f, info))
    return;
  auto where = "in context '" + core_.name() + "'";
  auto* entry = actor_registry::instance().find(info.name);
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
  auto a = entry->spawn(sys, *args);
  if (!a) {
    r.reply_dead(h, errc::bad_actor_arguments,
                 "actor type '" + info.name + "' " + where + " takes other arguments than "
                   + caf::to_string(*args));
    return;
  }
  {
    std::lock_guard<std::mutex> guard{mtx};
    spawned.insert(a->id());
  }
  export_actor(a, h.src);
  serialization::buffer out(serialization::frame_header::size);
  serialization::encode_into(out, serialization::actor_spawned_info{a->id()});
  r.reply(h, wire_type::actor_spawned, std::move(out));
}

void actor_service::state::on_message(frame&& f) {
  serialization::actor_message_info m;
  if (!decode_or_warn(f, m))
    return;
  caf::strong_actor_ptr sender;
  if (m.sender != 0)
    sender = m.sender_ctx == core_.self() ? sys.registry().get(m.sender)
                                          : proxies.get_or_put(node_of(m.sender_ctx), m.sender);
  caf::message_id mid{m.mid};
  auto content = decode(m.content);
  if (!content) {
    lg()->warn("[{}] actor_message from context {} dropped: {}", core_.name(), f.hdr.src,
               content.error().reason);
    if (mid.is_request() && sender)
      answer(sender, mid, make_error(errc::protocol_error, content.error().reason));
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
  dst->enqueue(caf::make_mailbox_element(std::move(sender), mid, {}, std::move(*content)),
               nullptr);
}

void actor_service::state::on_down(frame&& f) {
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
}

void actor_service::state::on_link(frame&& f) {
  serialization::actor_link_info l;
  if (!decode_or_warn(f, l))
    return;
  std::lock_guard<std::mutex> guard{mtx};
  auto key = std::make_pair(f.hdr.src, static_cast<caf::actor_id>(l.peer));
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
  auto& h = c.routes().handlers();
  h.add(wire_type::actor_spawn, [this](frame&& f, policy::direction, router::stream_id) {
    auto hdr = f.hdr;
    state_->core_.on_pool(hdr, [st = state_, f = std::move(f)]() mutable {
      st->on_spawn(std::move(f));
    });
  });
  h.add(wire_type::actor_spawned, [this](frame&& f, policy::direction, router::stream_id) {
    state_->core_.pending().complete(f.hdr.handle, std::move(f));
  });
  h.add(wire_type::actor_message, [this](frame&& f, policy::direction, router::stream_id) {
    state_->on_message(std::move(f));
  });
  h.add(wire_type::actor_down, [this](frame&& f, policy::direction, router::stream_id) {
    state_->on_down(std::move(f));
  });
  h.add(wire_type::actor_link, [this](frame&& f, policy::direction, router::stream_id) {
    state_->on_link(std::move(f));
  });
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
  if (d.process_id() != mitosis_process || node_of(ctx) != nid)
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
                                                     const std::set<std::string>& interface) {
  auto& st = *state_;
  // An empty message has no content to look at.
  auto bytes = args.empty() ? expected<std::vector<char>>{std::vector<char>{}}
                            : st.encode(args.content());
  if (!bytes)
    return fail(errc::bad_actor_arguments, bytes.error().reason);
  if (!args.empty())
    st.export_handles(args.content(), ctx);
  serialization::actor_spawn_info info{type, std::move(*bytes),
                                       {interface.begin(), interface.end()}};
  auto r = st.core_.ask<serialization::actor_spawned_info>(
    ctx, wire_type::actor_spawn, wire_type::actor_spawned, st.core_.request_deadline(), info);
  if (!r)
    return std::move(r).error();
  if (ctx == st.core_.self()) // spawned here: the actor itself, no proxy
    return st.sys.registry().get(static_cast<caf::actor_id>(r->actor));
  auto p = st.proxies.get_or_put(node_of(ctx), static_cast<caf::actor_id>(r->actor));
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

void actor_service::shutdown() {
  auto& st = *state_;
  std::set<router::context_id> contexts;
  std::set<caf::actor_id> spawned;
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
  for (auto aid : spawned)
    if (auto a = st.sys.registry().get(aid))
      caf::anon_send_exit(caf::actor_cast<caf::actor>(a), caf::exit_reason::user_shutdown);
  for (auto aid : exported)
    st.sys.registry().erase(aid);
}

} // namespace mitosis::actors::services
