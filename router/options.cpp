#include "options.hpp"

#include <algorithm>

#include "../serialization/archive.hpp"
#include "../serialization/frame_header.hpp"

namespace mitosis::router {

namespace {

std::int64_t ms(std::chrono::milliseconds d) {
  return d.count();
}

} // namespace

std::vector<char> encode(const options& o) {
  std::vector<char> out;
  serialization::encode_into(out, static_cast<std::uint64_t>(o.pool_threads), o.log_level,
                             ms(o.connect_timeout), ms(o.request_timeout), o.max_frame,
                             o.max_violations, o.max_routes_per_child, o.id_block,
                             ms(o.shutdown_grace), ms(o.heartbeat_interval),
                             o.max_id_blocks_per_child, o.max_queued_bytes, o.max_refusals,
                             ms(o.refusal_window), o.max_pending_requests,
                             o.log_lines_per_second, o.log_burst, o.trace_frames,
                             o.max_pending_calls, o.max_pending_actor_messages,
                             o.max_spawned_actors, o.max_routes, o.max_id_blocks,
                             o.max_pending_bytes, o.log_lines_per_second_per_child);
  return out;
}

options decode_options(const std::vector<char>& bytes) {
  options o;
  std::uint64_t pool = 0;
  std::int64_t connect = 0, request = 0, grace = 0, heartbeat = 0, window = 0;
  serialization::decode_exact(bytes.data(), bytes.size(), pool, o.log_level, connect, request,
                              o.max_frame, o.max_violations, o.max_routes_per_child, o.id_block,
                              grace, heartbeat, o.max_id_blocks_per_child, o.max_queued_bytes,
                              o.max_refusals, window, o.max_pending_requests,
                              o.log_lines_per_second, o.log_burst, o.trace_frames,
                              o.max_pending_calls, o.max_pending_actor_messages,
                              o.max_spawned_actors, o.max_routes, o.max_id_blocks,
                              o.max_pending_bytes, o.log_lines_per_second_per_child);
  // Bounded, so that a damaged frame cannot ask for a million threads.
  o.pool_threads = static_cast<std::size_t>(std::clamp<std::uint64_t>(pool, 1, 256));
  if (o.max_frame == 0)
    o.max_frame = serialization::default_max_frame_size;
  // The same for the bounds a zero or negative value would turn off or
  // make fail at once.
  o.max_violations = std::max<std::uint32_t>(o.max_violations, 1);
  o.max_routes_per_child = std::max<std::uint32_t>(o.max_routes_per_child, 1);
  o.id_block = std::max<std::uint32_t>(o.id_block, 1);
  o.max_id_blocks_per_child = std::max<std::uint32_t>(o.max_id_blocks_per_child, 1);
  // A frame is always queued behind less than the limit, so a small value
  // only cuts slow readers sooner; zero would cut any stream that ever waits.
  o.max_queued_bytes = std::max<std::uint64_t>(o.max_queued_bytes, std::uint64_t{1} << 20);
  o.max_pending_requests = std::max<std::uint32_t>(o.max_pending_requests, 1);
  o.max_pending_calls = std::max<std::uint32_t>(o.max_pending_calls, 1);
  o.max_pending_actor_messages = std::max<std::uint32_t>(o.max_pending_actor_messages, 1);
  o.max_spawned_actors = std::max<std::uint32_t>(o.max_spawned_actors, 1);
  o.max_routes = std::max<std::uint32_t>(o.max_routes, 1);
  o.max_id_blocks = std::max<std::uint32_t>(o.max_id_blocks, 1);
  o.max_pending_bytes = std::max<std::uint64_t>(o.max_pending_bytes, o.max_frame);
  window = std::max<std::int64_t>(window, 1);
  o.refusal_window = std::chrono::milliseconds{window};
  connect = std::max<std::int64_t>(connect, 1);
  request = std::max<std::int64_t>(request, 1);
  grace = std::max<std::int64_t>(grace, 0);
  // 0 (off) or at least 10 ms: a damaged frame must not make every stream
  // send heartbeats in a busy loop.
  heartbeat = heartbeat <= 0 ? 0 : std::max<std::int64_t>(heartbeat, 10);
  o.connect_timeout = std::chrono::milliseconds{connect};
  o.request_timeout = std::chrono::milliseconds{request};
  o.shutdown_grace = std::chrono::milliseconds{grace};
  o.heartbeat_interval = std::chrono::milliseconds{heartbeat};
  return o;
}

} // namespace mitosis::router
