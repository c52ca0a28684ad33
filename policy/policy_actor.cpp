#include "policy_actor.hpp"

#include <caf/actor_system.hpp>
#include <caf/typed_event_based_actor.hpp>
#include <spdlog/spdlog.h>

#include "../serialization/log.hpp"

namespace mitosis::policy {

namespace {

struct policy_state {
  std::shared_ptr<const rules> current;
  static inline const char* name = "mitosis.policy";
};

policy_actor::behavior_type policy_behavior(policy_actor::stateful_pointer<policy_state> self,
                                            publish_fn publish,
                                            std::shared_ptr<const rules> initial) {
  self->state.current = std::move(initial);
  return {
    [=](set_rules_atom, const std::vector<char>& encoded) -> bool {
      try {
        self->state.current = std::make_shared<const rules>(rules::decode(encoded));
      } catch (const std::exception& e) {
        log::get("policy")->error("rejected new rules: {}", e.what());
        return false;
      }
      publish(self->state.current);
      log::get("policy")->debug("published new rules");
      return true;
    },
    [=](get_rules_atom) { return self->state.current->encode(); },
  };
}

} // namespace

policy_actor spawn_policy_actor(caf::actor_system& sys, publish_fn publish, rules initial) {
  // Published here, on the caller's thread, before the router starts: the
  // actor's first run may come much later (an idle scheduler worker sleeps
  // up to relaxed-sleep-duration), and a publish from there could put the
  // initial rules back over a rules_update applied in the meantime.
  auto first = std::make_shared<const rules>(std::move(initial));
  publish(first);
  return sys.spawn(policy_behavior, std::move(publish), std::move(first));
}

} // namespace mitosis::policy
