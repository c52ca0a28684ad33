#include "core.hpp"

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
                 wire_type::actor_spawned})
    router_.handlers().add(t, [this](frame&& f, policy::direction, router::stream_id from) {
      on_reply(std::move(f), from);
    });
}

void core::on_reply(frame&& f, router::stream_id from) {
  auto handle = f.hdr.handle;
  if (f.hdr.type == serialization::to_u32(wire_type::dead) && from != 0) {
    // Any hop on the way may answer dead, but only a hop on the way: a dead
    // reply must come in on the stream the request went out on.
    auto dst = pending_.destination(handle);
    if (dst && f.hdr.src != *dst && router_.next_hop(*dst) != from) {
      lg()->warn("[{}] ignored a dead reply for handle {} from context {}: not on the path to "
                 "context {}",
                 name(), handle, f.hdr.src, *dst);
      return;
    }
  }
  const bool dead = f.hdr.type == serialization::to_u32(wire_type::dead);
  if (pending_.complete(handle, std::move(f)))
    return;
  if (dead && unclaimed_dead_)
    unclaimed_dead_(std::move(f), from); // complete() leaves f alone when nobody waits
  else
    lg()->debug("[{}] reply for handle {} nobody waits for", name(), handle);
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
    else
      pending_.complete(handle, make_dead(err, std::string{to_string(err)} + " (context "
                                                 + std::to_string(dst) + ")"));
  }
  return fut;
}

expected<frame> core::await_answer(sent_request r, router::context_id dst, wire_type t,
                                   wire_type answer, clock::time_point deadline) {
  auto& fut = r.answer;
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

void core::remember(router::context_id id, const std::string& name, const std::string& chain) {
  std::lock_guard<std::mutex> guard{mtx_};
  names_[id] = name;
  if (!chain.empty())
    chains_[id] = chain;
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
      auto [b, e] = on_lost_.equal_range(id);
      for (auto i = b; i != e; ++i)
        due.emplace_back(std::move(i->second), said);
      on_lost_.erase(b, e);
    }
  }
  pending_.fail(ids, why);
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
