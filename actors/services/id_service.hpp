// Context ids: the master cuts the id space into blocks; every process
// numbers its own children from a block, asking the master for the next
// block only when one runs out (id_request / id_grant).
#pragma once

#include <mutex>
#include <optional>
#include <unordered_map>

#include "core.hpp"
#include "../../router/id_allocator.hpp"

namespace mitosis::actors::services {

class id_service {
public:
  /// In the master (no parent) the service cuts blocks and answers
  /// id_request; elsewhere it asks the master.
  explicit id_service(core& c);

  /// Returns the next id for a child of this process; may ask the master for
  /// a block, waiting until `deadline` at most (the start's own deadline).
  expected<router::context_id> allocate(clock::time_point deadline);

private:
  /// Hands out a block, recorded as granted to the stream `from`.
  void on_request(const serialization::frame& f, router::stream_id from);

  core& core_;
  std::optional<router::block_source> blocks_; // the master's only
  std::mutex mtx_;
  router::id_allocator ids_;
  // Blocks granted per child stream (the master's only; a few bytes for
  // every child ever started).
  std::unordered_map<router::stream_id, std::uint32_t> granted_;
  // Blocks granted to all child streams together (max_id_blocks).
  std::uint64_t granted_total_ = 0;
};

} // namespace mitosis::actors::services
