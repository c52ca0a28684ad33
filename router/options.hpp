// Every setting of one process's runtime, in one struct: the master's
// options travel down unchanged to the router and the services (an agent
// gets its copy from the boot frame and the defaults).
#pragma once

#include <chrono>
#include <cstdint>
#include <string>
#include <vector>

#include "../serialization/frame_header.hpp"

namespace mitosis::router {

struct options {
  /// The master's name (an agent's name comes from its boot frame).
  std::string name = "master";
  /// Threads that run calls arriving here (and module and file requests).
  std::size_t pool_threads = 4;
  /// spdlog level for every context (2 = info).
  int log_level = 2;
  /// Default bound on starting a context: process start, connect, auth,
  /// bootstrap and handshake.
  std::chrono::milliseconds connect_timeout{10000};
  /// Bound on one internal request: an id block, a module fetch or push, a
  /// file chunk. (Calls have their own deadlines: context::call_for.)
  std::chrono::milliseconds request_timeout{10000};
  /// Largest payload accepted or sent; every context gets the master's.
  std::uint32_t max_frame = serialization::default_max_frame_size;
  /// Policy violations from one stream before it is cut.
  std::uint32_t max_violations = 8;
  /// Contexts one child may announce behind itself (a route flood bound).
  std::uint32_t max_routes_per_child = 1u << 16;
  /// Contexts routed through all child streams of one hop together (the
  /// size of its routing table); an announcement over it is a violation of
  /// the child that made it.
  std::uint32_t max_routes = 1u << 20;
  /// Ids per block handed out by the master.
  std::uint32_t id_block = 1000;
  /// Id blocks the master grants to the requests arriving on one child
  /// stream (that child's whole subtree); a request over it is a violation.
  std::uint32_t max_id_blocks_per_child = 4096;
  /// Id blocks the master grants to all its child streams together; a
  /// request over it is refused (limit_exceeded), not a violation: the
  /// asking child may not be the one that took them. The master's own
  /// starts draw on the rest of the id space.
  std::uint32_t max_id_blocks = 1u << 20;
  /// Bytes a stream may hold queued for a peer that does not read them;
  /// a frame sent while more than this waits cuts the stream (the peer and
  /// everything behind it are lost).
  std::uint64_t max_queued_bytes = std::uint64_t{64} << 20;
  /// Refusals that are not violations by themselves (no_route, an unknown
  /// function, an undecodable request, a refused file or module, a request
  /// over max_pending_requests) one child stream may cause per
  /// refusal_window; each one beyond counts as a violation.
  std::uint32_t max_refusals = 100;
  std::chrono::milliseconds refusal_window{1000};
  /// Module and file requests from one child stream queued or running here
  /// at once; one more is refused (limit_exceeded).
  std::uint32_t max_pending_requests = 64;
  /// Calls from one child stream (that child's subtree, and siblings
  /// routed through it) queued or running here at once; one more is
  /// refused (limit_exceeded). Calls from the parent are not bounded.
  std::uint32_t max_pending_calls = 1024;
  /// Actor messages (not responses) from one child stream waiting in this
  /// process's mailboxes or being handled at once; one more is refused
  /// (limit_exceeded: a request fails with it, a one-way message is
  /// dropped). Messages from the parent are not bounded.
  std::uint32_t max_pending_actor_messages = 10000;
  /// Actors one child stream (its subtree) has spawned here and that still
  /// run; one more spawn is refused (limit_exceeded). The parent's spawns
  /// are not bounded.
  std::uint32_t max_spawned_actors = 10000;
  /// Bytes of the calls, actor messages and module and file requests of
  /// one child stream that wait or run here at once (their payloads); one
  /// more is refused (limit_exceeded). At least max_frame, so that one
  /// frame of any allowed size always fits.
  std::uint64_t max_pending_bytes = std::uint64_t{256} << 20;
  /// Log lines per second accepted from one context (a token bucket of
  /// log_burst lines); the rest are dropped and counted, and the count is
  /// logged once lines pass again. 0: no limit.
  std::uint32_t log_lines_per_second = 1000;
  std::uint32_t log_burst = 2000;
  /// Log lines per second accepted from everything behind one child stream
  /// together (a bucket of 2 seconds' worth), so that a child cannot
  /// multiply its rate by the contexts it announces. 0: no limit.
  std::uint32_t log_lines_per_second_per_child = 10000;
  /// How long shutdown waits for children before killing them.
  std::chrono::milliseconds shutdown_grace{1000};
  /// Liveness of every stream (both ends, after the handshake): a small
  /// heartbeat frame goes out on a stream nothing else was sent on for this
  /// long, and a stream nothing arrived on for 3 intervals is declared lost
  /// (a frozen or unreachable peer, with everything behind it). 0 turns
  /// heartbeats off: a stopped peer is then only noticed when its stream
  /// closes.
  std::chrono::milliseconds heartbeat_interval{1000};
  /// Debug switch: every context logs each frame it reads from a stream
  /// (type, src, dst, size, stream, delivered here or forwarded) at debug
  /// level, on logger mitosis.trace. Also turned on in the master by the
  /// environment variable MITOSIS_TRACE_FRAMES=1. Off, it costs one branch
  /// per frame.
  bool trace_frames = false;
};

/// Returns every field of `o` but the name, encoded for a boot frame: a
/// context runs with its master's options.
std::vector<char> encode(const options& o);

/// Returns the options encoded in `bytes` (name: "master"). Throws
/// serialization::decode_error.
options decode_options(const std::vector<char>& bytes);

} // namespace mitosis::router
