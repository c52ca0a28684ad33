// The routing table: which stream leads to which context. A plain class; the
// router owns one and is the only writer.
#pragma once

#include "fwd.hpp"

#include <cstdint>
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
  /// process or already routed through another stream.
  bool add(context_id id, stream_id via);

  /// Removes `id`. Returns the stream it was behind, if it was known.
  std::optional<stream_id> remove(context_id id);

  /// Removes and returns every context routed through `via`.
  std::vector<context_id> drop_stream(stream_id via);

  /// Returns whether a frame from `src` may arrive on stream `via`: `src`
  /// must live behind `via` (any unknown id lives behind the parent).
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
};

} // namespace mitosis::router
