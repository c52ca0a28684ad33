// The user-facing handle of a context, and typed calls into it.
#pragma once

#include <chrono>
#include <functional>
#include <future>
#include <optional>
#include <string>
#include <tuple>
#include <type_traits>
#include <utility>

#include <caf/fwd.hpp>

#include "errors.hpp"
#include "function_registry.hpp"
#include "interfaces.hpp"
#include "push_types.hpp"
#include "../router/routing_table.hpp"
#include "../serialization/frame.hpp"
#include "../serialization/messages.hpp"
#include "../serialization/plain_codec.hpp"

// Boost support for the standard containers most often passed to calls;
// other types need their own serialize() (see docs/getting-started.md).
#include <boost/serialization/level.hpp>
#include <boost/serialization/map.hpp>
#include <boost/serialization/set.hpp>
#include <boost/serialization/string.hpp>
#include <boost/serialization/tracking.hpp>
#include <boost/serialization/utility.hpp>
#include <boost/serialization/vector.hpp>

namespace mitosis {

struct spawn_options; // actors/remote_actor.hpp

/// Bulk bytes (Mitogen's Blob): a std::vector<char> whose allocator does not
/// zero-fill new elements. As the last parameter of a remote function, a
/// large blob is sent from the caller's memory and received without a copy:
/// the callee's argument is the frame's own buffer. `blob b(n)` holds
/// uninitialised bytes.
using blob = serialization::buffer;

namespace actors {
class runtime;
} // namespace actors

namespace detail {

/// Returns the runtime of this process (the agent's, else the master's), or
/// nullptr: what a context handle decoded here is bound to.
actors::runtime* runtime_here() noexcept;

/// Returns the registered name of `key`; throws mitosis::error if the
/// function was not made callable with MITOSIS_REMOTE.
const std::string& remote_name(actors::fn_key key);

/// Sends a prepared call frame; see context::call_async.
std::future<serialization::frame> send_call(actors::runtime& rt, router::context_id dst,
                                            serialization::frame_builder&& fb);

/// Sends a prepared call frame without waiting for anything.
void send_no_reply(actors::runtime& rt, router::context_id dst, const std::string& context,
                   serialization::frame_builder&& fb);

/// Returns a call frame header for `dst` from this process.
serialization::frame_header call_header(actors::runtime& rt, router::context_id dst);

/// Drops the wait for the reply with `handle` (deadline passed).
void forget_call(actors::runtime& rt, std::uint32_t handle);

/// Runs `done` once the reply with `handle` has arrived or the wait for it
/// has ended; at once when it has already.
void on_reply_done(actors::runtime& rt, std::uint32_t handle, std::function<void()> done);

/// The context whose call arguments this thread is encoding, if any: a
/// sender<T> encoded as an argument makes its receiver watch that
/// context's loss (actors/channel.hpp).
inline thread_local const router::context_id* encoding_for = nullptr;

/// Sets encoding_for for the scope.
class encoding_scope {
public:
  explicit encoding_scope(const router::context_id& dst) noexcept : saved_(encoding_for) {
    encoding_for = &dst;
  }
  ~encoding_scope() {
    encoding_for = saved_;
  }
  encoding_scope(const encoding_scope&) = delete;
  encoding_scope& operator=(const encoding_scope&) = delete;

private:
  const router::context_id* saved_;
};

/// Waits for `f` until `until`, reading the reply's stream on this thread
/// when no other thread reads it (no I/O-thread wake-up on the way back).
void await_reply(actors::runtime& rt, router::context_id dst,
                 std::future<serialization::frame>& f,
                 std::chrono::steady_clock::time_point until);

/// Returns `a` as the parameter type P: itself when it already is one
/// (no copy), else converted.
template <class P, class A>
decltype(auto) wire_arg(A&& a) {
  if constexpr (std::is_same_v<std::decay_t<A>, P>)
    return static_cast<const P&>(a);
  else
    return P(std::forward<A>(a));
}

template <class R>
R decode_result(const serialization::frame& f, const std::string& context) {
  if (f.hdr.type != serialization::to_u32(serialization::wire_type::call_reply))
    throw_reply(f, context);
  if constexpr (std::is_void_v<R>) {
    return;
  } else {
    R r{};
    try {
      serialization::get_values(f.payload.data(), f.payload.size(), r);
    } catch (const serialization::decode_error& e) {
      throw error(e.code(), context, "undecodable result from '" + context + "': " + e.what());
    }
    return r;
  }
}

} // namespace detail

/// A function in a plugin module, called by name with a signature the
/// caller states (the caller need not link the plugin): the context that
/// lacks it fetches the module from its parent (see master::add_plugin).
template <class Sig>
class remote;

template <class R, class... Ps>
class remote<R(Ps...)> {
public:
  remote(const std::string& module, const std::string& function)
    : wire_name_(module + "|" + function) {}
  const std::string& wire_name() const noexcept {
    return wire_name_;
  }

private:
  std::string wire_name_;
};

/// The result of call_async: get() returns the value or throws what call()
/// would throw.
template <class R>
class future {
public:
  future(std::future<serialization::frame> f, actors::runtime* rt, std::uint32_t handle,
         std::string context, router::context_id dst)
    : f_(std::move(f)), rt_(rt), handle_(handle), context_(std::move(context)), dst_(dst) {}

