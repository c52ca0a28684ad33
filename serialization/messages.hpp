// The payload structs of the framework's own wire types (see type_registry).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "plain_codec.hpp"

#include <boost/serialization/level.hpp>
#include <boost/serialization/string.hpp>
#include <boost/serialization/tracking.hpp>
#include <boost/serialization/vector.hpp>

namespace mitosis::serialization {

/// Sent by a parent right after the handshake: who the child is.
struct boot_info {
  std::uint32_t id = 0;
  std::uint32_t parent_id = 0;
  std::string name;
  std::uint32_t max_frame = 0;
  int log_level = 2;
  /// Encoded policy::rules granted to the child.
  std::vector<char> rules;
  /// Encoded router::options: the child runs with its parent's settings.
  std::vector<char> options;
  /// The child's ancestors, the master first and its parent last: the
  /// contexts it takes a shutdown from.
  std::vector<std::uint32_t> ancestors;
};

/// Reply to a failed call: the remote exception.
struct call_error_info {
  std::string type;
  std::string message;
  std::string context;
  /// The stack of the throw site, one frame a line (empty when unknown).
  std::string backtrace;
};

/// The counters of one stream of a context (stats_reply). Bytes count
/// headers and payloads.
struct stream_stats_info {
  std::uint32_t stream = 0;
  /// The context at the other end, and its name ("parent" for the parent).
  std::uint32_t peer = 0;
  std::string peer_name;
  bool is_parent = false;
  std::uint64_t frames_in = 0;
  std::uint64_t bytes_in = 0;
  std::uint64_t frames_out = 0;
  std::uint64_t bytes_out = 0;
};

/// What a context reports of itself (stats_request / stats_reply;
/// context::stats).
struct stats_info {
  std::uint32_t id = 0;
  std::string name;
  std::int32_t pid = 0;
  /// Since its runtime started.
  std::int64_t uptime_ms = 0;
  /// Resident set size (/proc/self/statm).
  std::uint64_t rss_bytes = 0;
  /// Calls that ran here to the end (answered, or failed with call_error).
  std::uint64_t calls_served = 0;
  /// Calls that arrived here and are queued or running.
  std::uint32_t calls_running = 0;
  /// Requests this context sent and still waits for (its own calls).
  std::uint32_t calls_waiting = 0;
  /// Frames read here and forwarded to another context.
  std::uint64_t frames_routed = 0;
  std::uint64_t bytes_routed = 0;
  /// Every stream: the parent's (stream 1) and each direct child's.
  std::vector<stream_stats_info> streams;
};

/// A dead reply: why a frame could not be delivered or was refused.
struct dead_info {
  std::uint8_t code = 0;
  std::string reason;
};

/// route_add / route_del.
struct route_info {
  std::uint32_t id = 0;
  std::string name;
};

/// A log line forwarded to the master.
struct log_info {
  std::string context;
  std::string logger;
  int level = 0;
  std::string text;
};

/// id_grant: a block [first, first + count).
struct id_block_info {
  std::uint32_t first = 0;
  std::uint32_t count = 0;
};

/// Ask for up to `max` bytes of a served file from `offset`.
struct file_request_info {
  std::string path;
  std::uint64_t offset = 0;
  std::uint32_t max = 0;
};

/// One chunk of a file; `size` is the whole file's size.
struct file_chunk_info {
  std::uint64_t size = 0;
  std::uint64_t offset = 0;
  std::vector<char> bytes;
};

/// blob_request: up to `max` bytes from `offset` of the content whose
/// sha256 is `sha256`, pushed by context `source`.
struct blob_request_info {
  std::string sha256;
  std::uint64_t offset = 0;
  std::uint32_t max = 0;
  std::uint32_t source = 0;
};

/// One entry of a file_push: a directory (`dir`) or a regular file of
/// `size` bytes whose sha256 is `sha256`, written at `path` with `mode`;
/// owner `uid`/`gid` (-1: keep the writer's) when the writer is root.
/// Small files travel in `bytes`; the others are fetched by sha256.
struct push_entry_info {
  std::string path;
  bool dir = false;
  std::uint32_t mode = 0644;
  std::int64_t uid = -1;
  std::int64_t gid = -1;
  std::uint64_t size = 0;
  std::string sha256;
  std::vector<char> bytes;
  bool inline_bytes = false;
};

/// file_push: entries in order (a directory before what is in it), the
/// content of the others to be fetched from context `source` by sha256,
/// `window` chunk requests in flight.
struct push_info {
  std::uint32_t source = 0;
  std::uint32_t window = 8;
  std::vector<push_entry_info> entries;
};

/// file_pushed: files and directories written, bytes written, bytes
/// fetched over the parent link, and the bytes a part file left by an
/// earlier attempt already had.
struct pushed_info {
  std::uint32_t entries = 0;
  std::uint64_t bytes = 0;
  std::uint64_t fetched = 0;
  std::uint64_t resumed = 0;
};

/// A plugin module: its name, the SHA-256 of its bytes, the bytes (a
/// shared object). Also the payload of module_push.
struct module_info {
  std::string name;
  std::string sha256;
  std::vector<char> bytes;
};

/// Ask a context to start a local child of its own.
struct spawn_info {
  std::string name;
  std::uint32_t timeout_ms = 0;
  /// Connect the child over two pipes instead of a socketpair.
  bool pipes = false;
  /// An encoded bootstrap::method_spec; empty: a local child.
  std::vector<char> spec;
};

/// Answer to spawn_request.
struct spawned_info {
  std::uint32_t id = 0;
  std::string name;
  std::int32_t pid = 0;
};

/// actor_spawn: start an actor of the registered type `name` with the
/// arguments `args` (a caf::message in CAF's binary format). `interface`
/// is what the requester's handle expects (caf::actor_system::message_types
/// of the handle; empty for a dynamically typed handle). Unless
/// `detached`, the new actor is tied to its spawner: the actor `owner` of
/// the sending context (0: the sending context itself); it is sent an exit
/// when that actor exits or that context is lost.
struct actor_spawn_info {
  std::string name;
  std::vector<char> args;
  std::vector<std::string> interface;
  std::uint64_t owner = 0;
  bool detached = false;
};

/// actor_spawned: the id of the new actor in the answering context.
struct actor_spawned_info {
  std::uint64_t actor = 0;
};

/// actor_message: one CAF message for the actor `dst` of the receiving
/// context. The sender is actor `sender` of context `sender_ctx` (sender 0:
/// none);
/// `mid` is CAF's message id (request, response or async); `content` is
/// the caf::message in CAF's binary format. It travels in the plain codec,
/// not a Boost archive (encode_plain below; protocol.md): the actor service
/// writes the same layout in place and reads it in place.
struct actor_message_info {
  std::uint64_t dst = 0;
  std::uint32_t sender_ctx = 0;
  std::uint64_t sender = 0;
  std::uint64_t mid = 0;
  std::vector<char> content;
};

/// Appends `m` to `out` as actor_message travels: the fields in order in the
/// plain codec, `content` as a u64 count and its bytes.
inline void encode_plain(buffer& out, const actor_message_info& m) {
  put_values(out, m.dst, m.sender_ctx, m.sender, m.mid, m.content);
}

/// actor_down: the actor `actor` of the sending context exited; `reason`
/// is its caf::error in CAF's binary format.
struct actor_down_info {
  std::uint64_t actor = 0;
  std::vector<char> reason;
};

/// actor_link: the actor `peer` of the sending context was linked to
/// (`add`) or unlinked from its proxy of the actor `actor` of the receiving
/// context. The receiver ends `actor` with context_lost if the sender's
/// context is lost while the link stands.
struct actor_link_info {
  std::uint64_t actor = 0;
  std::uint64_t peer = 0;
  bool add = true;
};

/// actor_lost: the contexts `ids` are lost (`reason`); sent by the master
/// to its children and relayed down by each, so that a context learns the
/// loss of a context that is not below it (its proxies and the actors tied
/// to it end).
struct actor_lost_info {
  std::vector<std::uint32_t> ids;
  std::string reason;
};

/// Serialises every field in order: serialize() bodies are one line.
template <class Ar, class... Ts>
void fields(Ar& ar, Ts&... xs) {
  (void)(ar & ... & xs);
}

/// Defines serialize() for the struct T of this namespace; the arguments
/// after T are its fields in wire order, each written as x.field.
#define MITOSIS_WIRE_FIELDS(T, ...)                                            \
  template <class Ar>                                                          \
  void serialize(Ar& ar, T& x, unsigned) {                                     \
    ::mitosis::serialization::fields(ar, __VA_ARGS__);                         \
  }

MITOSIS_WIRE_FIELDS(boot_info, x.id, x.parent_id, x.name, x.max_frame, x.log_level, x.rules,
                    x.options, x.ancestors)
MITOSIS_WIRE_FIELDS(call_error_info, x.type, x.message, x.context, x.backtrace)
MITOSIS_WIRE_FIELDS(dead_info, x.code, x.reason)
MITOSIS_WIRE_FIELDS(stream_stats_info, x.stream, x.peer, x.peer_name, x.is_parent, x.frames_in,
                    x.bytes_in, x.frames_out, x.bytes_out)
MITOSIS_WIRE_FIELDS(stats_info, x.id, x.name, x.pid, x.uptime_ms, x.rss_bytes, x.calls_served,
                    x.calls_running, x.calls_waiting, x.frames_routed, x.bytes_routed, x.streams)
MITOSIS_WIRE_FIELDS(route_info, x.id, x.name)
MITOSIS_WIRE_FIELDS(log_info, x.context, x.logger, x.level, x.text)
MITOSIS_WIRE_FIELDS(id_block_info, x.first, x.count)
MITOSIS_WIRE_FIELDS(file_request_info, x.path, x.offset, x.max)
MITOSIS_WIRE_FIELDS(file_chunk_info, x.size, x.offset, x.bytes)
MITOSIS_WIRE_FIELDS(blob_request_info, x.sha256, x.offset, x.max, x.source)
MITOSIS_WIRE_FIELDS(push_entry_info, x.path, x.dir, x.mode, x.uid, x.gid, x.size, x.sha256,
                    x.bytes, x.inline_bytes)
MITOSIS_WIRE_FIELDS(push_info, x.source, x.window, x.entries)
MITOSIS_WIRE_FIELDS(pushed_info, x.entries, x.bytes, x.fetched, x.resumed)
MITOSIS_WIRE_FIELDS(module_info, x.name, x.sha256, x.bytes)
MITOSIS_WIRE_FIELDS(spawn_info, x.name, x.timeout_ms, x.pipes, x.spec)
MITOSIS_WIRE_FIELDS(spawned_info, x.id, x.name, x.pid)
// The actor frames travel in the plain codec (no Boost archive: they are on
// the spawn and exit paths; protocol.md).
MITOSIS_PLAIN_WIRE(actor_spawn_info, x.name, x.args, x.interface, x.owner, x.detached)
MITOSIS_PLAIN_WIRE(actor_spawned_info, x.actor)
MITOSIS_PLAIN_WIRE(actor_down_info, x.actor, x.reason)
MITOSIS_PLAIN_WIRE(actor_link_info, x.actor, x.peer, x.add)
MITOSIS_PLAIN_WIRE(actor_lost_info, x.ids, x.reason)

} // namespace mitosis::serialization

