#include "errc.hpp"

namespace mitosis {

const char* to_string(errc code) noexcept {
  switch (code) {
    case errc::none: return "no error";
    case errc::bad_magic: return "bad frame magic";
    case errc::bad_version: return "unsupported frame version";
    case errc::frame_too_large: return "frame payload larger than the configured maximum";
    case errc::truncated_payload: return "payload ends before the value it should hold";
    case errc::count_exceeds_payload: return "collection count larger than the bytes that remain";
    case errc::unknown_type: return "unknown message type id";
    case errc::type_not_allowed: return "message type not allowed from this peer";
    case errc::call_not_allowed: return "call not allowed by policy";
    case errc::source_mismatch: return "frame source does not live behind the stream it came on";
    case errc::no_route: return "no route to the destination context";
    case errc::context_lost: return "context lost";
    case errc::handshake_mismatch: return "protocol or build mismatch in handshake";
    case errc::handshake_failed: return "handshake failed";
    case errc::protocol_error: return "protocol error";
    case errc::remote_exception: return "remote function threw";
    case errc::unknown_function: return "function not registered in the remote context";
    case errc::timeout: return "deadline expired";
    case errc::spawn_failed: return "could not start context";
    case errc::shutting_down: return "context is shutting down";
    case errc::trailing_bytes: return "payload has bytes after its value";
    case errc::routing_not_allowed: return "routing between children not allowed by policy";
    case errc::file_not_allowed: return "path not served (file rights)";
    case errc::file_error: return "file cannot be read";
    case errc::module_denied: return "module refused by the import policy";
    case errc::host_key_rejected: return "host key not trusted";
    case errc::auth_failed: return "authentication failed";
    case errc::become_denied: return "user not allowed to become the target user";
    case errc::unreachable: return "host unreachable";
    case errc::bootstrap_failed: return "bootstrap failed on the target";
    case errc::unknown_actor: return "actor type not registered in the remote context";
    case errc::actor_interface_mismatch: return "actor handle does not match the actor type's interface";
    case errc::bad_actor_arguments: return "arguments do not match the actor type's parameters";
    case errc::spawn_not_allowed: return "actor spawn not allowed by policy";
    case errc::message_not_allowed: return "actor message type not allowed by policy";
    case errc::spawner_exited: return "the actor's spawner exited";
    case errc::limit_exceeded: return "a per-peer limit was exceeded";
    case errc::channel_closed: return "the receiver was closed";
    case errc::channel_overflow: return "the receiver's queue was full";
  }
  return "unknown error";
}

} // namespace mitosis