  /// Waits for the reply and returns the value. Throws call_error,
  /// context_lost, policy_error or error.
  R get() {
    if (!f_.valid())
      throw timeout_error(context_, "the reply was abandoned when an earlier get_for timed out");
    detail::await_reply(*rt_, dst_, f_, std::chrono::steady_clock::time_point::max());
    return detail::decode_result<R>(f_.get(), context_);
  }

  /// Like get(), but throws timeout_error once `d` has passed.
  template <class Rep, class Period>
  R get_for(std::chrono::duration<Rep, Period> d) {
    if (!f_.valid())
      throw timeout_error(context_, "the reply was abandoned when an earlier get_for timed out");
    auto until = std::chrono::steady_clock::now()
                 + std::chrono::duration_cast<std::chrono::steady_clock::duration>(d);
    detail::await_reply(*rt_, dst_, f_, until);
    if (f_.wait_until(until) != std::future_status::ready) {
      detail::forget_call(*rt_, handle_);
      f_ = {};
      throw timeout_error(context_, "no reply within "
                                      + std::to_string(std::chrono::duration_cast<
                                                         std::chrono::milliseconds>(d)
                                                         .count())
                                      + " ms");
    }
    return get();
  }

  /// Returns whether the reply has arrived (false once abandoned).
  bool ready() const {
    return f_.valid() && f_.wait_for(std::chrono::seconds{0}) == std::future_status::ready;
  }

  /// Runs `done` (on the thread that completes it: it must not block) once
  /// the reply has arrived or the wait has ended; at once if it has. One
  /// hook per future: a second replaces the first (mitosis::select).
  void on_ready(std::function<void()> done) {
    if (!f_.valid())
      done();
    else
      detail::on_reply_done(*rt_, handle_, std::move(done));
  }

private:
  std::future<serialization::frame> f_;
  actors::runtime* rt_;
  std::uint32_t handle_;
  std::string context_;
  router::context_id dst_;
};

/// An actor spawn on its way, for actor code (context::spawn_async(self,
/// ...)): then() hands its outcome to the actor as the response to a
/// request, so the actor's thread never waits. Defined in
/// actors/remote_actor.hpp.
template <class Handle, class Self>
class spawn_pending;

/// What context::stats returns (serialization/messages.hpp, stats_info).
using context_stats = serialization::stats_info;
using stream_stats = serialization::stream_stats_info;

/// A handle to a running context. Cheap to copy; valid while the master
/// (or agent) that made it lives. It can be a call's argument or result:
/// it travels as (id, name), and the receiving process gets a handle of its
/// own to the same context, routed through the tree from there (so the
/// receiver's policy and every hop's apply, as to any frame it sends).
class context {
public:
  context() = default;
  context(actors::runtime* rt, router::context_id id, std::string name)
    : rt_(rt), id_(id), name_(std::move(name)) {}

