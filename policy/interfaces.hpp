// Typed actor handles and atoms of the policy subsystem.
#pragma once

#include <cstdint>
#include <vector>

#include <caf/atom.hpp>
#include <caf/replies_to.hpp>
#include <caf/typed_actor.hpp>

namespace mitosis::policy {

using set_rules_atom = caf::atom_constant<caf::atom("setrules")>;
using get_rules_atom = caf::atom_constant<caf::atom("getrules")>;

/// The policy actor: holds the rules, publishes immutable snapshots to the
/// router. Rules travel encoded (rules::encode) so no type registration is
/// needed for them.
using policy_actor
  = caf::typed_actor<caf::replies_to<set_rules_atom, std::vector<char>>::with<bool>,
                     caf::replies_to<get_rules_atom>::with<std::vector<char>>>;

} // namespace mitosis::policy
