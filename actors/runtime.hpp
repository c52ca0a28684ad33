// The per-process core shared by the master and every agent: actor system,
// router, policy, spawner, dispatcher and the table of calls in flight.
#pragma once

#include <chrono>
#include <condition_variable>
#include <atomic>
#include <future>
#include <map>
#include <set>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

#include "mitosis/actors/dispatcher.hpp"
#include "mitosis/bootstrap/method.hpp"
#include "mitosis/actors/file_service.hpp"
#include "mitosis/actors/pending_calls.hpp"
#include "mitosis/policy/rules.hpp"
#include "mitosis/router/id_allocator.hpp"
#include "mitosis/router/router.hpp"
#include "mitosis/serialization/messages.hpp"

namespace mitosis::actors {

/// Settings of one process's runtime.
struct runtime_options {
  std::string name = "master";
  /// Worker threads running incoming calls.
  std::size_t pool_threads = 4;
  std::uint32_t max_frame = serialization::default_max_frame_size;
  /// Covers process start and handshake of a new context.
  std::chrono::milliseconds connect_timeout{10000};
  /// spdlog level numbering (2 = info).
  int log_level = 2;
  /// Ids per block handed out by the master.
  std::uint32_t id_block = 1000;
  /// Policy violations from one stream before it is cut.
  std::uint32_t max_violations = 8;
  /// Contexts one child may announce behind itself.
  std::uint32_t max_routes_per_child = 1u << 16;
  /// How long shutdown waits for children before killing them.
  std::chrono::milliseconds shutdown_grace{1000};
};

/// A context started by this process (or through it).
struct child_info {
  router::context_id id = 0;
  std::string name;
  int pid = 0;
};

class runtime final : public router::delivery {
public:
  /// The master's runtime (context id 0, no parent).
  explicit runtime(runtime_options opts);

  /// An agent's runtime, serving the parent on `in`/`out`.
  runtime(runtime_options opts, const serialization::boot_info& boot, router::unique_fd in,
          router::unique_fd out);

  ~runtime() override;

  /// Returns this process's agent runtime (nullptr in the master). Set
  /// before the runtime serves anything, so calls it runs can use it.
  static runtime* agent() noexcept;

  runtime(const runtime&) = delete;
  runtime& operator=(const runtime&) = delete;

  router::context_id self() const noexcept {
    return router_.config().self;
  }
  const std::string& name() const noexcept {
    return router_.config().name;
  }
  router::router& routes() noexcept {
    return router_;
  }
  pending_calls& pending() noexcept {
    return pending_;
  }
  const runtime_options& options() const noexcept {
    return opts_;
  }

  /// Sends a request frame and returns the future of its reply. A frame that
  /// cannot leave this process resolves at once with a dead reply.
  std::future<serialization::frame> request(router::context_id dst, std::uint32_t handle,
                                            serialization::outgoing&& wire);

  /// Starts a context by any connection method and waits for its hello;
  /// `timeout` covers connect, auth, bootstrap and handshake. Throws
  /// connect_error (host_key_error, auth_error).
  child_info start(const bootstrap::method_spec& spec, std::chrono::milliseconds timeout);

  /// Asks context `via` to start a context by `spec` from there. Throws
  /// connect_error naming the hop chain.
  child_info start_via(router::context_id via, const std::string& via_name,
                       const bootstrap::method_spec& spec, std::chrono::milliseconds timeout);

  /// Returns why `id` was lost, if it was.
  std::optional<std::string> lost_reason(router::context_id id) const;

  /// Returns the name recorded for `id`, or "context <id>".
  std::string name_of(router::context_id id) const;

  /// Replaces this process's rules (through the policy actor).
  void set_rules(const policy::rules& r);

  /// Replaces the rules here and in every context below (rules_update
  /// frames, applied in order with the calls around them).
  void set_subtree_rules(const policy::rules& r);

  /// The paths this context serves to others (file rights).
  file_service& files() noexcept {
    return files_;
  }

  /// Copies the file `remote` that context `from` serves to `local`, in
  /// chunks of file_service::max_chunk with a window of `window` requests in
  /// flight (flow control). Throws policy_error when the path is not
  /// served there, error for other failures, context_lost.
  void fetch_file(router::context_id from, const std::string& from_name,
                  const std::string& remote, const std::string& local, int window = 4);

  /// Makes the plugin module in the shared object at `path` available to
  /// the contexts below (they fetch it on first use, by content hash).
  void add_module(const std::string& name, const std::string& path);