  router::context_id id() const noexcept {
    return id_;
  }
  const std::string& name() const noexcept {
    return name_;
  }

  /// Calls the plugin function `fn` with `args...` (see remote).
  template <class R, class... Ps, class... As>
  R call(const remote<R(Ps...)>& fn, As&&... args) const {
    return call_async(fn, std::forward<As>(args)...).get();
  }

  /// Starts the plugin function `fn` with `args...` (see remote).
  template <class R, class... Ps, class... As>
  future<R> call_async(const remote<R(Ps...)>& fn, As&&... args) const {
    auto fb = make_named_call<R, Ps...>(fn.wire_name(), std::forward<As>(args)...);
    auto handle = fb.header().reply_to;
    return future<R>{detail::send_call(*rt_, id_, std::move(fb)), rt_, handle, name_, id_};
  }

  /// Calls `fn(args...)` in this context and returns its result. The
  /// argument types are checked against `fn`'s signature at compile time.
  template <class R, class... Ps, class... As>
  R call(R (*fn)(Ps...), As&&... args) const {
    return call_async(fn, std::forward<As>(args)...).get();
  }

  /// Like call(), with a deadline: throws timeout_error when it passes.
  template <class Rep, class Period, class R, class... Ps, class... As>
  R call_for(std::chrono::duration<Rep, Period> d, R (*fn)(Ps...), As&&... args) const {
    return call_async(fn, std::forward<As>(args)...).get_for(d);
  }

  /// Starts `fn(args...)` in this context; the future yields the result.
  template <class R, class... Ps, class... As>
  future<R> call_async(R (*fn)(Ps...), As&&... args) const {
    auto fb = make_call(fn, std::forward<As>(args)...);
    auto handle = fb.header().reply_to;
    return future<R>{detail::send_call(*rt_, id_, std::move(fb)), rt_, handle, name_, id_};
  }

  /// Copies the file `remote_path` that this context serves (see
  /// master::serve_files) to `local_path` here, in flow-controlled chunks.
  /// Throws policy_error (file_not_allowed) for a path it does not serve.
  void fetch_file(const std::string& remote_path, const std::string& local_path) const;

  /// Returns this context's counters (context_stats: frames and bytes per
  /// stream, calls served and running, requests it waits for, uptime, RSS),
  /// asked by a stats_request (the caller's own when it is this process).
  /// Throws context_lost, timeout_error (options::request_timeout) or
  /// policy_error.
  context_stats stats() const;
  /// Writes the local file `local_path` at `remote_path` in this context,
  /// atomically (a part file beside it, synced, renamed), with its mode
  /// and, when the target runs as root, its owner (or those of `opts`).
  /// The target fetches the bytes by sha256 from its parent, which serves
  /// them from its cache or fetches them once from its own parent, and
  /// checks the sha256. A part file left by a failed attempt is resumed.
  /// Throws error (file_error, naming the context and the cause),
  /// context_lost, timeout_error. See docs/files.md.
  push_result push_file(const std::string& local_path, const std::string& remote_path,
                        const push_options& opts = {}) const;

  /// Writes the directory tree `local_dir` at `remote_dir` (created when
  /// missing) the same way: directories with their modes, files under 64
  /// KiB inside the push itself, bigger ones fetched by sha256.
  push_result push_tree(const std::string& local_dir, const std::string& remote_dir,
                        const push_options& opts = {}) const;

