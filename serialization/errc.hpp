// The single error-code enumeration of mitosis; every layer reports through it.
#pragma once

#include <cstdint>
#include <string>

namespace mitosis {

/// Error codes carried inside the framework (frames, dead replies, results).
/// Each has one fixed, human-readable message (see to_string).
enum class errc : std::uint8_t {
  none = 0,
  bad_magic,
  bad_version,
  frame_too_large,
  truncated_payload,
  count_exceeds_payload,
  unknown_type,
  type_not_allowed,
  call_not_allowed,
  source_mismatch,
  no_route,
  context_lost,
  handshake_mismatch,
  handshake_failed,
  protocol_error,
  remote_exception,
  unknown_function,
  timeout,
  spawn_failed,
  shutting_down,
  trailing_bytes,
  routing_not_allowed,
  file_not_allowed,
  file_error,
  module_denied,
  host_key_rejected,
  auth_failed,
  become_denied,
  unreachable,
  bootstrap_failed,
  unknown_actor,
  actor_interface_mismatch,
  bad_actor_arguments,
  spawn_not_allowed,
  message_not_allowed,
  spawner_exited,
  limit_exceeded,
  channel_closed,
  channel_overflow,
};

/// Returns the fixed message for `code`.
const char* to_string(errc code) noexcept;

} // namespace mitosis
