// What the router's actor faces read (router/interfaces.hpp): the event
// hook, counter snapshots and the table; and the frame trace
// (options::trace_frames). Nothing here is on the path of a frame but
// emit(), which runs only for hellos, route changes, violations and
// losses, and trace(), which runs only when tracing is on.
#include "router.hpp"

#include <spdlog/spdlog.h>

#include "../serialization/log.hpp"

namespace mitosis::router {

const char* to_string(event_kind k) noexcept {
  switch (k) {
    case event_kind::hello:
      return "hello";
    case event_kind::route_added:
      return "route_added";
    case event_kind::route_lost:
      return "route_lost";
    case event_kind::violation:
      return "violation";
    case event_kind::stream_lost:
      return "stream_lost";
  }
  return "unknown";
}

void router::set_event_hook(event_hook h) {
  std::shared_ptr<const event_hook> next;
  if (h)
    next = std::make_shared<const event_hook>(std::move(h));
  std::lock_guard<std::mutex> guard{hook_mtx_};
  hook_ = std::move(next);
}

void router::emit(route_event&& e) const {
  std::shared_ptr<const event_hook> h;
  {
    std::lock_guard<std::mutex> guard{hook_mtx_};
    h = hook_;
  }
  if (h)
    (*h)(std::move(e));
}

void router::trace(const stream& s, const serialization::frame_header& h, std::string_view type,
                   std::size_t bytes) const {
  // A log record is not traced: in an intermediate its trace line would go
  // up as one more record, doubling every line forwarded from below.
  if (h.type == serialization::to_u32(serialization::wire_type::log_record))
    return;
  static const auto tl = log::get("trace");
  if (!tl->should_log(spdlog::level::debug))
    return;
  std::string where = "here";
  {
    std::shared_lock<std::shared_mutex> guard{mtx_};
    auto r = table_.lookup(h.dst);
    if (r.kind == route::stream || r.kind == route::parent) {
      auto i = streams_.find(r.via);
      where = "to stream " + std::to_string(r.via)
              + (i != streams_.end() ? " '" + i->second->options().peer_name + "'" : "");
    } else if (r.kind == route::unroutable) {
      where = "nowhere";
    }
  }
  tl->debug("[{}] frame {} {}->{} {} B handle {} from stream {} '{}' {}", cfg_.name, type, h.src,
            h.dst, bytes, h.reply_to ? h.reply_to : h.handle, s.id(), s.options().peer_name, where);
}

router_stats router::stats() const {
  router_stats out;
  out.frames_in = counts_.frames_in.load(std::memory_order_relaxed);
  out.bytes_in = counts_.bytes_in.load(std::memory_order_relaxed);
  out.frames_routed = counts_.frames_routed.load(std::memory_order_relaxed);
  out.bytes_routed = counts_.bytes_routed.load(std::memory_order_relaxed);
  out.violations = counts_.violations.load(std::memory_order_relaxed);
  std::shared_lock<std::shared_mutex> guard{mtx_};
  out.streams = static_cast<std::uint32_t>(streams_.size());
  out.routes = static_cast<std::uint32_t>(table_.size());
  return out;
}

std::optional<connection_stats> router::connection(stream_id id) const {
  auto s = find_stream(id);
  if (!s)
    return std::nullopt;
  const auto& o = s->options();
  const auto& t = s->traffic();
  connection_stats out;
  out.stream = id;
  out.peer = o.peer_id;
  out.peer_name = o.peer_name;
  out.is_parent = o.is_parent;
  out.handshaken = s->handshaken();
  out.open = !s->closed();
  out.frames_in = t.frames_in.load(std::memory_order_relaxed);
  out.bytes_in = t.bytes_in.load(std::memory_order_relaxed);
  out.frames_out = t.frames_out.load(std::memory_order_relaxed);
  out.bytes_out = t.bytes_out.load(std::memory_order_relaxed);
  out.violations = s->violations();
  return out;
}

std::vector<route_entry> router::routes() const {
  std::vector<route_entry> out;
  std::shared_lock<std::shared_mutex> guard{mtx_};
  for (auto [id, via] : table_.entries()) {
    auto i = streams_.find(via);
    out.push_back({id, via, i != streams_.end() && i->second->options().peer_id == id});
  }
  if (auto p = table_.parent(); p && cfg_.has_parent)
    out.push_back({cfg_.parent_id, *p, true});
  return out;
}

} // namespace mitosis::router