  /// Spawns an actor of the type registered as `type` (MITOSIS_ACTOR) in
  /// this context with `args...`, and returns a handle that works like a
  /// local one (send, request, monitor). Handle is caf::actor or a
  /// caf::typed_actor<...> the type's interface must match. Throws
  /// spawn_error (unknown type, interface or arguments that do not match),
  /// context_lost or timeout_error; policy refusals (spawn rights) are
  /// spawn_error with code spawn_not_allowed, and a spawn refused over a
  /// bound (a child's max_pending_calls) spawn_error with code
  /// limit_exceeded. The actor is tied to this
  /// process's context: when it is lost, the actor gets an exit. Defined
  /// in actors/remote_actor.hpp.
  template <class Handle, class... Ts>
  Handle spawn(const std::string& type, Ts&&... args) const;

  /// Like spawn(type, args...), with `opts` (actors/remote_actor.hpp): tied
  /// to an actor of this process instead (`.owner`: it gets an exit when
  /// that actor exits), or to nothing (`mitosis::detached`).
  template <class Handle, class... Ts>
  Handle spawn(const spawn_options& opts, const std::string& type, Ts&&... args) const;

  /// spawn() without blocking the caller: the spawn runs on a thread of
  /// this process's async spawner and the future yields the handle, or
  /// throws what spawn() throws. For plain threads; in an actor's handler,
  /// waiting on the future blocks a CAF worker: use the form below.
  template <class Handle, class... Ts>
  std::future<Handle> spawn_async(const std::string& type, Ts&&... args) const;

  /// spawn() for actor code: `ctx.spawn_async<H>(self, "type", args...)
  /// .then([](H h) {...}, [](caf::error& e) {...})` runs one of the two
  /// handlers in the actor `self` once the spawn is done (a response to a
  /// request `self` makes, so it never blocks the actor's thread). A
  /// failure is a caf::error of category "mitosis" (errc) whose context
  /// names the context and the cause.
  template <class Handle, class Self, class... Ts>
    requires std::is_class_v<Self>
  spawn_pending<Handle, Self> spawn_async(Self* self, const std::string& type,
                                          Ts&&... args) const;

  /// The actor face of this context in this process (one per context):
  /// monitor or link to it to learn of the context's loss (it exits with
  /// `make_error(errc::context_lost, why)`), ask it for the context's id
  /// and name, the counters of the stream it lives behind, or that
  /// stream's connection actor (actors/interfaces.hpp). Include
  /// <caf/typed_actor.hpp> (or remote_actor.hpp) to use the handle.
  actors::context_actor actor() const;

  // -- lifecycle (actors/lifecycle.cpp) --------------------------------------

  /// Asks this context to stop: it stops its own children first (they are
  /// asked, then killed after the grace period), then exits, and its route
  /// is lost. Without `wait`, returns once the request is sent; with it,
  /// returns once the loss is seen here, and throws timeout_error after
  /// `timeout` (zero: the master's shutdown_grace plus request_timeout).
  /// A context takes this from its ancestors only (the policy decides the
  /// rest). The context this code runs in: an agent stops itself (never
  /// waiting); the master refuses (master::shutdown). A context lost already
  /// is done. Throws mitosis::error when the request cannot be sent.
  void shutdown(bool wait = false, std::chrono::milliseconds timeout = {}) const;

  /// Closes the stream to this context, a direct child of this process: it
  /// exits as it does when its parent dies (unless it detached), and its
  /// subtree with it. Throws mitosis::error (no_route) for a context that
  /// is not a direct child (use shutdown()).
  void disconnect() const;

  /// Runs `fn(reason)` once when this context is lost (shut down,
  /// disconnected, killed, cut, or this process stopping), or at once on
  /// this thread when the loss is known already. It runs on the thread that
  /// sees the loss (the router's I/O thread, a parked reader, or the thread
  /// stopping this process), so it must not block or call a context: hand
  /// the work to a thread of yours. Losses are seen for the contexts this
  /// process reaches through its children (those it started, or that
  /// were started below them), not for others.
  void on_lost(std::function<void(const std::string& reason)> fn) const;

