// Actor ids (actors/actor_ids.cpp): mitosis's next_actor_id gives every
// actor of the program an id that is not countable, below 2^62, so that
// CAF's order of actor addresses (by the difference of ids) holds.
#include "mitosis/actors/actor_ids.hpp"

#include <caf/actor_system.hpp>
#include <caf/actor_system_config.hpp>
#include <caf/event_based_actor.hpp>
#include <caf/scoped_actor.hpp>
#include <caf/send.hpp>
#include <catch2/catch.hpp>
#include <set>
#include <vector>

TEST_CASE("actor ids: not countable, below 2^62, and ordered addresses hold", "[actor_ids]") {
  caf::actor_system_config cfg;
  caf::actor_system sys{cfg};
  std::vector<caf::actor> xs;
  for (int i = 0; i < 300; ++i)
    xs.push_back(sys.spawn([]() -> caf::behavior { return {[](int x) { return x; }}; }));
  caf::scoped_actor self{sys}; // made inside libcaf_core: its id is ours too
  CHECK(mitosis::actors::actor_ids_unguessable(sys));
  std::set<caf::actor_addr> ordered;
  std::set<caf::actor_id> ids{self->id()};
  int close_neighbours = 0;
  for (std::size_t i = 0; i < xs.size(); ++i) {
    const auto id = xs[i].id();
    CHECK(id != caf::invalid_actor_id);
    CHECK(id <= mitosis::actors::max_actor_id);
    ids.insert(id);
    ordered.insert(xs[i].address());
    if (i > 0) {
      const auto prev = xs[i - 1].id();
      if ((id > prev ? id - prev : prev - id) < (std::uint64_t{1} << 32))
        ++close_neighbours;
    }
  }
  CHECK(self->id() <= mitosis::actors::max_actor_id);
  CHECK(ids.size() == xs.size() + 1);
  CHECK(close_neighbours == 0);
  // A std::set of addresses finds each: CAF's compare keeps its sign.
  CHECK(ordered.size() == xs.size());
  for (const auto& x : xs)
    CHECK(ordered.count(x.address()) == 1);
  for (const auto& x : xs)
    caf::anon_send_exit(x, caf::exit_reason::user_shutdown);
}
