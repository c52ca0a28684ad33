// The process a piece of code runs in, seen from that code: its own
// context, the children it started, starting more, and its actor system.
// Usable from a called function or an actor in any context (and in the
// master), so a tree can be built from below: a worker starts its own
// sub-workers. The parent is mitosis::parent() (master.hpp).
#pragma once

#include <future>
#include <vector>

#include "master.hpp"

namespace mitosis {

/// Returns a handle to the context this code runs in (id, name): the
/// agent's own context, or the master's. Calls and spawns through it run
/// in this process. Throws mitosis::error when no master or agent runtime
/// exists in this process.
context this_context();

/// Returns the contexts this process started and has not lost (by
/// start_local, master::local/ssh/..., or through a `via` context on its
/// behalf), oldest first.
std::vector<context> children();

/// Starts a local child of this process (a copy of the program, below the
/// context this code runs in) and waits for its hello; with `opts.via`, the
/// context given starts it. The child is this process's: it stops with it,
/// and its id comes from the master's id blocks. The policy is the same as
/// for the master's children: the child boots with this context's rules.
/// Throws connect_error. Blocks the calling thread for the start (a few
/// milliseconds): in an actor, use start_local_async(self, opts)
/// (remote_actor.hpp), which does not.
context start_local(local_options opts = {});

/// start_local on a thread of its own; the future yields the context or
/// throws what start_local throws. Do not wait on it in an actor's handler.
std::future<context> start_local_async(local_options opts = {});

/// Serves `path` (a file, or a directory and all below it) from this
/// context to the contexts `peers` (empty: any context that can reach this
/// one) through context::fetch_file. Callable in the master and in any
/// context; each call adds to the rights. Throws std::invalid_argument
/// when the path does not exist. See docs/files.md.
void serve_files(const std::string& path, const std::vector<context>& peers = {});

/// Pushes the local file `local_path` to `remote_path` in every context of
/// `targets` at once (context::push_file each), hashing it once; the
/// bytes cross each link of the tree once (every hop caches them). One
/// future per target, in order: its push_result or its exception. A
/// "{id}" in `remote_path` is replaced by each target's context id.
std::vector<std::future<push_result>> push(const std::vector<context>& targets,
                                           const std::string& local_path,
                                           const std::string& remote_path,
                                           const push_options& opts = {});

/// Returns the pid of a context this process started with the local
/// method, or 0 (another method, or not started here).
int pid_of(const context& c);

/// The actor system of this process: spawn local actors with it, and
/// caf::scoped_actor for blocking requests from plain threads.
caf::actor_system& system();

/// Detaches the context this code runs in from its parent: what
/// context::detach runs there. Throws mitosis::error in the master.
void detach();

namespace detail {
/// serve_files and push from runtime `rt` (what master's share).
void serve_files(actors::runtime& rt, const std::string& path, const std::vector<context>& peers);
std::vector<std::future<push_result>> push(actors::runtime& rt, const std::vector<context>& targets,
                                           const std::string& local_path,
                                           const std::string& remote_path,
                                           const push_options& opts);

/// This process's runtime; throws mitosis::error when there is none.
actors::runtime& current_runtime();

/// Starts a context by `spec` from runtime `rt` (or through `via`): what
/// master::connect and start_local share. Unless `new_context`, returns
/// the running context started before by the same spec through the same
/// `via` (services::start_service::reuse_key). Throws connect_error.
context connect(actors::runtime& rt, const bootstrap::method_spec& spec,
                const std::optional<context>& via, std::chrono::milliseconds connect_timeout,
                int* pid = nullptr, bool new_context = false);
} // namespace detail

} // namespace mitosis
