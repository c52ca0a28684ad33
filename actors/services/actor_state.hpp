// The shared state of the actor service (private to actors/services/): what
// the service, its proxies and the exit hooks of exported actors share, and
// the encoding of CAF messages and errors for the wire.
#pragma once

#include "actor_outbox.hpp"
#include "inline_unit.hpp"
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

#include "../actor_ids.hpp"
#include "../actor_registry.hpp"
#include "../message_codec.hpp"
#include "../../serialization/plain_codec.hpp"


namespace mitosis::actors::services {

using serialization::frame;
using serialization::wire_type;


// Every context's CAF node id is (a fixed process id, a host id made of a
// fixed prefix and the context id), so a node id names its context without
// a table (docs/architecture.md, "Remote actors"). The context id is not
// the process id: CAF takes a node id with process id 0 (the master's
// context id) for none, and omits it when it serialises a handle.
using host_id = caf::node_id::default_data::host_id_type;
constexpr std::uint32_t mitosis_process = 0x6d697473; // "mits"
constexpr std::size_t prefix_size = std::tuple_size_v<host_id> - sizeof(router::context_id);

constexpr host_id host_prefix = {'m', 'i', 't', 'o', 's', 'i', 's', '-',
                                  'c', 'o', 'n', 't', 'e', 'x', 't', '-'};

inline caf::node_id node_of(router::context_id ctx) {
  // Made once per thread and context in a row: this runs per message.
  thread_local caf::node_id last;
  thread_local router::context_id last_ctx = 0;
  if (last && last_ctx == ctx)
    return last;
  host_id h = host_prefix;
  std::memcpy(h.data() + prefix_size, &ctx, sizeof(ctx));
  last = caf::make_node_id(mitosis_process, h);
  last_ctx = ctx;
  return last;
}

inline std::string render(const std::set<std::string>& xs) {
  std::string out = "{";
  for (const auto& x : xs)
    out += (out.size() > 1 ? ", " : "") + x;
  return out + "}";
}

/// Answers the request `mid` of `requester` with the error `e`, from `from`.
inline void answer(const caf::strong_actor_ptr& requester, caf::message_id mid, caf::error e,
            caf::strong_actor_ptr from = nullptr, caf::execution_unit* host = nullptr) {
  requester->enqueue(caf::make_mailbox_element(std::move(from), mid.response_id(), {},
                                               caf::make_message(std::move(e))),
                     host);
}



class remote_proxy;

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
    std::uint32_t handle = 0; // the frame's reply_to: a dead reply for it fails the request
  };
  /// (requester, response id).
  using request_key = std::pair<caf::actor_id, std::uint64_t>;

  core& core_;
  caf::actor_system& sys;
  caf::proxy_registry proxies;

  std::mutex mtx;
  // Local actors other contexts know, and which contexts.
  std::unordered_map<caf::actor_id, std::set<router::context_id>> exported;
  // Local actors spawned for other contexts: stopped at shutdown. Each with
  // the token that counts it against its child stream's max_spawned_actors
  // (core::admit_spawned; none when the parent or this process spawned it).
  std::map<caf::actor_id, std::shared_ptr<void>> spawned;
  std::map<request_key, request> requests;
  // Reply handles of the requests above (a refusal on the way answers dead).
  std::unordered_map<std::uint32_t, request_key> by_handle;
  // Actors spawned here, tied to their spawner: (context, its actor; 0 =
  // the context itself) -> our actors. Each gets an exit when that actor
  // exits or that context is lost.
  std::map<std::pair<router::context_id, caf::actor_id>, std::set<caf::actor_id>> ties;
  // Exits of remote actors read before their proxy was made.
  std::map<std::pair<router::context_id, caf::actor_id>, caf::error> tombstones;
  // Contexts we made proxies for.
  std::set<router::context_id> proxy_contexts;
  // Links made in other contexts between their actors and their proxies of
  // ours: (context, its actor) -> our actors. Only the loss of that context
  // is acted on here (an exit travels as the exit_msg of the link itself).
  std::map<std::pair<router::context_id, caf::actor_id>, std::set<caf::actor_id>> links;
  bool stopped = false;
  // Loads a plugin module by name (actor_service::set_module_loader).
  std::function<expected<void>(const std::string&)> load_module;
  // Where every actor frame leaves (set by actor_service's constructor).
  std::shared_ptr<actor_outbox> outbox;
  // Runs actors woken by a parked pool worker's reads on the pool.
  std::unique_ptr<pool_unit> pool_host;
  // Proxies made dead (their actor's exit or their context's loss was read
  // first) that the proxy registry still holds: make_proxy runs under the
  // registry's lock, so they are taken out afterwards (sweep()).
  std::vector<std::pair<caf::node_id, caf::actor_id>> made_dead;
  std::atomic<bool> has_made_dead{false};
  // Names this system's registrations for save_message's header cache.
  const std::uint64_t codec_key = new_codec_key();

  state(core& c, caf::actor_system& s) : core_(c), sys(s), proxies(s, *this) {}

  // -- proxy_registry::backend -------------------------------------------------

  caf::strong_actor_ptr make_proxy(caf::node_id nid, caf::actor_id aid) override;
  void set_last_hop(caf::node_id*) override {}

  /// Takes the proxies made dead out of the registry, so that a proxy made
  /// after its actor's exit does not stay there for the context's lifetime.
  void sweep() {
    if (!has_made_dead.load(std::memory_order_acquire))
      return;
    std::vector<std::pair<caf::node_id, caf::actor_id>> xs;
    {
      std::lock_guard<std::mutex> guard{mtx};
      xs.swap(made_dead);
      has_made_dead = false;
    }
    for (auto& [nid, aid] : xs)
      proxies.erase(nid, aid); // already killed: only drops the entry
  }

  // -- encoding ----------------------------------------------------------------

  template <class F>
  auto with_unit(F f) {
    caf::scoped_execution_unit unit{&sys};
    unit.proxy_registry_ptr(&proxies);
    return f(&unit);
  }

  // The bodies of this section and of "frames" are in actor_encoding.cpp.

  /// Appends `x` in CAF's binary format to `buf`.
  expected<void> encode_append(const caf::type_erased_tuple& x, std::vector<char>& buf);

  expected<std::vector<char>> encode(const caf::type_erased_tuple& x);

  /// The message in CAF's binary format at `p, n`.
  expected<caf::message> decode(const char* p, std::size_t n);

  expected<caf::message> decode(const std::vector<char>& bytes) {
    return decode(bytes.data(), bytes.size());
  }

  /// The mailbox element of the content `p, n` (counted while `token` is
  /// set): built straight from the bytes for the element types of
  /// message_codec.hpp, else from decode()'s message.
  expected<caf::mailbox_element_ptr> decode_element(const char* p, std::size_t n,
                                                    caf::message_id mid,
                                                    std::shared_ptr<void> token);

  std::vector<char> encode_error(const caf::error& e);

  /// An exit reason read back; `unknown` when the bytes do not hold one.
  caf::error decode_error(const std::vector<char>& bytes);

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
  /// elements of `x` (caf::actor, actor_addr, strong_actor_ptr, or the
  /// typed handle of a registered actor type; handles nested in another
  /// value are not seen).
  void export_handles(const caf::type_erased_tuple& x, router::context_id to) {
    for (std::size_t i = 0; i < x.size(); ++i) {
      caf::strong_actor_ptr h;
      if (auto rtti = x.type(i); rtti.first == 0 && rtti.second)
        h = actor_registry::instance().handle_in(*rtti.second, x.get(i));
      else if (x.match_element<caf::actor>(i))
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
      spawned.erase(aid); // and its token: the count falls
      // Its requests still waiting (it gave up on them): nobody to answer.
      for (auto i = requests.lower_bound({aid, 0}); i != requests.lower_bound({aid + 1, 0});)
        i = erase_request(i);
      for (auto i = links.begin(); i != links.end();)
        i = i->second.erase(aid) && i->second.empty() ? links.erase(i) : std::next(i);
      for (auto i = ties.begin(); i != ties.end();)
        i = i->second.erase(aid) && i->second.empty() ? ties.erase(i) : std::next(i);
      quiet = stopped;
    }
    // The downs first, the registry last: a message for it read meanwhile
    // still finds it (dead, so CAF bounces what it was asked), instead of
    // an unknown id that would be answered with a down of reason unknown
    // ahead of the real one.
    if (!quiet)
      for (auto ctx : to)
        send_down(ctx, aid, reason);
    sys.registry().erase(aid);
  }

  // -- requests through proxies ------------------------------------------------

  /// Forgets the request at `i` and its reply handle (mtx held).
  std::map<request_key, request>::iterator erase_request(std::map<request_key, request>::iterator i) {
    by_handle.erase(i->second.handle);
    return requests.erase(i);
  }

  std::optional<request> take_request(const request_key& k) {
    std::lock_guard<std::mutex> guard{mtx};
    auto i = requests.find(k);
    if (i == requests.end())
      return std::nullopt;
    auto r = std::move(i->second);
    erase_request(i);
    return r;
  }

  std::vector<request> take_requests_to(router::context_id ctx, caf::actor_id to) {
    std::vector<request> out;
    std::lock_guard<std::mutex> guard{mtx};
    for (auto i = requests.begin(); i != requests.end();) {
      if (i->second.ctx == ctx && i->second.to == to) {
        out.push_back(i->second);
        i = erase_request(i);
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

  /// Answers every request still waiting on an actor of `ctx` with
  /// context_lost: frames for it could not leave (`err`).
  void unroutable(router::context_id ctx, errc err) {
    std::vector<request> out;
    {
      std::lock_guard<std::mutex> guard{mtx};
      for (auto i = requests.begin(); i != requests.end();) {
        if (i->second.ctx == ctx) {
          out.push_back(i->second);
          i = erase_request(i);
        } else {
          ++i;
        }
      }
    }
    for (auto& r : out)
      answer(r.requester, r.mid,
             make_error(err == errc::no_route ? errc::context_lost : err,
                        "an actor of " + core_.name_of(ctx)));
  }

  /// Sends what a local actor sent to the proxy `p`, from the execution
  /// unit `host` (defined in actor_proxy.cpp).
  void forward(remote_proxy& p, caf::mailbox_element& e, caf::execution_unit* host);

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

  // actor_message travels in the plain codec (protocol.md), not a Boost
  // archive (each of which builds a std::locale): it is the hot frame, so
  // it is written straight into one scratch buffer and read in place.

  /// The fixed fields of an actor_message, and where its content is.
  struct message_head {
    std::uint64_t dst = 0;
    std::uint32_t sender_ctx = 0;
    std::uint64_t sender = 0;
    std::uint64_t mid = 0;
    const char* content = nullptr;
    std::size_t size = 0;
  };

  /// Appends the frame of `m` with the content `x` to `out`.
  expected<void> append_message(std::vector<char>& out, const serialization::frame_header& h,
                                const message_head& m, const caf::type_erased_tuple& x);

  /// Reads the fixed fields of an actor_message (the content stays in `f`).
  bool decode_or_warn(const frame& f, message_head& m);

  /// Tells context `to` that the local actor `aid` exited with `reason`.
  void send_down(router::context_id to, caf::actor_id aid, const caf::error& reason) {
    serialization::actor_down_info d{aid, encode_error(reason)};
    outbox->post(to,
                 serialization::frame_builder{
                   serialization::make_header(wire_type::actor_down, to, core_.self())}
                   .add(d)
                   .finish(),
                 nullptr);
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
    // links_pending turns false only once every queued report is sent: a
    // sender that still sees it true waits on flush_mtx above, so its next
    // message cannot overtake a report being sent.
    for (;;) {
      std::vector<link_change> todo;
      {
        std::lock_guard<std::mutex> guard{link_mtx};
        if (link_changes.empty()) {
          links_pending = false;
          return;
        }
        todo.swap(link_changes);
      }
      for (auto& c : todo) {
        if (c.add)
          export_actor(c.local, c.ctx); // its exit must reach ctx to end the record there
        serialization::actor_link_info l{c.remote, c.local->id(), c.add};
        outbox->post(c.ctx,
                     serialization::frame_builder{
                       serialization::make_header(wire_type::actor_link, c.ctx, core_.self())}
                       .add(l)
                       .finish(),
                     nullptr);
      }
    }
  }

  // -- rights and ties (actor_rights.cpp) --------------------------------------

  /// Returns whether `f` (an actor_spawn of type `type`, arriving from `d`
  /// on stream `from`) may spawn here; else refuses it (a violation,
  /// answered spawn_not_allowed, naming the type and this context).
  bool spawn_allowed(const frame& f, policy::direction d, router::stream_id from,
                     const std::string& type);

  /// Returns whether the actor message `m` from `f.hdr.src` (arriving from
  /// `d` on stream `from`) may be decoded: the element type names in its
  /// header are allowed by the policy. Else refuses it before decoding: a
  /// violation, answered message_not_allowed (a request; a refused
  /// response fails the request it answers here).
  bool message_allowed(const frame& f, policy::direction d, router::stream_id from,
                       const message_head& m);

  /// A dead reply nobody else waits for: when it answers a request sent
  /// through a proxy (refused on the way or at its destination), the
  /// requester gets its code as a caf::error of the mitosis category.
  void on_unclaimed_dead(frame&& f, router::stream_id from);

  /// Sends an exit with `reason` to the actors tied to the actor `owner` of
  /// context `ctx` (no owner: to any spawner of `ctx`, which is lost) and
  /// forgets those ties.
  void end_tied(router::context_id ctx, std::optional<caf::actor_id> owner,
                const caf::error& reason);

  /// The actor `owner` of context `ctx` exited with `reason`: the actors
  /// tied to it get an exit with spawner_exited.
  void owner_exited(router::context_id ctx, caf::actor_id owner, const caf::error& reason);

  void on_spawn(frame&& f, policy::direction d, router::stream_id from);
  void on_message(frame&& f, policy::direction d, router::stream_id from);
  void on_down(frame&& f);
  void on_link(frame&& f);
};

} // namespace mitosis::actors::services
