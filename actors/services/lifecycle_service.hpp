// The lifecycle of one context, seen from any process of the tree: asking
// it to stop (shutdown, which runs its at-exit path: its children first),
// closing the stream to a direct child (disconnect), and detaching this
// process, so that it no longer stops or dies with its parent. Loss
// callbacks are core::on_lost.
#pragma once

#include <atomic>
#include <functional>
#include <optional>
#include <string>

#include "core.hpp"
#include "start_service.hpp"

namespace mitosis::actors::services {

class lifecycle_service {
public:
  /// Registers the handlers of `shutdown` (from an ancestor: `stop()`, this
  /// process's own graceful stop) and `detaching` (from a direct child).
  /// `main_thread_detach` runs on the agent's main thread what only that
  /// thread can do (clear its parent-death signal, which is per thread)
  /// and returns once it has.
  lifecycle_service(core& c, start_service& starts, std::function<void()> stop,
                    std::function<void()> main_thread_detach);

  /// Sends `shutdown` to context `id` (named `name`); with `until`, waits
  /// for its loss until then (a timeout failure after). The context stops
  /// its own children, then exits; a context lost already is done. Of this
  /// process: stops it (an agent), or refuses (the master: see
  /// master::shutdown).
  expected<void> shutdown(router::context_id id, const std::string& name,
                          std::optional<clock::time_point> until);

  /// Closes the stream to `id`, a direct child (or, in an agent, the
  /// parent): the peer then exits as it does when its parent dies (unless
  /// detached). A failure (no_route) for any other context.
  expected<void> disconnect(router::context_id id, const std::string& name);

  /// Detaches this process (an agent) from its parent: no parent-death
  /// signal, a session of its own, stdin, stdout and stderr on /dev/null,
  /// and the parent is told (`detaching`) not to stop or kill it. Once the
  /// parent stream is gone the agent runs until no call is left running.
  expected<void> detach();

  /// Whether this process has detached.
  bool detached() const noexcept {
    return detached_.load();
  }

private:
  bool from_ancestor(router::context_id src) const;

  core& core_;
  start_service& starts_;
  std::function<void()> stop_;
  std::function<void()> main_thread_detach_;
  std::atomic<bool> detached_{false};
};

} // namespace mitosis::actors::services
