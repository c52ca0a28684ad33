// Spawns and starts that do not block their caller (context::spawn_async,
// start_local_async): a blocking context::spawn (start_local) runs on one of a few threads of this process, and its
// outcome goes to a std::promise (the future form) or, for actor code, to a
// helper actor that answers the actor's request with it, so the actor's
// thread never waits (docs/architecture.md, "Remote actors").
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>

#include <caf/fwd.hpp>

#include "dispatcher.hpp"

namespace mitosis::actors {

class async_spawner {
public:
  /// A blocking spawn or start: returns its outcome as the message the
  /// awaiting actor gets (the new actor's strong_actor_ptr; a new context's
  /// id and name) or throws (mitosis::error).
  using job = std::function<caf::message()>;

  explicit async_spawner(caf::actor_system& sys);
  ~async_spawner();

  async_spawner(const async_spawner&) = delete;
  async_spawner& operator=(const async_spawner&) = delete;

  /// Runs `fn` on one of the spawner's threads (started on first use).
  /// Returns false once stopped.
  bool run(std::function<void()> fn);

  /// Runs `j` on one of the spawner's threads and hands its outcome to the
  /// helper actor under the returned id (see helper()). Returns 0 once
  /// stopped.
  std::uint64_t start(job j);

  /// The helper actor: a request (await_spawn_atom, id) is answered with the
  /// message job `id` returned, or with its failure as a caf::error.
  /// Null once stopped.
  caf::actor helper();

  /// Drops the spawns not started, waits for those running, stops the
  /// helper (its waiting requesters get an error).
  void stop();

private:
  struct impl;
  /// The threads and the helper, made on first use (an idle context pays
  /// for neither); nullptr once stopped.
  impl* get();

  caf::actor_system& sys_;
  std::mutex mtx_;
  std::unique_ptr<impl> impl_;
  bool stopped_ = false;
};

} // namespace mitosis::actors
