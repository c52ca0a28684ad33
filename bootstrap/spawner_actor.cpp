#include "spawner_actor.hpp"

#include <caf/actor_system.hpp>
#include <caf/typed_event_based_actor.hpp>

#include "local_method.hpp"
#include "../router/router.hpp"

namespace mitosis::bootstrap {

namespace {

spawner_actor::behavior_type spawner_behavior(spawner_actor::pointer, router::router* r) {
  return {
    [=](spawn_atom, const std::vector<char>& encoded, bool pipes)
      -> std::tuple<std::uint32_t, std::int32_t, std::string> {
      serialization::boot_info boot;
      try {
        serialization::decode_exact(encoded.data(), encoded.size(), boot);
        auto child = start_local(boot, pipes ? local_transport::pipes
                                             : local_transport::socketpair);
        auto sid = attach_child(*r, boot, child.pid, std::move(child.rfd), std::move(child.wfd));
        return {sid, child.pid, std::string{}};
      } catch (const std::exception& e) {
        return {0u, 0, std::string{e.what()}};
      }
    },
  };
}

} // namespace

spawner_actor spawn_spawner_actor(caf::actor_system& sys, router::router& r) {
  return sys.spawn<caf::detached>(spawner_behavior, &r);
}

} // namespace mitosis::bootstrap
