// The master: the process that starts the tree. In a started copy of the
// program, constructing it serves the parent instead and never returns.
#pragma once

#include <chrono>
#include <future>
#include <memory>
#include <mutex>
#include <optional>
#include <condition_variable>
#include <string>
#include <vector>

#include "context.hpp"
#include "../bootstrap/method.hpp"
#include "../policy/rules.hpp"
#include "../router/options.hpp"

namespace caf {
class actor_system;
} // namespace caf

namespace mitosis {

/// Settings of the master process: every setting of a runtime (name, pool
/// threads, log level, connect and request timeouts, frame and violation
/// limits, ...), passed down unchanged to the router and the services.
using master_options = router::options;

/// Options of the `local` connection method.
struct local_options {
  /// The context's name (default "local.<id>").
  std::string name{};
  /// Start it from this context instead of from the master.
  std::optional<context> via{};
  /// Zero: the master's connect_timeout.
  std::chrono::milliseconds connect_timeout{0};
  /// Connect over two pipes (as sshd does) instead of one socketpair.
  bool pipes = false;
  /// Start a new context even if one of the same name, started the same
  /// way (through the same `via`), is running. Without a name a local
  /// context is always new.
  bool new_context = false;
};

/// What every method but `local` shares (the second argument of ssh(),
/// sudo(), ...).
struct hop_options {
  /// The context's name (default "<method>:<target>.<id>").
  std::string name{};
  /// Start it from this context (which then owns the connection).
  std::optional<context> via{};
  /// Connect + auth + bootstrap + handshake. Zero: the master's default.
  std::chrono::milliseconds connect_timeout{0};
  /// Bundle cache on the target ("" = $HOME/.cache/mitosis, else
  /// /tmp/mitosis-<uid>).
  std::string cache_dir{};
  /// Start a new context even if one started by the same method, target,
  /// user, settings and name through the same `via` is running (by default
  /// that one is returned).
  bool new_context = false;
};

using ssh_options = bootstrap::ssh_settings;
using become_options = bootstrap::become_settings;
using setns_options = bootstrap::setns_settings;
using container_options = bootstrap::container_settings;

class master {
public:
  /// Starts the master runtime. If this process is a started copy (agent
  /// mode), serves its parent until it is told to stop, then exits the
  /// process: code after this line runs only in the master.
  master(int argc, char** argv, master_options opts = {});

  /// Stops every context gracefully, then kills what remains (join()).
  ~master();

  /// Stops this master gracefully, on the calling thread: every direct
  /// child but the detached ones is asked to stop its subtree, those still
  /// running after shutdown_grace are killed, every context is then lost
  /// here (its on_lost callbacks run, calls to it fail with context_lost),
  /// and the runtime stops. Returns at once when a shutdown has begun
  /// already (on another thread: join() waits for it). Not from a function
  /// a context called in the master (it runs on the pool being stopped).
  /// After it, only context calls may be made (they fail); starts throw.
  void shutdown();

  /// Waits until the master is stopped: for a shutdown() running on
  /// another thread, or runs one here when none has begun.
  void join();

  master(const master&) = delete;
  master& operator=(const master&) = delete;

  /// Starts a local context (a copy of this program). Throws connect_error.
  context local(local_options opts = {});

  /// Starts a local context in the background.
  std::future<context> local_async(local_options opts = {});

  /// Starts a context on another host over SSH; it installs this
  /// program's bundle there if needed. Throws connect_error,
  /// host_key_error, auth_error.
  context ssh(ssh_options o, hop_options h = {});
  /// Starts a context as another user through sudo, su or doas (k).
  context become(bootstrap::method_kind k, become_options o, hop_options h = {});
  context sudo(become_options o = {}, hop_options h = {}) {
    return become(bootstrap::method_kind::sudo, std::move(o), std::move(h));
  }
  context su(become_options o = {}, hop_options h = {}) {
    return become(bootstrap::method_kind::su, std::move(o), std::move(h));
  }
  context doas(become_options o = {}, hop_options h = {}) {
    return become(bootstrap::method_kind::doas, std::move(o), std::move(h));
  }
  /// Starts a context inside the chroot `path` (needs root).
  context chroot(const std::string& path, hop_options h = {});
  /// Starts a context inside other namespaces (needs root).
  context setns(setns_options o, hop_options h = {});
  /// Starts a context inside a running container (k: docker or podman).
  context container(bootstrap::method_kind k, container_options o, hop_options h = {});
  /// Starts a context through /bin/sh and stage-1 on this host, running
  /// from the installed bundle (as a remote host would).
  context shell(hop_options h = {});

