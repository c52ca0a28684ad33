// What the router tells its actor face (router/interfaces.hpp) besides
// frames: route and stream events, and snapshots of its counters. Plain
// values, so that router.hpp needs no CAF header; the inspect overloads let
// them travel in CAF messages.
#pragma once

#include <cstdint>
#include <string>

#include "fwd.hpp"

namespace mitosis::router {

/// What a route_event reports.
enum class event_kind : std::uint8_t {
  /// A direct child's hello was read: its stream is up.
  hello = 1,
  /// A context became reachable (a direct child's hello, or a route_add).
  route_added = 2,
  /// A context can no longer be reached (its stream dropped, or route_del).
  route_lost = 3,
  /// A frame was refused and counted against its stream.
  violation = 4,
  /// A stream dropped (any reason); its contexts are reported route_lost.
  stream_lost = 5,
};

/// Returns "hello", "route_added", ...
const char* to_string(event_kind k) noexcept;

/// One event of the router, posted from the thread that saw it (the I/O
/// thread or a parked reader) to the router actor, which fans it out.
struct route_event {
  /// An event_kind (kept as its integer so that it inspects plainly).
  std::uint8_t kind = 0;
  /// The context concerned (the peer of the stream for hello/stream_lost).
  context_id id = 0;
  /// The stream it is (was) behind; 0 when unknown.
  stream_id stream = 0;
  /// Its name, when known.
  std::string name;
  /// route_lost, stream_lost: why; violation: what was refused.
  std::string reason;

  event_kind what() const noexcept {
    return static_cast<event_kind>(kind);
  }
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, route_event& x) {
  return f(x.kind, x.id, x.stream, x.name, x.reason);
}

/// Counters of one stream and what it is connected to (a snapshot).
struct connection_stats {
  stream_id stream = 0;
  context_id peer = 0;
  std::string peer_name;
  bool is_parent = false;
  /// The peer's hello was read.
  bool handshaken = false;
  /// Not closed (a closed stream is about to be dropped).
  bool open = false;
  std::uint64_t frames_in = 0;
  std::uint64_t bytes_in = 0;
  std::uint64_t frames_out = 0;
  std::uint64_t bytes_out = 0;
  std::uint32_t violations = 0;
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, connection_stats& x) {
  return f(x.stream, x.peer, x.peer_name, x.is_parent, x.handshaken, x.open, x.frames_in,
           x.bytes_in, x.frames_out, x.bytes_out, x.violations);
}

/// Counters of the whole router (a snapshot). Bytes count payloads and
/// headers.
struct router_stats {
  /// Every frame read from any stream.
  std::uint64_t frames_in = 0;
  std::uint64_t bytes_in = 0;
  /// Frames read here and forwarded to another context.
  std::uint64_t frames_routed = 0;
  std::uint64_t bytes_routed = 0;
  /// Frames refused (every stream, since the start).
  std::uint64_t violations = 0;
  std::uint32_t streams = 0;
  std::uint32_t routes = 0;
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, router_stats& x) {
  return f(x.frames_in, x.bytes_in, x.frames_routed, x.bytes_routed, x.violations, x.streams,
           x.routes);
}

/// One entry of the routing table.
struct route_entry {
  context_id id = 0;
  /// The stream it lives behind.
  stream_id via = 0;
  /// It is the peer of that stream (a direct child, or the parent).
  bool direct = false;
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, route_entry& x) {
  return f(x.id, x.via, x.direct);
}

} // namespace mitosis::router
