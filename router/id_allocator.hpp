// Context id allocation: the master hands out blocks; every context numbers
// its own children from its block without a round trip.
#pragma once

#include <cstdint>
#include <mutex>
#include <optional>

#include "routing_table.hpp"

namespace mitosis::router {

/// A block of ids [first, first + count).
struct id_block {
  context_id first = 0;
  std::uint32_t count = 0;
};

/// The master's source of blocks. Thread-safe.
class block_source {
public:
  /// @param block_size ids per block
  explicit block_source(std::uint32_t block_size = 1000, context_id first = 1);

  /// Returns the next block of `count` ids (block_size when 0), or nullopt
  /// when the id space is exhausted.
  std::optional<id_block> next(std::uint32_t count = 0);

  std::uint32_t block_size() const noexcept {
    return block_size_;
  }

private:
  std::mutex mtx_;
  std::uint32_t block_size_;
  std::uint64_t next_;
};

/// Hands out single ids from a block. Not thread-safe: one owner.
class id_allocator {
public:
  /// Returns the next id, or nullopt when the block is used up.
  std::optional<context_id> next() noexcept;

  /// Replaces the current block with `b`.
  void refill(id_block b) noexcept;

  /// Returns how many ids remain.
  std::uint32_t remaining() const noexcept {
    return block_.count - used_;
  }

private:
  id_block block_;
  std::uint32_t used_ = 0;
};

} // namespace mitosis::router
