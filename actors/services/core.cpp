#include "core.hpp"

#include <algorithm>

#include <spdlog/spdlog.h>

#include "../../serialization/log.hpp"

namespace mitosis::actors::services {

using serialization::frame;
using serialization::wire_type;

const std::shared_ptr<spdlog::logger>& lg() {
  static auto l = log::get("actors");
  return l;
}

core::core(router::router& r, pending_calls& p, dispatcher& pool)
  : router_(r), pending_(p), pool_(pool) {
  for (auto t : {wire_type::call_reply, wire_type::call_error, wire_type::dead, wire_type::id_grant,
                 wire_type::file_chunk, wire_type::module_data, wire_type::spawn_reply,
                 wire_type::actor_spawned, wire_type::stats_reply,
                 wire_type::file_pushed})
    router_.handlers().add(t, [this](frame&& f, policy::direction, router::stream_id from) {
      on_reply(std::move(f), from);
    });
}

void core::on_reply(frame&& f, router::stream_id from) {
  auto handle = f.hdr.handle;
  if (f.hdr.type == serialization::to_u32(wire_type::dead) && from != 0) {
    // Any hop on the way may answer dead, but only a hop on the way.
    auto dst = pending_.destination(handle);
    if (dst && f.hdr.src != *dst && !on_path(*dst, f.hdr.src, from)) {
      lg()->warn("[{}] ignored a dead reply for handle {} from context {}: not on the path to "
                 "context {}",
                 name(), handle, f.hdr.src, *dst);
      return;
    }
  }
  const bool dead = f.hdr.type == serialization::to_u32(wire_type::dead);
  std::optional<router::context_id> lost;
  if (dead)
    f = lost_if_unroutable(std::move(f), lost);
  if (pending_.complete(handle, std::move(f))) {
    if (lost) // known lost from now on, before its route_del comes up
      mark_lost({*lost}, "context '" + name_of(*lost) + "' (id " + std::to_string(*lost)
                           + ") is gone from its parent's routes");
    return;
  }
  if (dead && unclaimed_dead_)
    unclaimed_dead_(std::move(f), from); // complete() leaves f alone when nobody waits
  else
    lg()->debug("[{}] reply for handle {} nobody waits for", name(), handle);
}

frame core::lost_if_unroutable(frame&& f, std::optional<router::context_id>& lost) {
  // A context we started it through has no route to a context started
  // from here, or could not write to it: it was lost there, and its loss
  // has not reached us yet (route_del goes up behind this reply).
  // Only from a hop it was started through: a context beside it on the
  // way cannot make us take it for lost.
  auto dst = pending_.destination(f.hdr.handle);
  if (!dst || !knows(*dst) || !started_through(*dst, f.hdr.src))
    return std::move(f);
  serialization::dead_info d;
  try {
    serialization::decode_exact(f.payload.data(), f.payload.size(), d);
  } catch (const serialization::decode_error&) {
    return std::move(f);
  }
  if (static_cast<errc>(d.code) == errc::context_lost) {
    lost = *dst; // the hop's write to it failed
    return std::move(f);
  }
  if (static_cast<errc>(d.code) != errc::no_route)
    return std::move(f);
  auto out = make_dead(errc::context_lost, "context '" + name_of(*dst) + "' (id "
                                              + std::to_string(*dst)
                                              + ") is gone from its parent's routes: lost ("
                                              + d.reason + ")");
  auto length = out.hdr.length;
  out.hdr = f.hdr; // who answered, and for which request
  out.hdr.length = length;
  lost = *dst;
  return out;
}

std::future<frame> core::request(router::context_id dst, std::uint32_t handle,
                                 serialization::outgoing&& wire) {
  auto fut = pending_.expect(handle, dst);
  if (auto reason = lost_reason(dst)) {
    pending_.complete(handle, make_dead(errc::context_lost, *reason));
    return fut;
  }
  if (auto err = router_.send(dst, std::move(wire)); err != errc::none) {
    // A context we knew has no route any more: it is lost, though the loss
    // may not be recorded yet (the route goes first), so say so.
    if (auto reason = lost_reason(dst); reason || (knows(dst) && err == errc::no_route))
      pending_.complete(handle, make_dead(errc::context_lost,
                                          reason ? *reason
                                                 : "context '" + name_of(dst) + "' (id "
                                                     + std::to_string(dst) + ") has no route: lost"));
    else if (err == errc::limit_exceeded)
      pending_.complete(handle, make_dead(err, "the stream toward context '" + name_of(dst)
                                                 + "' holds more than max_queued_bytes that "
                                                   "its peer has not read"));
    else
      pending_.complete(handle, make_dead(err, std::string{to_string(err)} + " (context "
                                                 + std::to_string(dst) + ")"));
  }
  return fut;
}

void core::read_for(router::context_id dst, std::future<frame>& answer,
                    clock::time_point until) {
  auto ready = [&answer] {
    return answer.wait_for(std::chrono::seconds{0}) == std::future_status::ready;
  };
  if (ready() || router::router::on_io_thread())
    return;
  if (auto hop = router_.next_hop(dst))
    router_.read_when_free(*hop, ready, -1, until);
}

expected<frame> core::await_answer(sent_request r, router::context_id dst, wire_type t,
                                   wire_type answer, clock::time_point deadline) {
  auto& fut = r.answer;
  read_for(dst, fut, deadline); // as a call does
  if (fut.wait_until(deadline) != std::future_status::ready) {
    pending_.forget(r.handle);
    return fail(errc::timeout, "no answer to " + std::string{serialization::type_registry::name(
                                                   serialization::to_u32(t))}
                                 + " from " + name_of(dst) + " in time");
  }
  auto f = fut.get();
  if (f.hdr.type == serialization::to_u32(answer))
    return f;
  if (f.hdr.type == serialization::to_u32(wire_type::dead)) {
    serialization::dead_info d;
    try {
      serialization::decode_exact(f.payload.data(), f.payload.size(), d);
    } catch (const serialization::decode_error& e) {
      return fail(e.code(), "undecodable dead reply from " + name_of(dst) + ": " + e.what());
    }
    return fail(static_cast<errc>(d.code), std::move(d.reason));
  }
  return fail(errc::protocol_error,
              "unexpected " + std::string{serialization::type_registry::name(f.hdr.type)}
                + " answer from " + name_of(dst));
}

bool core::on_pool(const serialization::frame_header& req, std::function<void()> job) {
  if (pool_.submit(std::move(job)))
    return true;
  router_.reply_dead(req, errc::shutting_down, "context is shutting down");
  return false;
}

bool core::submit(std::function<void()> job) {
  return pool_.submit(std::move(job));
}

bool core::on_pool_bounded(const serialization::frame_header& req, router::stream_id from,
                           std::function<void()> job) {
  if (from == 0)
    return on_service_pool(req, std::move(job));
  // Counted on any stream, the parent's too (so "from a child" is passed).
  std::shared_ptr<void> token;
  if (!admit(pending_requests_, opts().max_pending_requests, req, from, true, token,
             "module and file requests from this stream are pending", "max_pending_requests",
             true))
    return false;
  // Let go when the job is gone, run or dropped.
  return on_service_pool(req, [token = std::move(token), job = std::move(job)] { job(); });
}

bool core::admit_call(const serialization::frame_header& req, router::stream_id from,
                      bool from_child, std::shared_ptr<void>& token) {
  return admit(pending_calls_, opts().max_pending_calls, req, from, from_child, token,
               "calls and spawns from this stream are queued or running",
               "max_pending_calls", true);
}

bool core::admit_message(const serialization::frame_header& req, router::stream_id from,
                         bool from_child, std::shared_ptr<void>& token) {
  return admit(pending_messages_, opts().max_pending_actor_messages, req, from, from_child,
               token, "actor messages from this stream wait in mailboxes here",
               "max_pending_actor_messages", true);
}

bool core::admit_spawned(const serialization::frame_header& req, router::stream_id from,
                         bool from_child, std::shared_ptr<void>& token) {
  return admit(spawned_actors_, opts().max_spawned_actors, req, from, from_child, token,
               "actors spawned by this stream run here", "max_spawned_actors", false);
}

bool core::admit(const std::shared_ptr<pending_counts>& counts, std::uint32_t most,
                 const serialization::frame_header& req, router::stream_id from, bool from_child,
                 std::shared_ptr<void>& token, const char* what, const char* name,
                 bool held_bytes) {
  if (from == 0 || !from_child)
    return true;
  switch (held_bytes ? take(counts, from, most, token, pending_bytes_, req.length,
                            most_pending_bytes())
                     : take(counts, from, most, token)) {
  case over::none:
    return true;
  case over::count:
    router_.refuse(from, req, errc::limit_exceeded,
                   std::string{serialization::type_registry::name(req.type)} + " refused: "
                     + std::to_string(most) + " " + what + " (" + name + ")");
    return false;
  case over::bytes:
    refuse_bytes(req, from);
    return false;
  }
  return false;
}

std::uint64_t core::most_pending_bytes() const {
  return std::max<std::uint64_t>(opts().max_pending_bytes, opts().max_frame);
}

void core::refuse_bytes(const serialization::frame_header& req, router::stream_id from) {
  router_.refuse(from, req, errc::limit_exceeded,
                 std::string{serialization::type_registry::name(req.type)} + " refused: "
                   + std::to_string(req.length) + " more bytes would pass the "
                   + std::to_string(most_pending_bytes())
                   + " bytes of calls, actor messages and requests from this stream held here "
                     "(max_pending_bytes)");
}

core::over core::take(const std::shared_ptr<pending_counts>& counts, router::stream_id from,
                      std::uint32_t most, std::shared_ptr<void>& token,
                      const std::shared_ptr<pending_counts>& held, std::uint64_t bytes,
                      std::uint64_t most_bytes) {
  {
    std::lock_guard<std::mutex> guard{counts->mtx};
    auto& n = counts->by_stream[from];
    if (n >= most)
      return over::count;
    if (held) {
      // Taken in this order only (counts, then held), never the other way.
      std::lock_guard<std::mutex> bytes_guard{held->mtx};
      auto& b = held->by_stream[from];
      if (b + bytes > most_bytes) {
        if (b == 0)
          held->by_stream.erase(from);
        if (n == 0)
          counts->by_stream.erase(from);
        return over::bytes;
      }
      b += bytes;
    }
    ++n;
  }
  // Made outside the locks: should the control block's allocation throw,
  // the deleter runs at once and takes the locks itself.
  token = std::shared_ptr<void>(counts.get(), [counts, held, from, bytes](pending_counts*) {
    const auto give_back = [from](pending_counts& c, std::uint64_t k) {
      std::lock_guard<std::mutex> guard{c.mtx};
      if (auto i = c.by_stream.find(from); i != c.by_stream.end() && (i->second -= k) == 0)
        c.by_stream.erase(i);
    };
    give_back(*counts, 1);
    if (held)
      give_back(*held, bytes);
  });
  return over::none;
}

bool core::on_service_pool(const serialization::frame_header& req, std::function<void()> job) {
  dispatcher* pool = nullptr;
  {
    std::lock_guard<std::mutex> guard{service_mtx_};
    if (!service_stopped_) {
      if (!service_pool_)
        service_pool_ = std::make_unique<dispatcher>(service_threads);
      pool = service_pool_.get();
    }
  }
  if (pool && pool->submit(std::move(job)))
    return true;
  router_.reply_dead(req, errc::shutting_down, "context is shutting down");
  return false;
}

void core::stop_service_pool() {
  dispatcher* pool = nullptr;
  {
    std::lock_guard<std::mutex> guard{service_mtx_};
    service_stopped_ = true;
    pool = service_pool_.get();
  }
  // Joins the workers (their jobs use services this one outlives); the pool
  // itself stays, refusing jobs, until this object goes.
  if (pool)
    pool->stop();
}

void core::remember(router::context_id id, const std::string& name, const std::string& chain,
                    std::optional<router::context_id> via) {
  std::lock_guard<std::mutex> guard{mtx_};
  names_[id] = name;
  if (!chain.empty())
    chains_[id] = chain;
  if (via)
    vias_[id] = *via;
}

bool core::started_through(router::context_id id, router::context_id hop) const {
  std::lock_guard<std::mutex> guard{mtx_};
  for (auto i = vias_.find(id); i != vias_.end(); i = vias_.find(i->second))
    if (i->second == hop)
      return true;
  return false;
}

std::string core::name_of(router::context_id id) const {
  if (id == self())
    return name();
  std::lock_guard<std::mutex> guard{mtx_};
  auto i = names_.find(id);
  return i == names_.end() ? "context " + std::to_string(id) : i->second;
}

std::string core::chain_of(router::context_id id, const std::string& fallback) const {
  std::lock_guard<std::mutex> guard{mtx_};
  auto i = chains_.find(id);
  return i == chains_.end() ? fallback : i->second;
}

bool core::on_path(router::context_id dst, router::context_id src, router::stream_id from) const {
  {
    std::lock_guard<std::mutex> guard{mtx_};
    // Started from here: the hops on its path are the contexts it was
    // started through, all known here, up to a child of ours.
    for (auto id = dst; names_.count(id) != 0;) {
      auto i = vias_.find(id);
      if (i == vias_.end())
        return false; // a child of ours: the whole path was walked
      if (i->second == src)
        return true;
      id = i->second; // not known here: started through a context from elsewhere
    }
  }
  // Else only its first hop is known: the reply must come in on the stream
  // the request went out on.
  return router_.next_hop(dst) == from;
}

bool core::knows(router::context_id id) const {
  std::lock_guard<std::mutex> guard{mtx_};
  return names_.count(id) != 0;
}

std::optional<std::string> core::lost_reason(router::context_id id) const {
  std::lock_guard<std::mutex> guard{mtx_};
  auto i = lost_.find(id);
  if (i == lost_.end())
    return std::nullopt;
  return i->second;
}

void core::mark_lost(const std::vector<router::context_id>& ids, const std::string& reason) {
  std::vector<std::pair<loss_callback, std::string>> due;
  std::string why = reason;
  {
    std::lock_guard<std::mutex> guard{mtx_};
    for (auto id : ids) {
      auto said = reason;
      if (auto e = expected_.find(id); e != expected_.end()) {
        said = std::move(e->second);
        expected_.erase(e);
        if (ids.size() == 1)
          why = said;
      }
      if (!lost_.emplace(id, said).second)
        continue; // recorded once; its callbacks have run
      lost_order_.push_back(id);
      if (lost_order_.size() > max_lost_records) {
        auto old = lost_order_.front();
        lost_order_.pop_front();
        lost_.erase(old);
        names_.erase(old);
        chains_.erase(old);
        vias_.erase(old);
      }
      auto [b, e] = on_lost_.equal_range(id);
      for (auto i = b; i != e; ++i)
        due.emplace_back(std::move(i->second), said);
      on_lost_.erase(b, e);
    }
  }
  pending_.fail(ids, why);
  for (auto& f : loss_listeners_)
    f(ids, why);
  for (auto& [fn, said] : due)
    fn(said);
}

void core::lose_all(const std::string& reason) {
  std::vector<router::context_id> ids;
  {
    std::lock_guard<std::mutex> guard{mtx_};
    for (auto& [id, name] : names_)
      if (!lost_.count(id))
        ids.push_back(id);
  }
  if (!ids.empty())
    mark_lost(ids, reason);
}

void core::expect_loss(router::context_id id, const std::string& reason) {
  std::lock_guard<std::mutex> guard{mtx_};
  if (!lost_.count(id))
    expected_[id] = reason;
}

void core::on_lost(router::context_id id, loss_callback fn) {
  std::string reason;
  {
    std::lock_guard<std::mutex> guard{mtx_};
    auto i = lost_.find(id);
    if (i == lost_.end()) {
      on_lost_.emplace(id, std::move(fn));
      return;
    }
    reason = i->second;
  }
  fn(reason);
}

} // namespace mitosis::actors::services
