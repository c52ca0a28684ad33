// Actor types the integration tests spawn in their contexts (registered in
// test_actors.cpp, which every started copy of the test binary has too).
#pragma once

#include <caf/atom.hpp>
#include <caf/meta/type_name.hpp>
#include <string>
#include <caf/replies_to.hpp>
#include <caf/typed_actor.hpp>

using pid_atom = caf::atom_constant<caf::atom("pid")>;
using quit_atom = caf::atom_constant<caf::atom("quit")>;
using tell_atom = caf::atom_constant<caf::atom("tell")>;
using hang_atom = caf::atom_constant<caf::atom("hang")>;
using subscribe_atom = caf::atom_constant<caf::atom("subscribe")>;
using watch_atom = caf::atom_constant<caf::atom("watch")>;
using watched_atom = caf::atom_constant<caf::atom("watched")>;
using link_me_atom = caf::atom_constant<caf::atom("linkme")>;
using unlink_me_atom = caf::atom_constant<caf::atom("unlinkme")>;
using ask_atom = caf::atom_constant<caf::atom("ask")>;
using flood_atom = caf::atom_constant<caf::atom("flood")>;
using count_atom = caf::atom_constant<caf::atom("count")>;

/// A user type in messages (registered with MITOSIS_ACTOR_MESSAGE_TYPE).
struct point {
  int x = 0;
  int y = 0;
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, point& p) {
  return f(caf::meta::type_name("point"), p.x, p.y);
}

/// "test.adder": adds its two arguments and the offset it was spawned with.
using adder = caf::typed_actor<caf::replies_to<int, int>::with<int>>;

/// An interface no registered type implements.
using concatenator = caf::typed_actor<caf::replies_to<std::string, std::string>::with<std::string>>;

namespace mitosis {
class context;
}

/// A remote function (actor_policy_test.cpp): spawns `type` in context
/// `where`, tied to the caller's context or detached; returns "spawned
/// <actor id>" or "refused <errc>: <what>".
std::string spawn_in(mitosis::context where, std::string type, bool detached);
