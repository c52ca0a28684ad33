// Actor ids that are capabilities. CAF numbers the actors of a system 1, 2,
// 3, ... and other contexts address our actors by that id (actor_message's
// `dst`, a handle inside a message): with sequential ids, a context that
// knows one of our actors finds the others by counting. So mitosis defines
// caf::actor_system::next_actor_id() itself: every spawn calls it through
// the dynamic linker (libcaf_core's own calls included), and a definition in
// the program takes precedence over the library's. Ids are a process-wide
// counter put through a randomly keyed permutation of the numbers below
// 2^62 (the 64-bit permutation, walked until it lands there): unique like a
// counter's, found by a blind guess with odds n / 2^62. Not the whole 64
// bits: CAF orders actor addresses by `id1 - id2` as a signed number
// (actor_addr::compare), which keeps its sign only while ids stay below
// 2^62.
#include "actor_ids.hpp"

#include <atomic>

#include <caf/actor_system.hpp>

#include "id_permutation.hpp"

namespace {

std::atomic<std::uint64_t> spawned{0};

} // namespace

caf::actor_id caf::actor_system::next_actor_id() {
  static const mitosis::actors::id_permutation<std::uint64_t> permute;
  for (;;) {
    // Cycle-walking: the first value of x's orbit under the permutation
    // that is in range is a permutation of the range (x is: a counter).
    auto id = permute(spawned.fetch_add(1, std::memory_order_relaxed) + 1);
    while (id > mitosis::actors::max_actor_id)
      id = permute(id);
    if (id != caf::invalid_actor_id) // never 0: then the next count
      return id;
  }
}

namespace mitosis::actors {

bool actor_ids_unguessable(const caf::actor_system& sys) {
  // CAF's own next_actor_id() counts in the system; ours leaves it at 0.
  return sys.latest_actor_id() == 0;
}

} // namespace mitosis::actors
