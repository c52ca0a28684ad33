#include "id_allocator.hpp"

#include <limits>

namespace mitosis::router {

block_source::block_source(std::uint32_t block_size, context_id first)
  : block_size_(block_size == 0 ? 1 : block_size), next_(first) {
}

std::optional<id_block> block_source::next(std::uint32_t count) {
  if (count == 0)
    count = block_size_;
  std::lock_guard<std::mutex> guard{mtx_};
  if (next_ + count > std::numeric_limits<context_id>::max())
    return std::nullopt;
  id_block b{static_cast<context_id>(next_), count};
  next_ += count;
  return b;
}

std::optional<context_id> id_allocator::next() noexcept {
  if (used_ >= block_.count)
    return std::nullopt;
  return block_.first + used_++;
}

void id_allocator::refill(id_block b) noexcept {
  block_ = b;
  used_ = 0;
}

} // namespace mitosis::router
