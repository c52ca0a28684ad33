// Starting contexts: a child of this process by any connection method
// (all through the spawner actor: local ones on its thread, stage-1 ones on
// a detached worker each),
// a context started by another context on our behalf (via chains:
// spawn_request / spawn_reply, on threads of their own: the call pool stays
// free while they wait for a hello), the wait for each new child's hello, and
// the children's pids for shutdown.
#pragma once

#include <atomic>
#include <condition_variable>
#include <functional>
#include <future>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <unordered_map>
#include <vector>

#include "core.hpp"
#include "id_service.hpp"
#include "rules_service.hpp"
#include "../../bootstrap/method.hpp"

namespace mitosis::actors::services {

/// A context started by this process (or through it).
struct child_info {
  router::context_id id = 0;
  std::string name;
  int pid = 0;
  /// A child of this process (its pid is ours to wait for); false for one
  /// started through another context.
  bool direct = false;
};

/// A child started and registered with the router, before its hello.
struct local_child {
  router::stream_id stream = 0;
  /// The local program started (the child itself, sudo, sh, ...); 0 for ssh.
  int pid = 0;
  /// This program's bundle was sent to the target (a cold start).
  bool installed = false;
};

class start_service {
public:
  /// Starts the child `boot` describes by `spec` and registers its stream,
  /// within `deadline`: the spawner actor (a local child from its own
  /// long-lived thread, since PR_SET_PDEATHSIG follows the thread that
  /// created the child; any other method on a detached worker).
  using starter = std::function<expected<local_child>(
    const bootstrap::method_spec& spec, const serialization::boot_info& boot,
    clock::time_point deadline)>;

  start_service(core& c, id_service& ids, rules_service& rules, starter start_child);

  /// Starts a context by any connection method and waits for its hello;
  /// `timeout` covers connect, auth, bootstrap and handshake. A failure's
  /// context is the new context's name, its reason the cause alone.
  expected<child_info> start(const bootstrap::method_spec& spec, std::chrono::milliseconds timeout);

  /// Asks context `via` to start a context by `spec` from there. A
  /// failure's context is the hop chain ("h4 via ssh:h1").
  expected<child_info> start_via(router::context_id via, const std::string& via_name,
                                 const bootstrap::method_spec& spec,
                                 std::chrono::milliseconds timeout);

  /// The key under which a context started by `spec` through `via` (0:
  /// from here) is reused: the encoded spec (method, target, user, name,
  /// every setting) and the via context's id, which names the whole hop
  /// chain. Empty (never reused) for a `local` spec without a name.
  static std::string reuse_key(const bootstrap::method_spec& spec, router::context_id via);

  /// Returns the context started under `key` (reuse_key) when it is still
  /// running, waiting for it when its start is under way; else runs
  /// `start` and keeps what it started under `key`. An empty key: `start`.
  expected<child_info> reuse(const std::string& key,
                             const std::function<expected<child_info>()>& start);

  /// Context `id`, a direct child, has detached: it is no longer asked to
  /// stop nor killed when this process stops.
  void detached(router::context_id id);

  /// Hello read from (or refused by) the child `peer`.
  void handshake_done(router::context_id peer, const std::string& error);

  /// How many times this process sent its bundle to a target (cold starts).
  int bundles_sent() const noexcept {
    return bundles_sent_.load();
  }

  /// The contexts this process started (itself or through a `via`
  /// context), in the order they started.
  std::vector<child_info> children();

  /// Asks every direct child to stop, waits up to `grace` for the local
  /// ones to exit, then kills what remains.
  void stop_children(std::chrono::milliseconds grace);

  /// Ends the starts asked for by other contexts (spawn_request): the
  /// waits for a hello end with shutting_down, the start threads are
  /// joined, and later requests are answered shutting_down. Called once
  /// the router has stopped.
  void stop();

  /// How many starts asked for by other contexts run at once; more wait
  /// in turn. Their threads are made as the starts come (one per start
  /// that finds none idle), not all with the first.
  static constexpr std::size_t parallel_starts = 32;

private:
  void on_spawn_request(serialization::frame&& f);
  /// Contexts `ids` are lost: they leave children_, and their pids leave
  /// child_pids_ once reaped, so that a program that starts and loses
  /// children forever does not grow. A local child not dead yet (its
  /// stream closes before it becomes a zombie) goes to unreaped_.
  void forget(const std::vector<router::context_id>& ids);
  /// Reaps local child `pid` now if it is dead, or else puts it in
  /// unreaped_ (and starts reap_lost).
  void reap(int pid);
  /// A job on the start pool while unreaped_ is not empty: reaps them as
  /// they die (every 1 ms at first, backing off to 100 ms), so that lost
  /// children do not stay zombies until shutdown.
  void reap_lost();
  /// The threads of the starts asked for by other contexts, made on
  /// demand (a context that never starts one for another pays nothing, one
  /// that starts one at a time has one); nullptr after stop().
  dispatcher* start_pool();

  core& core_;
  id_service& ids_;
  rules_service& rules_;
  starter start_child_;
  std::atomic<int> bundles_sent_{0};
  std::mutex mtx_;
  std::unordered_map<router::context_id, std::promise<expected<void>>> handshakes_;
  std::vector<int> child_pids_;
  std::vector<child_info> children_;
  std::set<router::context_id> detached_;
  std::unique_ptr<dispatcher> start_pool_; // guarded by mtx_
  bool stopped_ = false;                    // guarded by mtx_
  std::vector<int> unreaped_;               // lost, not reaped; guarded by mtx_
  bool reaping_ = false;                    // reap_lost runs; guarded by mtx_
  std::condition_variable reap_cv_;         // wakes reap_lost at stop()
  std::unordered_map<std::string, std::shared_future<expected<child_info>>> reusable_;
};

} // namespace mitosis::actors::services