// No class headers or object tracking on the wire: both ends are one build.
#define MITOSIS_WIRE_STRUCT(T)                                                 \
  BOOST_CLASS_IMPLEMENTATION(T, boost::serialization::object_serializable)     \
  BOOST_CLASS_TRACKING(T, boost::serialization::track_never)

MITOSIS_WIRE_STRUCT(mitosis::serialization::boot_info)
MITOSIS_WIRE_STRUCT(mitosis::serialization::call_error_info)
MITOSIS_WIRE_STRUCT(mitosis::serialization::dead_info)
MITOSIS_WIRE_STRUCT(mitosis::serialization::stream_stats_info)
MITOSIS_WIRE_STRUCT(mitosis::serialization::stats_info)
MITOSIS_WIRE_STRUCT(mitosis::serialization::route_info)
MITOSIS_WIRE_STRUCT(mitosis::serialization::log_info)
MITOSIS_WIRE_STRUCT(mitosis::serialization::id_block_info)
MITOSIS_WIRE_STRUCT(mitosis::serialization::spawn_info)
MITOSIS_WIRE_STRUCT(mitosis::serialization::file_request_info)
MITOSIS_WIRE_STRUCT(mitosis::serialization::file_chunk_info)
MITOSIS_WIRE_STRUCT(mitosis::serialization::module_info)
MITOSIS_WIRE_STRUCT(mitosis::serialization::blob_request_info)
MITOSIS_WIRE_STRUCT(mitosis::serialization::push_entry_info)
MITOSIS_WIRE_STRUCT(mitosis::serialization::push_info)
MITOSIS_WIRE_STRUCT(mitosis::serialization::pushed_info)
MITOSIS_WIRE_STRUCT(mitosis::serialization::spawned_info)
MITOSIS_WIRE_STRUCT(mitosis::serialization::actor_spawn_info)
MITOSIS_WIRE_STRUCT(mitosis::serialization::actor_spawned_info)
MITOSIS_WIRE_STRUCT(mitosis::serialization::actor_down_info)
MITOSIS_WIRE_STRUCT(mitosis::serialization::actor_link_info)
MITOSIS_WIRE_STRUCT(mitosis::serialization::actor_lost_info)
