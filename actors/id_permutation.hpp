// Ids that are unique like a counter's but cannot be counted: a counter put
// through a permutation of the 32-bit (or 64-bit) numbers keyed at random
// when the process starts (a 4-round Feistel network). Receiver ids, call
// reply handles and actor ids are made this way, so that a context that may
// send frames here cannot find the ones it was not given by counting from
// one it was: a blind guess hits one of n live ids with odds n / 2^32 (or
// n / 2^62 for actor ids, actor_ids.cpp) per frame.
#pragma once

#include <cstddef>
#include <cstdint>
#include <type_traits>

namespace mitosis::actors {

/// Fills `n` bytes at `out` from the kernel (getrandom); where it has none
/// (Linux before 3.17), from the clock and the pid.
void random_keys(void* out, std::size_t n) noexcept;

/// A permutation of the numbers of type `T` (std::uint32_t or
/// std::uint64_t), keyed at random on construction.
template <class T>
class id_permutation {
  static_assert(std::is_same_v<T, std::uint32_t> || std::is_same_v<T, std::uint64_t>);
  using half = std::conditional_t<std::is_same_v<T, std::uint32_t>, std::uint16_t, std::uint32_t>;
  static constexpr int half_bits = sizeof(half) * 8;

public:
  id_permutation() noexcept { random_keys(keys_, sizeof(keys_)); }

  T operator()(T x) const noexcept {
    auto l = static_cast<half>(x >> half_bits);
    auto r = static_cast<half>(x);
    for (auto k : keys_) {
      // The round function: the right half and the key mixed (splitmix64's
      // finaliser), its high bits into the left half.
      std::uint64_t v = (std::uint64_t{r} ^ k) * 0x9e3779b97f4a7c15ULL;
      v ^= v >> 29;
      v *= 0xbf58476d1ce4e5b9ULL;
      v ^= v >> 32;
      const auto next = static_cast<half>(l ^ static_cast<half>(v));
      l = r;
      r = next;
    }
    return static_cast<T>((static_cast<T>(l) << half_bits) | r);
  }

private:
  std::uint64_t keys_[4] = {};
};

} // namespace mitosis::actors