  /// Any method, as a plain spec (what the typed calls above build).
  /// Returns the running context started before by the same spec through
  /// the same `via`, unless `new_context` (see local_options::new_context).
  context connect(const bootstrap::method_spec& spec, const std::optional<context>& via = {},
                  std::chrono::milliseconds connect_timeout = {}, bool new_context = false);
  /// connect() in the background.
  std::future<context> connect_async(bootstrap::method_spec spec,
                                     std::optional<context> via = {},
                                     std::chrono::milliseconds connect_timeout = {},
                                     bool new_context = false);

  /// Returns the master's own context (calls run in this process).
  context self();

  /// Replaces the master's policy rules (what its children may do to it).
  void set_policy(const policy::rules& r);

  /// Replaces the rules of the master and of every context below it;
  /// contexts started later inherit them at boot. A context never takes
  /// rules from anyone but its parent, so the master is the only source.
  void set_subtree_policy(const policy::rules& r);

  /// Serves `path` (a file, or a directory and all below it) to the
  /// contexts that fetch_file from the master (`peers`: only to those;
  /// empty: to all); nothing else is served. mitosis::serve_files (here.hpp)
  /// does the same in any context.
  void serve_files(const std::string& path, const std::vector<context>& peers = {});

  /// mitosis::push (here.hpp): `local_path` to `remote_path` in every
  /// context of `targets`, one future per target.
  std::vector<std::future<push_result>> push(const std::vector<context>& targets,
                                             const std::string& local_path,
                                             const std::string& remote_path,
                                             const push_options& opts = {});

  /// Makes the plugin module `name` (a shared object of MITOSIS_REMOTE
  /// functions at `path`) available: a context asked to run one of its
  /// functions (see mitosis::remote) fetches it from its parent, by content
  /// hash, subject to each parent's import policy.
  void add_plugin(const std::string& name, const std::string& path);

  /// Sends plugin `name` to `c` and everything below it ahead of use.
  void preload_plugin(const context& c, const std::string& name);

  /// Returns the pid of a local context started from the master, or 0.
  int pid_of(const context& c) const;

  /// The master's actor system: spawn local actors here, and a
  /// caf::scoped_actor to talk to remote ones (context::spawn).
  caf::actor_system& system() noexcept;

  /// The master's router actor: subscribe to route events (added, lost
  /// with the reason, violations), the routing table, the counters, and
  /// the connection actor of a child's stream (router/interfaces.hpp).
  router::router_actor router_actor() const;

  actors::runtime& runtime() noexcept {
    return *rt_;
  }

private:
  static bootstrap::method_spec spec_for(bootstrap::method_kind k, const hop_options& h);
  template <class T>
  context start_with(bootstrap::method_kind k, T bootstrap::method_spec::*part, T value,
                     const hop_options& h) {
    auto s = spec_for(k, h);
    s.*part = std::move(value);
    return connect(s, h.via, h.connect_timeout, h.new_context);
  }

  std::unique_ptr<actors::runtime> rt_;
  enum { running, stopping, stopped } stop_state_ = running;
  std::mutex stop_mtx_;
  std::condition_variable stop_cv_;
  mutable std::mutex mtx_;
  std::vector<std::pair<router::context_id, int>> pids_;
};

/// In a started copy (agent), returns a handle to its parent context; by
/// default the parent's policy refuses calls from its children.
/// Throws mitosis::error in the master.
context parent();

namespace detail {
/// Test hook: writes raw bytes on the agent's stream to its parent, as a
/// misbehaving peer would. Returns false in the master.
bool send_raw_to_parent(const char* data, std::size_t size);
} // namespace detail

/// If this process was started as a mitosis agent, serves the parent and
/// exits; otherwise returns. For programs (such as test runners) that must
/// divert before their own main logic; master's constructor does the same.
void serve_if_agent(int argc, char** argv);

} // namespace mitosis
