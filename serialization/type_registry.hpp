// Stable wire ids for every message type that may appear in a frame.
#pragma once

#include <cstdint>
#include <string_view>

namespace mitosis::serialization {

/// The wire type ids. Values are part of the protocol: never renumber.
enum class wire_type : std::uint32_t {
  boot = 1,
  call_request = 2,
  call_reply = 3,
  call_error = 4,
  dead = 5,
  route_add = 6,
  route_del = 7,
  log_record = 8,
  id_request = 9,
  id_grant = 10,
  spawn_request = 11,
  spawn_reply = 12,
  shutdown = 13,
  rules_update = 14,
  file_request = 15,
  file_chunk = 16,
  module_request = 17,
  module_data = 18,
  module_push = 19,
  actor_spawn = 20,
  actor_spawned = 21,
  actor_message = 22,
  actor_down = 23,
  actor_link = 24,
  /// Stream liveness, one hop only: the router reads it, never a service.
  heartbeat = 25,
  actor_lost = 26,
  /// One value for a receiver (header handle = the receiver's id).
  channel_data = 27,
  /// A sender closed the receiver (header handle = the receiver's id).
  channel_close = 28,
  /// A child tells its parent it detached (context::detach): it is no longer
  /// stopped or killed with its parent.
  detaching = 29,
  /// Asks a context for its counters (context::stats).
  stats_request = 30,
  /// The counters (stats_info).
  stats_reply = 31,
  /// Ask for a chunk of content by sha256 (a push's bytes), from the next
  /// hop toward the pusher; answered with file_chunk.
  blob_request = 32,
  /// Write files (by sha256, or small ones inline) at the receiver.
  file_push = 33,
  /// Answer to file_push: what was written and how many bytes it fetched.
  file_pushed = 34,
};

/// One registered wire type.
struct type_info {
  wire_type id;
  std::string_view name;
  /// True for types that answer a request (they carry no reply_to).
  bool is_reply;
};

/// The registry of wire types known to this build.
class type_registry {
public:
  /// Returns the entry for `id`, or nullptr for an unknown id.
  static const type_info* find(std::uint32_t id) noexcept;

  /// Returns the name of `id`, or "unknown".
  static std::string_view name(std::uint32_t id) noexcept;

  /// Returns the highest registered id.
  static std::uint32_t max_id() noexcept;
};

constexpr std::uint32_t to_u32(wire_type t) noexcept {
  return static_cast<std::uint32_t>(t);
}

} // namespace mitosis::serialization
