// What the router holds against whom: violations, charged to the stream
// they came on or, for a verified descendant behind it, to that context
// alone; route announcements, accepted only for ids granted to the
// announcing stream; and the id grants that say which ids those are.
#include "router.hpp"

#include <spdlog/spdlog.h>

#include "../serialization/log.hpp"
#include "../serialization/messages.hpp"
#include "logger.hpp"

namespace mitosis::router {

namespace {

using serialization::frame;
using serialization::frame_header;

} // namespace

void router::grant(context_id first, std::uint32_t count, stream_id via) {
  std::unique_lock<std::shared_mutex> guard{mtx_};
  table_.grant(first, count, via);
}

std::optional<context_id> router::peer_of(stream_id s) const {
  std::shared_lock<std::shared_mutex> guard{mtx_};
  auto i = streams_.find(s);
  if (i == streams_.end())
    return std::nullopt;
  return i->second->options().peer_id;
}

void router::record_grant(const frame& f, stream_id via) {
  // The master's id_grant on its way down: the block belongs to the
  // subtree it goes to. One that does not decode is passed on unrecorded
  // (its requester refuses it too).
  serialization::id_block_info b;
  try {
    serialization::decode_exact(f.payload.data(), f.payload.size(), b);
  } catch (const serialization::decode_error&) {
    return;
  }
  grant(b.first, b.count, via);
}

void router::violation(stream& s, errc code, const frame_header& h, const std::string& detail) {
  auto text = std::string{to_string(code)} + (detail.empty() ? "" : ": " + detail);
  // A forged source names a third party: answering it would send our dead
  // reply to a context that never wrote the frame.
  if (code != errc::source_mismatch)
    reply_dead(h, code, text);
  charge(s, h, text, " frame", true);
}

void router::report_violation(stream_id sid, errc code, const frame_header& req,
                              const std::string& detail) {
  auto text = std::string{to_string(code)} + ": " + detail;
  reply_dead(req, code, text);
  if (auto s = find_stream(sid))
    charge(*s, req, text, "", false);
}

void router::charge(stream& s, const frame_header& h, const std::string& text,
                    const char* noun, bool reading) {
  counts_.violations.fetch_add(1, std::memory_order_relaxed);
  emit({static_cast<std::uint8_t>(event_kind::violation), h.src, s.id(), s.options().peer_name,
        text});
  if (charge_source(s, h, text, noun))
    return;
  auto n = s.add_violation();
  lg()->warn("[{}] refused {}{} from context {} on stream to '{}': {} ({} of {})", cfg_.name,
             serialization::type_registry::name(h.type), noun, h.src, s.options().peer_name,
             text, n, opts_.max_violations);
  if (n < opts_.max_violations)
    return;
  auto reason = "cut: " + std::to_string(n) + " policy violations";
  // Whoever reads the stream stops after its current frame (a flood read
  // in one long loop, on any thread); off the reading thread, an idle
  // stream is also dropped through the I/O thread.
  s.cut(reason);
  if (!reading)
    close_stream(s.id(), std::move(reason));
}

bool router::charge_source(stream& s, const frame_header& h, const std::string& text,
                           const char* noun) {
  const auto& o = s.options();
  if (o.is_parent || h.src == o.peer_id)
    return false;
  {
    // Only a source verified behind this stream is charged; a forged one
    // is the stream's own doing.
    std::shared_lock<std::shared_mutex> guard{mtx_};
    if (table_.isolated(h.src, s.id()))
      return true; // cut off already (a refusal decided on the pool since)
    if (!table_.source_ok(h.src, s.id()))
      return false;
  }
  std::uint32_t n;
  {
    std::lock_guard<std::mutex> guard{src_mtx_};
    n = ++src_violations_[h.src];
    if (n >= opts_.max_violations)
      src_violations_.erase(h.src);
  }
  lg()->warn("[{}] refused {}{} from context {} behind '{}': {} ({} of {})", cfg_.name,
             serialization::type_registry::name(h.type), noun, h.src, o.peer_name, text, n,
             opts_.max_violations);
  if (n < opts_.max_violations)
    return true;
  bool cut;
  {
    std::unique_lock<std::shared_mutex> guard{mtx_};
    cut = table_.isolate(h.src, s.id());
  }
  if (!cut)
    return true; // cut off meanwhile, or gone
  auto why = "context " + std::to_string(h.src) + " cut off behind '" + o.peer_name
             + "': " + std::to_string(n) + " policy violations";
  lg()->error("[{}] {}", cfg_.name, why);
  out_.lost({h.src}, why);
  emit({static_cast<std::uint8_t>(event_kind::route_lost), h.src, s.id(), {}, why});
  announce_route(h.src, {}, false);
  return true;
}

void router::forget_violations(const std::vector<context_id>& ids) {
  std::lock_guard<std::mutex> guard{src_mtx_};
  for (auto id : ids)
    src_violations_.erase(id);
}

void router::on_route_frame(stream& s, frame&& f, bool add) {
  if (s.options().is_parent)
    return; // routes are only announced upwards
  // Each hop announces its own routes to its parent: an announcement with
  // another context's src was not relayed, it was addressed past its hop.
  if (f.hdr.src != s.options().peer_id) {
    violation(s, errc::source_mismatch, f.hdr, "a route announcement from a context other "
                                               "than the neighbour");
    return;
  }
  serialization::route_info ri;
  try {
    serialization::decode_exact(f.payload.data(), f.payload.size(), ri);
  } catch (const serialization::decode_error& e) {
    violation(s, e.code(), f.hdr, e.what());
    return;
  }
  bool changed = false;
  {
    std::unique_lock<std::shared_mutex> guard{mtx_};
    if (add) {
      auto known = table_.lookup(ri.id);
      if (known.kind == route::stream && known.via == s.id())
        return; // announced again: nothing new to count or pass on
      if (table_.isolated(ri.id, s.id()))
        return; // cut off here; its parent may not know yet
    }
    if (add && s.polling().routes >= opts_.max_routes_per_child) {
      guard.unlock();
      violation(s, errc::protocol_error, f.hdr,
                "route limit of " + std::to_string(opts_.max_routes_per_child)
                  + " contexts behind one child reached");
      return;
    }
    // And in total: many children, each under its own limit, cannot grow
    // the table without bound either. Not a violation by itself (the
    // others may have filled it), but a refusal: a child that keeps
    // announcing is cut once over max_refusals.
    if (add && table_.size() >= opts_.max_routes) {
      guard.unlock();
      refuse(s, f.hdr, errc::limit_exceeded,
             "route_add for context " + std::to_string(ri.id) + " dropped: route limit of "
               + std::to_string(opts_.max_routes) + " contexts in total reached (max_routes)");
      return;
    }
    if (add) {
      // Only an id granted to this stream's subtree (table_.add checks).
      changed = ri.id != cfg_.parent_id && table_.add(ri.id, s.id());
      if (changed)
        ++s.polling().routes;
    } else {
      auto via = table_.lookup(ri.id);
      if (via.kind == route::stream && via.via == s.id()) {
        table_.remove(ri.id);
        --s.polling().routes;
        changed = true;
      }
    }
  }
  if (!changed) {
    if (add)
      violation(s, errc::source_mismatch, f.hdr,
                "route_add for context " + std::to_string(ri.id)
                  + " refused: not an id granted to this stream");
    return;
  }
  if (add) {
    emit({static_cast<std::uint8_t>(event_kind::route_added), ri.id, s.id(), ri.name, {}});
  } else {
    forget_violations({ri.id});
    auto why = "context " + std::to_string(ri.id) + " lost (reported by context "
               + std::to_string(f.hdr.src) + ")";
    out_.lost({ri.id}, why);
    emit({static_cast<std::uint8_t>(event_kind::route_lost), ri.id, s.id(), {}, why});
  }
  announce_route(ri.id, ri.name, add);
}

} // namespace mitosis::router
