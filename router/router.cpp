// The routing: streams in and out of the table, sending and forwarding,
// the checks on every frame read (framing done by the stream; source,
// types, routing rights here) and dead replies. Violations, route
// announcements and id grants are in check.cpp; the threads that move the
// bytes in router_io.cpp.
#include "router.hpp"

#include <cstring>
#include <spdlog/spdlog.h>
#include <sys/wait.h>

#include "../serialization/log.hpp"
#include "../serialization/messages.hpp"
#include "logger.hpp"

namespace mitosis::router {

using serialization::frame;
using serialization::frame_header;
using serialization::wire_type;

stream_id router::add_stream(unique_fd rfd, unique_fd wfd, stream_options opts) {
  set_nonblocking(rfd.get());
  if (wfd.get() >= 0)
    set_nonblocking(wfd.get());
  opts.max_frame = opts_.max_frame;
  opts.max_queued = opts_.max_queued_bytes;
  const auto peer = opts.peer_id;
  const bool is_parent = opts.is_parent;
  stream_id id;
  {
    std::unique_lock<std::shared_mutex> guard{mtx_};
    id = is_parent ? parent_stream : next_stream_++;
  }
  auto s = std::make_shared<stream>(id, std::move(rfd), std::move(wfd), std::move(opts));
  // Register with epoll before the stream can be found: a send that
  // queues bytes must find the fd there when it asks for EPOLLOUT. Events
  // that come before it is published are reported again (level-triggered).
  watch_fds(*s);
  std::unique_lock<std::shared_mutex> guard{mtx_};
  streams_.emplace(id, s);
  if (!is_parent) {
    // We allocated the id: it is granted to this stream, so no other
    // stream can have announced it.
    table_.grant(peer, 1, id);
    table_.add(peer, id);
  }
  return id;
}

std::shared_ptr<stream> router::find_stream(stream_id s) const {
  std::shared_lock<std::shared_mutex> guard{mtx_};
  auto i = streams_.find(s);
  return i == streams_.end() ? nullptr : i->second;
}

errc router::send(context_id dst, serialization::outgoing&& wire) {
  if (wire.size() - frame_header::size > opts_.max_frame)
    return errc::frame_too_large;
  return send_routed(dst, std::move(wire));
}

errc router::send_frames(context_id dst, const char* frames, std::size_t n) {
  serialization::outgoing wire;
  wire.blob = frames;
  wire.blob_len = n;
  wire.may_wait = false;
  return send_routed(dst, std::move(wire));
}

errc router::send_routed(context_id dst, serialization::outgoing&& wire) {
  std::shared_ptr<stream> s;
  {
    std::shared_lock<std::shared_mutex> guard{mtx_};
    auto r = table_.lookup(dst);
    if (r.kind == route::unroutable)
      return errc::no_route;
    if (r.kind == route::local) {
      guard.unlock();
      auto flat = std::move(wire).flatten();
      // One frame, or several back to back (send_frames).
      for (std::size_t off = 0; off + frame_header::size <= flat.size();) {
        auto hdr = serialization::decode_header(reinterpret_cast<const std::byte*>(flat.data() + off));
        auto body = flat.begin() + static_cast<std::ptrdiff_t>(off + frame_header::size);
        off += frame_header::size + hdr.length;
        dispatch(frame{hdr, serialization::buffer(body, body + hdr.length)},
                 policy::direction::from_parent, 0);
      }
      return errc::none;
    }
    auto i = streams_.find(r.via);
    if (i == streams_.end())
      return errc::context_lost;
    s = i->second;
  }
  return send_via(*s, std::move(wire));
}

errc router::send_via(stream& s, serialization::outgoing&& wire) {
  switch (s.send(std::move(wire))) {
    case stream::send_result::closed:
      close_stream(s.id(), "write failed");
      return errc::context_lost;
    case stream::send_result::overflow: {
      // The parent (trusted, and our only way up) is waited for: the frame
      // is refused and the sender told. A child that does not read is cut.
      if (s.options().is_parent)
        return errc::limit_exceeded;
      auto why = "cut: the peer does not read: " + std::to_string(s.queued_bytes())
                 + " bytes queued for it, over max_queued_bytes ("
                 + std::to_string(opts_.max_queued_bytes) + ")";
      s.cut(why);
      close_stream(s.id(), std::move(why));
      return errc::context_lost;
    }
    case stream::send_result::queued_first: {
      auto id = s.id();
      post([this, id] {
        if (auto st = find_stream(id))
          watch(*st, true);
      });
      return errc::none;
    }
    default:
      return errc::none;
  }
}

std::uint64_t router::queued_bytes(stream_id id) const {
  auto s = find_stream(id);
  return s ? s->queued_bytes() : 0;
}

bool router::send_on(stream_id id, serialization::outgoing&& wire) {
  auto s = find_stream(id);
  return s && send_via(*s, std::move(wire)) == errc::none;
}

void router::reply_dead(const frame_header& req, errc code, const std::string& reason) {
  auto* info = serialization::type_registry::find(req.type);
  if (req.reply_to == 0 || (info && info->is_reply)
      || (req.flags & serialization::frame_flags::no_reply))
    return;
  serialization::dead_info d{static_cast<std::uint8_t>(code),
                             reason + " (at context " + std::to_string(cfg_.self) + " '"
                               + cfg_.name + "')"};
  auto wire = serialization::frame_builder{serialization::make_header(
                                             wire_type::dead, req.src, cfg_.self,
                                             req.reply_to)}
                .add(d)
                .finish()
                ;
  send(req.src, std::move(wire));
}

void router::reply(const frame_header& req, wire_type t, serialization::buffer&& wire) {
  auto h = serialization::make_header(t, req.src, cfg_.self, req.reply_to);
  h.length = static_cast<std::uint32_t>(wire.size() - frame_header::size);
  serialization::encode(h, reinterpret_cast<std::byte*>(wire.data()));
  if (auto err = send(req.src, std::move(wire)); err == errc::frame_too_large)
    reply_dead(req, err, serialization::type_registry::name(serialization::to_u32(t)).data()
                           + std::string{" larger than the maximum frame size"});
}

void router::dispatch(frame&& f, policy::direction d, stream_id from) {
  if (auto* h = handlers_.find(f.hdr.type)) {
    // A handler runs on the thread that read the frame (the I/O thread or
    // a parked reader): what it throws must not unwind through the read
    // loop, which would leave the stream (and an ssh session) held.
    const auto hdr = f.hdr;
    try {
      (*h)(std::move(f), d, from);
    } catch (const std::exception& e) {
      lg()->error("[{}] handling {} from context {} failed: {}", cfg_.name,
                  serialization::type_registry::name(hdr.type), hdr.src, e.what());
      refuse(from, hdr, errc::protocol_error, std::string{"handler failed: "} + e.what());
    }
    return;
  }
  lg()->warn("[{}] unexpected {} frame from context {}", cfg_.name,
             serialization::type_registry::name(f.hdr.type), f.hdr.src);
  refuse(from, f.hdr, errc::protocol_error, "unexpected message type");
}

void router::close_stream(stream_id s, std::string reason) {
  post([this, s, reason = std::move(reason)] { drop(s, reason); });
}

void router::set_rules(std::shared_ptr<const policy::rules> r) {
  rules_.store(std::move(r));
}

std::shared_ptr<const policy::rules> router::rules() const {
  return rules_.load();
}

std::vector<context_id> router::known_contexts() const {
  std::vector<context_id> out;
  std::shared_lock<std::shared_mutex> guard{mtx_};
  for (auto& [id, s] : streams_)
    if (!s->options().is_parent)
      out.push_back(s->options().peer_id);
  return out;
}

std::vector<stream_id> router::child_streams() const {
  std::vector<stream_id> out;
  std::shared_lock<std::shared_mutex> guard{mtx_};
  for (auto& [id, s] : streams_)
    if (!s->options().is_parent)
      out.push_back(id);
  return out;
}

std::optional<stream_options> router::stream_info(stream_id id) const {
  if (auto s = find_stream(id))
    return s->options();
  return std::nullopt;
}

void router::announce_route(context_id id, const std::string& name, bool add) {
  if (!cfg_.has_parent)
    return;
  auto wire = serialization::frame_builder{serialization::make_header(
                                             add ? wire_type::route_add : wire_type::route_del,
                                             cfg_.parent_id, cfg_.self)}
                .add(serialization::route_info{id, name})
                .finish();
  send_on(parent_stream, std::move(wire));
}

std::optional<stream_id> router::next_hop(context_id dst) const {
  std::shared_lock<std::shared_mutex> guard{mtx_};
  auto r = table_.lookup(dst);
  if (r.kind == route::stream || r.kind == route::parent)
    return r.via;
  return std::nullopt;
}

void router::drop(stream_id sid, const std::string& reason) {
  std::shared_ptr<stream> s;
  std::vector<context_id> lost;
  {
    std::unique_lock<std::shared_mutex> guard{mtx_};
    auto i = streams_.find(sid);
    if (i == streams_.end())
      return;
    s = i->second;
    streams_.erase(i);
    lost = table_.drop_stream(sid);
  }
  s->close();
  unwatch_fds(*s);
  const auto& o = s->options();
  if (o.pid > 0)
    ::waitpid(o.pid, nullptr, WNOHANG); // usually dead already: no zombie until shutdown
  auto full_reason = "context '" + o.peer_name + "' (id " + std::to_string(o.peer_id)
                     + ") lost: " + reason;
  emit({static_cast<std::uint8_t>(event_kind::stream_lost), o.peer_id, sid, o.peer_name,
        full_reason});
  if (o.is_parent) {
    lg()->debug("[{}] parent stream lost: {}", cfg_.name, reason);
    out_.parent_lost(reason);
    return;
  }
  if (!s->handshaken())
    out_.handshake_done(sid, o.peer_id, reason.empty() ? "stream closed before hello" : reason);
  if (reason.rfind("malformed", 0) == 0 || reason.rfind("cut:", 0) == 0)
    lg()->error("[{}] cut stream to '{}' (context {}): {}", cfg_.name, o.peer_name, o.peer_id,
                reason);
  else
    lg()->debug("[{}] stream to '{}' (context {}) closed: {}", cfg_.name, o.peer_name,
                o.peer_id, reason);
  forget_violations(lost);
  out_.lost(lost, full_reason);
  for (auto id : lost) {
    emit({static_cast<std::uint8_t>(event_kind::route_lost), id, sid,
          id == o.peer_id ? o.peer_name : std::string{}, full_reason});
    announce_route(id, {}, false);
  }
}

void router::on_handshake(stream& s, const std::string& error) {
  if (error.empty()) {
    const auto& o = s.options();
    emit({static_cast<std::uint8_t>(event_kind::hello), o.peer_id, s.id(), o.peer_name, {}});
    emit({static_cast<std::uint8_t>(event_kind::route_added), o.peer_id, s.id(), o.peer_name, {}});
  }
  out_.handshake_done(s.id(), s.options().peer_id, error);
}

void router::on_frame(stream& s, frame&& f) {
  const auto& h = f.hdr;
  const auto frame_bytes = frame_header::size + f.payload.size();
  counts_.frames_in.fetch_add(1, std::memory_order_relaxed);
  counts_.bytes_in.fetch_add(frame_bytes, std::memory_order_relaxed);
  s.traffic().frames_in.fetch_add(1, std::memory_order_relaxed);
  s.traffic().bytes_in.fetch_add(frame_bytes, std::memory_order_relaxed);
  // One hop only, and already counted as life by the stream: nothing else
  // to do (not forwarded, not given to a service, not subject to the type
  // rules, which could otherwise starve a stream of its liveness).
  if (h.type == serialization::to_u32(wire_type::heartbeat))
    return;
  const bool from_parent = s.options().is_parent;
  const auto dir = from_parent ? policy::direction::from_parent : policy::direction::from_child;
  auto* info = serialization::type_registry::find(h.type);
  if (!info) {
    violation(s, errc::unknown_type, h, "type id " + std::to_string(h.type));
    return;
  }
  if (opts_.trace_frames) [[unlikely]]
    trace(s, h, info->name, frame_bytes);
  route r;
  {
    std::shared_lock<std::shared_mutex> guard{mtx_};
    if (!table_.source_ok(h.src, s.id())) {
      // A context cut off here (check.cpp): its frames are dropped, and not
      // held against the stream that may still relay them in good faith.
      const bool cut_off = table_.isolated(h.src, s.id());
      guard.unlock();
      if (!cut_off)
        violation(s, errc::source_mismatch, h, "src " + std::to_string(h.src));
      return;
    }
    r = table_.lookup(h.dst);
  }
  switch (r.kind) {
    case route::local: {
      auto pol = rules_.load();
      if (!pol->allows_type(dir, h.src, s.options().peer_id, h.type)) {
        violation(s, errc::type_not_allowed, h,
                  std::string{info->name} + " from " + policy::to_string(dir));
        return;
      }
      if (info->id == wire_type::route_add || info->id == wire_type::route_del) {
        on_route_frame(s, std::move(f), info->id == wire_type::route_add);
        return;
      }
      dispatch(std::move(f), dir, s.id());
      return;
    }
    case route::stream:
      if (r.via == s.id()) {
        refuse(s, h, errc::no_route, "destination " + std::to_string(h.dst) + " is not reachable");
        return;
      }
      if (!from_parent && !rules_.load()->sibling_routing) {
        // Child-to-child traffic through us needs a routing right.
        violation(s, errc::routing_not_allowed, h, "to context " + std::to_string(h.dst));
        return;
      }
      if (from_parent && h.type == serialization::to_u32(wire_type::id_grant)
          && h.src == master_id)
        record_grant(f, r.via);
      break;
    case route::parent:
      if (from_parent) {
        refuse(s, h, errc::no_route, "no route to context " + std::to_string(h.dst));
        return;
      }
      break;
    case route::unroutable:
      refuse(s, h, errc::no_route, "no route to context " + std::to_string(h.dst));
      return;
  }
  // What a child sends on through us is held to the types we would accept
  // from it ourselves (its own rights and its neighbour's): the hop nearest
  // to the sender refuses it and charges it (check.cpp).
  if (!from_parent && !rules_.load()->allows_type(dir, h.src, s.options().peer_id, h.type)) {
    violation(s, errc::type_not_allowed, h,
              std::string{info->name} + " from child, to be forwarded to context "
                + std::to_string(h.dst));
    return;
  }
  // Forward unchanged: re-encode the header in front of the payload.
  serialization::buffer wire(frame_header::size + f.payload.size());
  serialization::encode(h, reinterpret_cast<std::byte*>(wire.data()));
  // (An empty payload's data() may be null, which memcpy must not get;
  // found by fuzz_router.)
  if (!f.payload.empty())
    std::memcpy(wire.data() + frame_header::size, f.payload.data(), f.payload.size());
  if (auto err = send(h.dst, std::move(wire)); err != errc::none) {
    refuse(s, h, err, "forwarding to context " + std::to_string(h.dst) + " failed");
    return;
  }
  counts_.frames_routed.fetch_add(1, std::memory_order_relaxed);
  counts_.bytes_routed.fetch_add(frame_bytes, std::memory_order_relaxed);
}

} // namespace mitosis::router
