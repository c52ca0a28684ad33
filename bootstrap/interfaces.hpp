// Typed actor handles and atoms of the bootstrap subsystem.
#pragma once

#include <cstdint>
#include <string>
#include <tuple>
#include <vector>

#include <caf/atom.hpp>
#include <caf/fwd.hpp>
#include <caf/replies_to.hpp>

namespace mitosis::bootstrap {

using spawn_atom = caf::atom_constant<caf::atom("spawn")>;
using remote_atom = caf::atom_constant<caf::atom("remote")>;
using spans_atom = caf::atom_constant<caf::atom("spans")>;

/// When one start by a stage-1 method ran on its worker (steady clock,
/// nanoseconds since its epoch, comparable across the threads of a host).
struct start_span {
  std::string name;
  std::int64_t begin_ns = 0;
  std::int64_t end_ns = 0;
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, start_span& x) {
  return f(x.name, x.begin_ns, x.end_ns);
}

/// The spawner starts every child of this process.
/// - spawn, boot, pipes: a local child, forked from the spawner's own
///   long-lived thread (so PR_SET_PDEATHSIG stays armed), its stream
///   registered; answers (stream id, pid, error text);
/// - spawn, remote, spec, boot, deadline: a child by a stage-1 method
///   (ssh, sudo, shell, ...), run on a detached worker of its own so that
///   starts fan out in parallel; spec and boot are encoded
///   (serialization::encode_into), the deadline is steady-clock
///   nanoseconds; answers (stream id, pid, bundle installed, errc code,
///   error text), code 0 on success;
/// - spans: the last stage-1 starts' spans (most recent last).
using spawner_actor = caf::typed_actor<
  caf::replies_to<spawn_atom, std::vector<char>, bool>::with<std::uint32_t, std::int32_t,
                                                            std::string>,
  caf::replies_to<spawn_atom, remote_atom, std::vector<char>, std::vector<char>,
                  std::int64_t>::with<std::uint32_t, std::int32_t, bool, std::uint8_t,
                                      std::string>,
  caf::replies_to<spans_atom>::with<std::vector<start_span>>>;

} // namespace mitosis::bootstrap
