// The per-process runtime shared by the master and every agent: composes the
// router, the actor system (policy and spawner actors), the worker pool and
// the services, each of which registers the wire types it handles. It also
// owns the process's lifecycle (serving until told to stop, shutdown).
#pragma once

#include <condition_variable>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>

#include "async_spawner.hpp"
#include "dispatcher.hpp"
#include "interfaces.hpp"
#include "pending_calls.hpp"
#include "services/actor_service.hpp"
#include "services/call_service.hpp"
#include "services/channel_service.hpp"
#include "services/core.hpp"
#include "services/blob_service.hpp"
#include "services/file_service.hpp"
#include "services/push_service.hpp"
#include "services/id_service.hpp"
#include "services/lifecycle_service.hpp"
#include "services/log_service.hpp"
#include "services/module_service.hpp"
#include "services/rules_service.hpp"
#include "services/start_service.hpp"
#include "services/stats_service.hpp"
#include "../bootstrap/interfaces.hpp"
#include "../policy/interfaces.hpp"
#include "../router/router.hpp"

namespace mitosis::actors {

class runtime final : public router::delivery {
public:
  /// The master's runtime (context id 0, no parent).
  explicit runtime(router::options opts);

  /// An agent's runtime, serving the parent on `in`/`out`. Its stdout and
  /// stderr go to the master's log from before it serves anything
  /// (log_service::capture_output) until shutdown().
  runtime(router::options opts, const serialization::boot_info& boot, router::unique_fd in,
          router::unique_fd out);

  ~runtime() override;

  /// Returns this process's agent runtime (nullptr in the master). Set
  /// before the runtime serves anything, so calls it runs can use it.
  static runtime* agent() noexcept;

  /// Returns the runtime of this process: the agent's, else the first
  /// master's still alive (nullptr before any). Code running in a context
  /// (a called function, an actor) reaches its own context through it.
  static runtime* current() noexcept;

  runtime(const runtime&) = delete;
  runtime& operator=(const runtime&) = delete;

  router::context_id self() const noexcept {
    return router_.config().self;
  }
  const std::string& name() const noexcept {
    return router_.config().name;
  }
  const router::options& options() const noexcept {
    return router_.opts();
  }
  router::router& routes() noexcept {
    return router_;
  }
  pending_calls& pending() noexcept {
    return pending_;
  }
  /// What the services share: requests, names and losses of contexts.
  services::core& core() noexcept {
    return core_;
  }
  services::start_service& starts() noexcept {
    return starts_;
  }
  services::rules_service& rules() noexcept {
    return rules_;
  }
  services::file_service& files() noexcept {
    return files_;
  }
  /// Pushed content by sha256: the pusher's offers, the per-hop cache.
  services::blob_service& blobs() noexcept {
    return blobs_;
  }
  /// Writing pushed files (the target side) and sending pushes.
  services::push_service& pushes() noexcept {
    return pushes_;
  }
  services::module_service& modules() noexcept {
    return modules_;
  }
  /// The counters of this context and (by request) of others.
  services::stats_service& stats() noexcept {
    return stats_;
  }
  services::actor_service& actors() noexcept {
    return actors_;
  }
  /// The receivers of this process (actors/channel.hpp).
  services::channel_service& channels() noexcept {
    return channels_;
  }
  /// Shutdown and disconnect of single contexts, detaching this process.
  services::lifecycle_service& lifecycle() noexcept {
    return lifecycle_;
  }
  /// Whether shutdown() has begun: nothing new may start here.
  bool shutting_down() noexcept;
  /// Runs blocking spawns off the caller's thread (context::spawn_async).
  async_spawner& async_spawns() noexcept {
    return *async_;
  }
  /// The process's actor system (remote actors live in it).
  caf::actor_system& system() noexcept;

  // -- the actor faces (docs/architecture.md, "Actor faces") -----------------

  /// Route events, routing table, counters, connection actors.
  router::router_actor router_actor() const;
  /// The only writer of the rules.
  policy::policy_actor policy_actor() const;
  /// Starts every child of this process.
  bootstrap::spawner_actor spawner_actor() const;
  /// The actor of context `id` (made on first use; exited if it is lost).
  context_actor context_actor_of(router::context_id id, const std::string& name);

  /// How many times this process sent its bundle to a target (cold starts).
  int bundles_sent() const noexcept {
    return starts_.bundles_sent();
  }
  /// How many module requests this context has answered with the module.
  int modules_served() const noexcept {
    return modules_.served();
  }

  /// Blocks until the parent is gone or asked us to stop (agents).
  void wait_for_shutdown();

  /// Stops children gracefully, then kills what remains; stops the router.
  void shutdown();

  // -- router::delivery ------------------------------------------------------

  void lost(const std::vector<router::context_id>& ids, const std::string& reason) override;
  void parent_lost(const std::string& reason) override;
  void handshake_done(router::stream_id s, router::context_id peer,
                      const std::string& error) override;

private:
  struct caf_part;

  runtime(router::router_config who, router::options opts, policy::rules initial);
  void serve_parent(router::unique_fd in, router::unique_fd out);
  void request_shutdown();

  router::router router_;
  pending_calls pending_;
  dispatcher pool_;
  std::unique_ptr<caf_part> caf_;
  services::core core_;
  services::id_service ids_;
  services::log_service logs_;
  services::rules_service rules_;
  services::module_service modules_;
  services::call_service calls_;
  services::stats_service stats_;
  services::file_service files_;
  services::blob_service blobs_;
  services::push_service pushes_;
  services::start_service starts_;
  services::actor_service actors_;
  services::channel_service channels_;
  services::lifecycle_service lifecycle_;
  std::unique_ptr<async_spawner> async_;
  // A detached agent whose parent is gone: waits for the pool to be idle.
  std::thread idle_stop_;

  std::mutex stop_mtx_;
  std::condition_variable stop_cv_;
  bool stop_requested_ = false;
  // detach(): the main thread clears its parent-death signal (0 none, 1
  // asked, 2 done).
  int detach_step_ = 0;
  bool shut_down_ = false;
};

} // namespace mitosis::actors
