// Unit tests of the actor type registry (MITOSIS_ACTOR), the mitosis error
// category in CAF's error system, and the node id a context's system gets:
// all inside one actor system, without other processes.
#include "mitosis/actors/actor_registry.hpp"

#include <caf/actor_system_config.hpp>
#include <caf/event_based_actor.hpp>
#include <caf/node_id.hpp>
#include <caf/send.hpp>
#include <caf/typed_event_based_actor.hpp>
#include <catch2/catch.hpp>

#include "mitosis/actors/services/actor_service.hpp"

using mitosis::actors::actor_registry;

namespace {

using doubler = caf::typed_actor<caf::replies_to<int>::with<int>>;

caf::behavior unit_dynamic(caf::event_based_actor*, std::string) {
  return {[](int x) { return x; }};
}

doubler::behavior_type unit_typed(doubler::pointer, int factor) {
  return {[factor](int x) { return x * factor; }};
}

} // namespace

MITOSIS_ACTOR("unit.dynamic", unit_dynamic);
MITOSIS_ACTOR("unit.typed", unit_typed);

TEST_CASE("actor registry: types by name, their interface, spawn from a message", "[actors]") {
  caf::actor_system_config cfg;
  caf::actor_system sys{cfg};
  auto& reg = actor_registry::instance();
  CHECK(reg.find("unit.nobody") == nullptr);
  auto* dyn = reg.find("unit.dynamic");
  auto* typed = reg.find("unit.typed");
  REQUIRE(dyn != nullptr);
  REQUIRE(typed != nullptr);
  CHECK(dyn->interface(sys).empty());
  CHECK(typed->interface(sys) == sys.message_types<doubler>());
  CHECK_FALSE(typed->interface(sys).empty());

  // A second registration under a taken name is refused.
  CHECK_FALSE(reg.add({"unit.typed", dyn->spawn, dyn->interface}));
  CHECK(reg.find("unit.typed")->interface(sys) == sys.message_types<doubler>());

  // Arguments must match the parameters after the self pointer.
  CHECK(typed->spawn(sys, caf::make_message(std::string{"no"}), nullptr) == nullptr);
  CHECK(typed->spawn(sys, caf::make_message(1, 2), nullptr) == nullptr);
  CHECK(typed->spawn(sys, caf::message{}, nullptr) == nullptr);
  CHECK(dyn->spawn(sys, caf::make_message(3), nullptr) == nullptr);
  auto a = typed->spawn(sys, caf::make_message(3), nullptr);
  REQUIRE(a != nullptr);
  auto b = dyn->spawn(sys, caf::make_message(std::string{"x"}), nullptr);
  REQUIRE(b != nullptr);
  caf::anon_send_exit(caf::actor_cast<caf::actor>(a), caf::exit_reason::user_shutdown);
  caf::anon_send_exit(caf::actor_cast<caf::actor>(b), caf::exit_reason::user_shutdown);
}

TEST_CASE("actor registry: mitosis errors in CAF's error system", "[actors]") {
  caf::actor_system_config cfg;
  mitosis::actors::add_error_category(cfg);
  caf::actor_system sys{cfg};
  auto e = mitosis::make_error(mitosis::errc::context_lost, "stream to 'c' closed");
  CHECK(e == mitosis::errc::context_lost);
  CHECK(e != mitosis::errc::timeout);
  CHECK(e.category() == mitosis::error_category);
  CHECK(sys.render(e) == "mitosis::context lost: stream to 'c' closed");
  CHECK(sys.render(mitosis::make_error(mitosis::errc::timeout)) == "mitosis::deadline expired");
}

TEST_CASE("actor registry: a context's system has a node id that names the context",
          "[actors]") {
  caf::actor_system_config cfg;
  caf::actor_system sys{cfg};
  using mitosis::actors::services::actor_service;
  CHECK_FALSE(sys.node()); // no middleman: no node id
  CHECK_FALSE(actor_service::context_of(sys.node()));
  actor_service::use_context_node_id(sys, 42);
  REQUIRE(sys.node());
  CHECK(actor_service::context_of(sys.node()) == 42u);
  // The master's id too: CAF takes a node id with process id 0 for none.
  for (mitosis::router::context_id id : {0u, 1u, 0xffffffffu}) {
    caf::actor_system_config other_cfg;
    caf::actor_system other{other_cfg};
    actor_service::use_context_node_id(other, id);
    CHECK(other.node() != caf::none);
    CHECK(actor_service::context_of(other.node()) == id);
    CHECK(other.node() != sys.node());
  }
  // Actors spawned afterwards carry it.
  auto a = sys.spawn([](caf::event_based_actor*) -> caf::behavior { return {[](int) {}}; });
  CHECK(a->node() == sys.node());
  caf::anon_send_exit(a, caf::exit_reason::user_shutdown);
}

TEST_CASE("actor registry: a typed actor's handle type is a message type and readable", "[actors]") {
  caf::actor_system_config cfg;
  actor_registry::instance().configure(cfg);
  caf::actor_system sys{cfg};
  auto& reg = actor_registry::instance();
  // Registered with CAF under the type's name, so it can be serialised.
  CHECK(sys.types().portable_name(0, &typeid(doubler)) == "mitosis.handle<unit.typed>");
  auto a = caf::actor_cast<doubler>(reg.find("unit.typed")->spawn(sys, caf::make_message(2), nullptr));
  REQUIRE(a);
  auto ptr = reg.handle_in(typeid(doubler), &a);
  CHECK(ptr == caf::actor_cast<caf::strong_actor_ptr>(a));
  CHECK(reg.handle_in(typeid(int), &a) == nullptr); // not a handle type
  caf::anon_send_exit(a, caf::exit_reason::user_shutdown);
}
