// samples/actor_tree: what the supervisor (master), the workers (children)
// and the sub-workers (grandchildren) share.
#pragma once

#include <caf/actor.hpp>
#include <caf/atom.hpp>
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "mitosis/mitosis.hpp"

namespace tree {

using count_atom = caf::atom_constant<caf::atom("count")>;
using setup_atom = caf::atom_constant<caf::atom("setup")>;
using sub_atom = caf::atom_constant<caf::atom("sub")>;
using run_atom = caf::atom_constant<caf::atom("run")>;

/// Whitespace-separated words in the file at `path` (0 if unreadable).
std::uint64_t count_words(const std::string& path);

/// Every regular file below `dir`, sorted.
std::vector<std::string> list_files(const std::string& dir);

/// What the supervisor needs from main.
struct plan {
  /// The files of each worker's share.
  std::vector<std::vector<std::string>> shares;
  /// Sub-workers per worker.
  int subs = 2;
  /// Starts the context of worker `i` (again after a loss): local, or ssh.
  std::function<mitosis::context(int i, int generation)> start_worker;
  /// The worker whose context is killed once the work is handed out (-1: none).
  int victim = 1;
};

/// The outcome the supervisor answers run_atom with.
struct totals {
  std::uint64_t words = 0;
  std::uint64_t files = 0;
};

/// Spawns the supervisor in `sys`; a request (run_atom) is answered with
/// (words, files) once every share is counted.
caf::actor spawn_supervisor(caf::actor_system& sys, const plan* p);

} // namespace tree