  /// Detaches this context from its parent (Mitogen's detach): it no longer
  /// dies with its parent (no parent-death signal, its own session, stdio
  /// on /dev/null), the parent no longer stops or kills it at shutdown, and
  /// once its parent stream is gone it runs until no call is left running,
  /// then stops. Runs as a call (`parent_may_call` applies). Throws what
  /// call() throws.
  void detach() const;

  /// Boost serialisation, for call arguments and results: the id and the
  /// name; a decoded handle belongs to the runtime of the decoding process.
  template <class Ar>
  void serialize(Ar& ar, unsigned) {
    ar & id_;
    ar & name_;
    if constexpr (Ar::is_loading::value)
      rt_ = detail::runtime_here();
  }

  /// Runs `fn(args...)` in this context without waiting or a reply.
  template <class R, class... Ps, class... As>
  void call_no_reply(R (*fn)(Ps...), As&&... args) const {
    auto fb = make_call(fn, std::forward<As>(args)...);
    fb.header().reply_to = 0;
    fb.header().flags |= serialization::frame_flags::no_reply;
    detail::send_no_reply(*rt_, id_, name_, std::move(fb));
  }

private:
  friend class call_chain;

  /// spawn() with the arguments already in a message.
  template <class Handle>
  Handle spawn_message(const spawn_options& opts, const std::string& type,
                       const caf::message& args) const;

  template <class R, class... Ps, class... As>
  serialization::frame_builder make_call(R (*fn)(Ps...), As&&... args) const {
    return make_named_call<R, Ps...>(detail::remote_name(reinterpret_cast<actors::fn_key>(fn)),
                                     std::forward<As>(args)...);
  }

  template <class R, class... Ps, class... As>
  serialization::frame_builder make_named_call(const std::string& name, As&&... args) const {
    static_assert(sizeof...(Ps) == sizeof...(As), "wrong number of arguments for this function");
    static_assert((std::is_convertible_v<As&&, std::decay_t<Ps>> && ...),
                  "argument types do not match the function's parameters");
    serialization::frame_builder fb{detail::call_header(*rt_, id_)};
    serialization::plain_put(fb.bytes(), name);
    detail::encoding_scope scope{id_};
    constexpr std::size_t n = sizeof...(Ps);
    if constexpr (n > 0) {
      // A large byte sequence as the last argument goes first in the frame,
      // straight from the caller's memory, and becomes the callee's argument
      // without a copy (frame_flags::blob_first).
      using params = std::tuple<std::decay_t<Ps>...>;
      using last_param = std::tuple_element_t<n - 1, params>;
      auto refs = std::forward_as_tuple(args...);
      using last_arg = std::decay_t<std::tuple_element_t<n - 1, decltype(refs)>>;
      if constexpr (serialization::is_blob<last_param>::value
                    && std::is_same_v<last_arg, last_param>) {
        const auto& blob = std::get<n - 1>(refs);
        if (blob.size() >= serialization::blob_threshold) {
          [&]<std::size_t... I>(std::index_sequence<I...>) {
            serialization::put_values(fb.bytes(), detail::wire_arg<std::tuple_element_t<I, params>>(
                                                    std::get<I>(refs))...);
          }(std::make_index_sequence<n - 1>{});
          fb.set_blob(blob.data(), blob.size());
          return fb;
        }
      }
    }
    serialization::put_values(fb.bytes(), detail::wire_arg<std::decay_t<Ps>>(std::forward<As>(args))...);
    return fb;
  }

  actors::runtime* rt_ = nullptr;
  router::context_id id_ = 0;
  std::string name_;
};

} // namespace mitosis

BOOST_CLASS_IMPLEMENTATION(mitosis::context, boost::serialization::object_serializable)
BOOST_CLASS_TRACKING(mitosis::context, boost::serialization::track_never)
