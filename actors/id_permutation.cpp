#include "id_permutation.hpp"

#include <chrono>
#include <cstring>

#include <sys/random.h>
#include <unistd.h>

namespace mitosis::actors {

void random_keys(void* out, std::size_t n) noexcept {
  if (::getrandom(out, n, GRND_NONBLOCK) == static_cast<ssize_t>(n))
    return;
  auto seed = static_cast<std::uint64_t>(std::chrono::steady_clock::now().time_since_epoch().count())
              ^ (static_cast<std::uint64_t>(::getpid()) << 32);
  auto* p = static_cast<unsigned char*>(out);
  for (std::size_t at = 0; at < n; at += sizeof(std::uint64_t)) {
    // splitmix64
    auto z = (seed += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    z ^= z >> 31;
    std::memcpy(p + at, &z, n - at < sizeof(z) ? n - at : sizeof(z));
  }
}

} // namespace mitosis::actors
