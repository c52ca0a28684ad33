// The routing table: which stream leads to which context. A plain class; the
// router owns one and is the only writer.
#pragma once

#include "fwd.hpp"

#include <cstdint>
#include <map>
#include <optional>
#include <unordered_map>
#include <utility>
#include <vector>

namespace mitosis::router {


/// The id of the master context.
inline constexpr context_id master_id = 0;

/// Where a frame for some destination goes.
struct route {
  enum kind_t : std::uint8_t { local, stream, parent, unroutable } kind;
  stream_id via = 0;
};

class routing_table {
public:
  /// @param self this process's context id
  /// @param parent the stream to the parent, if any
  routing_table(context_id self, std::optional<stream_id> parent);

  /// Returns the route for `dst`: local, an explicit stream, up to the parent,
  /// or unroutable (no parent: this is the master).
  route lookup(context_id dst) const noexcept;

  /// Records that `id` lives behind `via`. Returns false if `id` is this
  /// process, the master, already routed through another stream, cut off
  /// (isolate), or, behind a child stream, not granted to that stream.
  bool add(context_id id, stream_id via);

  /// Records that the ids [first, first + count) were granted to the
  /// subtree behind child stream `via`: a child's own id when it is
  /// started, an id block on its way down to a context behind `via` (or,
  /// in the master, handed out to one). Only such ids may be routed or
  /// used as a source behind `via`.
  void grant(context_id first, std::uint32_t count, stream_id via);

  /// Returns the child stream `id` was granted through, if any. O(log n).
  std::optional<stream_id> granted_via(context_id id) const noexcept;

  /// Cuts `id` off: removes its route and remembers it, so that later
  /// frames from it are dropped and it is never routed again (until `via`,
  /// the stream it lived behind, is dropped). Returns false when `id` was
  /// not routed through `via`.
  bool isolate(context_id id, stream_id via);

  /// Returns whether `id` was cut off behind `via`.
  bool isolated(context_id id, stream_id via) const noexcept;

  /// Removes `id`. Returns the stream it was behind, if it was known.
  std::optional<stream_id> remove(context_id id);

  /// Removes and returns every context routed through `via`, and forgets
  /// the grants and cut-off ids of `via`.
  std::vector<context_id> drop_stream(stream_id via);

  /// Returns whether a frame from `src` may arrive on stream `via`: `src`
  /// must be routed behind `via` (so, for a child stream, granted to it);
  /// any id not routed to a child lives behind the parent.
  bool source_ok(context_id src, stream_id via) const noexcept;

  context_id self() const noexcept {
    return self_;
  }

  std::optional<stream_id> parent() const noexcept {
    return parent_;
  }

  /// Returns every (context, stream) entry.
  std::vector<std::pair<context_id, stream_id>> entries() const;

  std::size_t size() const noexcept {
    return routes_.size();
  }

private:
  context_id self_;
  std::optional<stream_id> parent_;
  std::unordered_map<context_id, stream_id> routes_;
  struct granted_block {
    std::uint32_t count;
    stream_id via;
  };
  std::map<context_id, granted_block> grants_; // by first id
  std::unordered_map<context_id, stream_id> isolated_;
};

} // namespace mitosis::router