  /// Sends module `name` to context `to`, which loads it and passes it on
  /// to its own children.
  void push_module(router::context_id to, const std::string& name);

  /// How many times this process sent its bundle to a target (cold
  /// starts); a start that found the bundle cached does not count.
  int bundles_sent() const noexcept {
    return bundles_sent_.load();
  }

  /// How many module requests this context has answered with the module.
  int modules_served() const noexcept {
    return modules_served_.load();
  }

  /// Blocks until the parent is gone or asked us to stop (agents).
  void wait_for_shutdown();

  /// Stops children gracefully, then kills what remains; stops the router.
  void shutdown();

  // -- router::delivery ------------------------------------------------------

  void deliver(serialization::frame&& f, policy::direction d, router::stream_id from) override;
  void lost(const std::vector<router::context_id>& ids, const std::string& reason) override;
  void parent_lost(const std::string& reason) override;
  void handshake_done(router::stream_id s, router::context_id peer,
                      const std::string& error) override;

private:
  struct caf_part;

  void init_common(policy::rules initial);
  void run_call(serialization::frame&& f, policy::direction d, router::stream_id from);
  void run_spawn_request(serialization::frame&& f);
  /// Runs stage-1 by a non-local method and registers the stream; returns
  /// (stream id, local pid or 0). Throws method_error / std::exception.
  std::pair<std::uint32_t, std::int32_t> start_stage1(const bootstrap::method_spec& spec,
                                                      const serialization::boot_info& boot,
                                                      std::chrono::steady_clock::time_point deadline);
  std::string chain_of_locked(router::context_id id, const std::string& fallback) const;
  void run_file_request(serialization::frame&& f);
  void run_module_request(serialization::frame&& f);
  void run_module_push(const serialization::frame_header& req, serialization::module_info m);
  /// Empty on success, else (code, reason).
  std::pair<errc, std::string> module_bytes(const std::string& name,
                                            serialization::module_info& out);
  std::pair<errc, std::string> load_module(const std::string& name, bool wait_for_push = true);
  /// Runs `job` on the pool, or answers `req` dead when shutting down.
  void on_pool(const serialization::frame_header& req, std::function<void()> job);
  /// Decodes `f`'s payload into `x`, or answers it dead and returns false.
  template <class T>
  bool decode_or_refuse(const serialization::frame& f, T& x);
  void handle_id_request(const serialization::frame& f);
  void handle_log(const serialization::frame& f);
  void apply_rules_update(const serialization::frame& f);
  /// Sends a frame of type `t` carrying `payload...` to every direct child.
  template <class... Ts>
  void send_to_children(serialization::wire_type t, const Ts&... payload);
  /// Next id for a child; may ask the master for a block, waiting until
  /// `deadline` at most (the start's own deadline).
  router::context_id allocate_id(std::chrono::steady_clock::time_point deadline);
  void request_shutdown();
  void reply(const serialization::frame_header& req, serialization::wire_type t,
             serialization::buffer&& payload_wire);

  runtime_options opts_;
  router::router router_;
  pending_calls pending_;
  std::unique_ptr<caf_part> caf_;
  std::unique_ptr<dispatcher> pool_;
  file_service files_;
  std::mutex modules_mtx_; // one fetch at a time: intermediaries ask once
  std::map<std::string, serialization::module_info> modules_;
  std::set<std::string> loaded_modules_;
  std::atomic<int> modules_served_{0};
  std::atomic<int> bundles_sent_{0};
  // Modules whose push has been read but not yet loaded.
  std::mutex push_mtx_;
  std::condition_variable push_cv_;
  std::set<std::string> pushes_in_flight_;

  // Ids: the master cuts blocks; every process numbers its children.
  std::optional<router::block_source> blocks_;
  std::mutex id_mtx_;
  router::id_allocator ids_;

  mutable std::mutex mtx_;
  std::unordered_map<router::context_id, std::string> names_;
  // "h4 via ssh:h1 via ..." for contexts started through others.
  std::unordered_map<router::context_id, std::string> chains_;
  std::unordered_map<router::context_id, std::promise<std::string>> handshakes_;
  std::vector<int> child_pids_;
  // Contexts known to be gone, and why: later calls fail at once.
  std::unordered_map<router::context_id, std::string> lost_;

  std::mutex stop_mtx_;
  std::condition_variable stop_cv_;
  bool stop_requested_ = false;
  bool shut_down_ = false;
};

} // namespace mitosis::actors
