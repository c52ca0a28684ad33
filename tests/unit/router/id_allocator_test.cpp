// Unit tests of context id allocation: blocks from the master, single ids
// from a block, and no id handed out twice.
#include "mitosis/router/id_allocator.hpp"

#include <algorithm>
#include <array>
#include <cstddef>
#include <cstdint>
#include <limits>
#include <thread>
#include <vector>

#include <catch2/catch.hpp>

using mitosis::router::block_source;
using mitosis::router::context_id;
using mitosis::router::id_allocator;
using mitosis::router::id_block;

namespace {

constexpr context_id max_id = std::numeric_limits<context_id>::max();

/// Takes one block from `src` per entry of `counts` (0: the configured
/// size), in order, and REQUIREs each.
template <std::size_t N>
std::array<id_block, N> take(block_source& src, const std::uint32_t (&counts)[N]) {
  std::array<id_block, N> out;
  for (std::size_t i = 0; i < N; ++i) {
    auto b = src.next(counts[i]);
    REQUIRE(b);
    out[i] = *b;
  }
  return out;
}

} // namespace

TEST_CASE("block_source: consecutive blocks of the configured size", "[id_allocator]") {
  block_source src{10, 1};
  CHECK(src.block_size() == 10);
  auto [a, b] = take(src, {0, 0});
  CHECK(a.first == 1);
  CHECK(a.count == 10);
  CHECK(b.first == 11);
  CHECK(b.count == 10);
}

TEST_CASE("block_source: an explicit count overrides the block size", "[id_allocator]") {
  block_source src{10, 1};
  auto [a, b, c] = take(src, {3, 0, 25});
  CHECK(a.first == 1);
  CHECK(a.count == 3);
  CHECK(b.first == 4);
  CHECK(b.count == 10);
  CHECK(c.first == 14);
  CHECK(c.count == 25);
}

TEST_CASE("block_source: defaults start after the master", "[id_allocator]") {
  block_source src;
  CHECK(src.block_size() == 1000);
  auto a = src.next();
  REQUIRE(a);
  CHECK(a->first == 1);
  CHECK(a->count == 1000);
}

TEST_CASE("block_source: a zero block size still makes progress", "[id_allocator]") {
  block_source src{0, 1};
  CHECK(src.block_size() == 1);
  auto [a, b] = take(src, {0, 0});
  CHECK(a.count == 1);
  CHECK(b.first == a.first + 1);
}

TEST_CASE("block_source: nothing past the end of the id space", "[id_allocator]") {
  block_source src{10, max_id - 15};
  auto a = src.next();
  REQUIRE(a);
  CHECK(a->first == max_id - 15);
  CHECK(a->count == 10);
  // The next block would run past the u32 limit and wrap onto low ids.
  CHECK_FALSE(src.next().has_value());
  CHECK_FALSE(src.next(1000).has_value());
  // A request for the whole space can never be met.
  block_source fresh{10, 1};
  CHECK_FALSE(fresh.next(max_id).has_value());
  CHECK(fresh.next()->first == 1);
}

TEST_CASE("id_allocator: each id of the block once - then nothing", "[id_allocator]") {
  id_allocator ids;
  CHECK(ids.remaining() == 0);
  CHECK_FALSE(ids.next().has_value());

  ids.refill(id_block{100, 3});
  CHECK(ids.remaining() == 3);
  CHECK(ids.next() == context_id{100});
  CHECK(ids.next() == context_id{101});
  CHECK(ids.remaining() == 1);
  CHECK(ids.next() == context_id{102});
  CHECK(ids.remaining() == 0);
  CHECK_FALSE(ids.next().has_value());
  CHECK_FALSE(ids.next().has_value());
}

TEST_CASE("id_allocator: refill replaces the block", "[id_allocator]") {
  id_allocator ids;
  ids.refill(id_block{1, 5});
  REQUIRE(ids.next() == context_id{1});
  // A refill mid-block drops the rest: the new block is the whole truth.
  ids.refill(id_block{500, 2});
  CHECK(ids.remaining() == 2);
  CHECK(ids.next() == context_id{500});
  CHECK(ids.next() == context_id{501});
  CHECK_FALSE(ids.next().has_value());
  ids.refill(id_block{900, 1});
  CHECK(ids.next() == context_id{900});
}

TEST_CASE("id_allocator: fed from a block_source - ids never repeat", "[id_allocator]") {
  block_source src{4, 1};
  id_allocator ids;
  std::vector<context_id> seen;
  for (int i = 0; i < 50; ++i) {
    auto id = ids.next();
    if (!id) {
      auto b = src.next();
      REQUIRE(b);
      ids.refill(*b);
      id = ids.next();
    }
    REQUIRE(id);
    seen.push_back(*id);
  }
  for (std::size_t i = 0; i < seen.size(); ++i)
    CHECK(seen[i] == i + 1);
}

TEST_CASE("block_source: concurrent callers never get overlapping blocks",
          "[id_allocator]") {
  constexpr int threads = 4;
  constexpr int per_thread = 2000;
  block_source src{7, 1};
  std::vector<std::vector<id_block>> got(threads);
  std::vector<std::thread> pool;
  for (int t = 0; t < threads; ++t)
    pool.emplace_back([&src, &mine = got[t], t] {
      // Mixed sizes so overlaps cannot hide behind equal strides.
      for (int i = 0; i < per_thread; ++i) {
        auto b = src.next(i % 3 == 0 ? 0 : static_cast<std::uint32_t>(t + 1));
        if (b)
          mine.push_back(*b);
      }
    });
  for (auto& th : pool)
    th.join();

  std::vector<id_block> all;
  for (const auto& v : got) {
    CHECK(v.size() == per_thread);
    all.insert(all.end(), v.begin(), v.end());
  }
  std::sort(all.begin(), all.end(),
            [](const id_block& a, const id_block& b) { return a.first < b.first; });
  REQUIRE(all.size() == threads * per_thread);
  CHECK(all.front().first == 1);
  // Sorted by start, each block must begin exactly where the previous one
  // ends: no overlap and no gap.
  std::size_t bad = 0;
  for (std::size_t i = 1; i < all.size(); ++i)
    if (all[i].first != all[i - 1].first + all[i - 1].count)
      ++bad;
  CHECK(bad == 0);
}
