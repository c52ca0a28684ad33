// Wire type -> handler: each service registers the frames it owns, and the
// router hands every frame for this process to the handler of its type (as
// Mitogen's Router.add_handler does). A type without a handler is refused.
#pragma once

#include <functional>
#include <stdexcept>
#include <string>
#include <vector>

#include "../policy/rules.hpp"
#include "routing_table.hpp"
#include "../serialization/frame.hpp"

namespace mitosis::router {

/// Handles one frame for this process. Runs on the thread that read the
/// frame (the I/O thread or a parked reader): it must not block; blocking
/// work goes to the pool. `from` is the stream it came in on (0: sent by
/// this process to itself).
using handler = std::function<void(serialization::frame&& f, policy::direction d, stream_id from)>;

class handler_table {
public:
  /// Registers `h` for `t`. Throws std::logic_error when `t` has one already:
  /// every wire type has exactly one owner.
  void add(serialization::wire_type t, handler h) {
    auto i = serialization::to_u32(t);
    if (i >= table_.size())
      table_.resize(i + 1);
    if (table_[i])
      throw std::logic_error("two handlers for wire type "
                             + std::string{serialization::type_registry::name(i)});
    table_[i] = std::move(h);
  }

  /// Returns the handler of `type`, or nullptr.
  const handler* find(std::uint32_t type) const noexcept {
    return type < table_.size() && table_[type] ? &table_[type] : nullptr;
  }

private:
  std::vector<handler> table_;
};

} // namespace mitosis::router
