// What every service of a process shares: the router, the requests in
// flight, the worker pool, the options, and what is known of the other
// contexts (names, hop chains, losses). It owns the reply wire types: one
// ask() sends a request and waits for its answer, for every service.
#pragma once

#include <chrono>
#include <deque>
#include <functional>
#include <memory>
#include <future>
#include <mutex>
#include <optional>
#include <string>
#include <type_traits>
#include <unordered_map>
#include <vector>

#include "../dispatcher.hpp"
#include "../pending_calls.hpp"
#include "../../router/router.hpp"
#include "../../serialization/expected.hpp"
#include "../../serialization/messages.hpp"

namespace spdlog {
class logger;
} // namespace spdlog

namespace mitosis::actors::services {

using clock = std::chrono::steady_clock;

/// The logger of the services ("mitosis.actors").
const std::shared_ptr<spdlog::logger>& lg();

class core {
public:
  /// Registers the handlers of every reply type (they complete requests):
  /// call_reply, call_error, dead, id_grant, file_chunk, module_data,
  /// spawn_reply, actor_spawned, stats_reply.
  core(router::router& r, pending_calls& p, dispatcher& pool);

  core(const core&) = delete;
  core& operator=(const core&) = delete;

  router::router& routes() noexcept {
    return router_;
  }
  pending_calls& pending() noexcept {
    return pending_;
  }
  const router::options& opts() const noexcept {
    return router_.opts();
  }
  router::context_id self() const noexcept {
    return router_.config().self;
  }
  const std::string& name() const noexcept {
    return router_.config().name;
  }
  /// The deadline of an internal request made now (options::request_timeout).
  clock::time_point request_deadline() const noexcept {
    return clock::now() + opts().request_timeout;
  }

  /// Sends a request frame and returns the future of its reply. A frame that
  /// cannot leave this process resolves at once with a dead reply.
  std::future<serialization::frame> request(router::context_id dst, std::uint32_t handle,
                                            serialization::outgoing&& wire);

  /// A request on its way: the handle its answer carries, and the answer.
  struct sent_request {
    std::uint32_t handle;
    std::future<serialization::frame> answer;
  };

  /// Sends a request of type `t` carrying `payload...` to `dst` under a
  /// fresh handle, without waiting (see request()).
  template <class... Ts>
  sent_request send_request(router::context_id dst, serialization::wire_type t,
                            const Ts&... payload) {
    auto h = pending_.next_handle();
    serialization::frame_builder fb{serialization::make_header(t, dst, self(), 0, h)};
    if constexpr (sizeof...(Ts) > 0)
      fb.add(payload...);
    return {h, request(dst, h, fb.finish())};
  }

  /// Sends a request of type `t` carrying `payload...` to `dst` and waits
  /// until `deadline` for the answer. Returns the answer's payload decoded
  /// as Reply when it is of type `answer` (Reply = void: no payload), else
  /// the failure: the code and reason of a dead reply, timeout, or a
  /// protocol_error for an undecodable or unexpected answer.
  template <class Reply, class... Ts>
  expected<Reply> ask(router::context_id dst, serialization::wire_type t,
                      serialization::wire_type answer, clock::time_point deadline,
                      const Ts&... payload) {
    auto f = await_answer(send_request(dst, t, payload...), dst, t, answer, deadline);
    if (!f)
      return std::move(f).error();
    if constexpr (std::is_void_v<Reply>) {
      return {};
    } else {
      Reply r{};
      try {
        serialization::decode_exact(f->payload.data(), f->payload.size(), r);
      } catch (const serialization::decode_error& e) {
        return fail(e.code(), "undecodable "
                                + std::string{serialization::type_registry::name(f->hdr.type)}
                                + " from context " + std::to_string(dst) + ": " + e.what());
      }
      return r;
    }
  }

  /// Runs `job` on the pool, or answers `req` dead when shutting down and
  /// returns false.
  bool on_pool(const serialization::frame_header& req, std::function<void()> job);

  /// Reads the stream toward `dst` on this thread until `answer` is ready
  /// or `until`, as a parked reader: the answer wakes no other thread. Does
  /// nothing when it is ready, on the I/O thread, or when another thread
  /// reads that stream already (then the caller just waits on `answer`).
  void read_for(router::context_id dst, std::future<serialization::frame>& answer,
                clock::time_point until);

  /// Runs `job` on the pool; false when it is stopping.
  bool submit(std::function<void()> job);
  /// Runs `job` on the service workers (module and file requests, module
  /// pushes), or answers `req` dead when shutting down and returns false.
  /// They are not the call pool's: a module request from a child is served
  /// while every call worker waits, e.g. on calls into that child that wait
  /// for the module. Started on first use (service_threads of them).
  bool on_service_pool(const serialization::frame_header& req, std::function<void()> job);

  /// Finishes the service workers' running jobs, drops the queued ones;
  /// later jobs are refused.
  void stop_service_pool();

  /// How many service workers a process runs at most.
  static constexpr std::size_t service_threads = 2;

  /// Decodes `f`'s payload into `x`, or answers it dead and returns false.
  /// on_service_pool() for a module or file request read on stream `from`: at most
  /// options::max_pending_requests of them per stream are queued or
  /// running at once; one more is refused (router::refuse,
  /// limit_exceeded) and returns false. Local requests (`from` 0) are not
  /// bounded.
  bool on_pool_bounded(const serialization::frame_header& req, router::stream_id from,
                       std::function<void()> job);

  /// Admits one more call read on child stream `from`: at most
  /// options::max_pending_calls of them per child stream are queued or
  /// running here at once. Sets `token`, which lets the call go when its
  /// last copy is destroyed (however the call ends, run or dropped), and
  /// returns true; or refuses `req` (router::refuse, limit_exceeded) and
  /// returns false. Calls from the parent (`from_child` false) and local
  /// ones (`from` 0) are not bounded and get no token (nothing to count
  /// on the parent's calls, the hot path): the parent may pipeline as
  /// many as it wants.
  /// Spawn requests from a child stream count as calls: they wait on the
  /// same pool.
  bool admit_call(const serialization::frame_header& req, router::stream_id from,
                  bool from_child, std::shared_ptr<void>& token);

  /// admit_call() for an actor message read on child stream `from` (not a
  /// response: those answer our own requests): at most
  /// options::max_pending_actor_messages of them per child stream wait in
  /// this process's mailboxes or run. The token is held by the mailbox
  /// element, so it goes when the actor has handled (or dropped) it.
  bool admit_message(const serialization::frame_header& req, router::stream_id from,
                     bool from_child, std::shared_ptr<void>& token);

  /// admit_call() for an actor that a spawn read on child stream `from`
  /// is about to start: at most options::max_spawned_actors of them per
  /// child stream run here. The actor's record holds the token until its
  /// exit.
  bool admit_spawned(const serialization::frame_header& req, router::stream_id from,
                     bool from_child, std::shared_ptr<void>& token);

  /// Decodes `f`'s payload into `x`, or refuses it (router::refuse: a dead
  /// reply, counted against stream `from`, the stream it was read on; 0:
  /// not counted) and returns false.
  template <class T>
  bool decode_or_refuse(const serialization::frame& f, T& x, router::stream_id from = 0) {
    try {
      serialization::decode_exact(f.payload.data(), f.payload.size(), x);
      return true;
    } catch (const serialization::decode_error& e) {
      router_.refuse(from, f.hdr, e.code(), e.what());
      return false;
    }
  }

  // -- what is known of other contexts ---------------------------------------

  /// Whether `src`, whose reply came in on stream `from`, is a hop on the
  /// path to `dst` (a dead reply is believed only from one): for a context
  /// started from here, one it was started through; for another, any
  /// context behind the stream toward it.
  bool on_path(router::context_id dst, router::context_id src, router::stream_id from) const;

  /// Records `id`'s name and, for a context started through others, its
  /// hop chain ("h4 via ssh:h1 via ...") and the context it was started
  /// by (`via`).
  void remember(router::context_id id, const std::string& name, const std::string& chain = {},
                std::optional<router::context_id> via = std::nullopt);

  /// Returns the name recorded for `id`, or "context <id>".
  std::string name_of(router::context_id id) const;

  /// Returns the hop chain recorded for `id`, or `fallback`.
  std::string chain_of(router::context_id id, const std::string& fallback) const;

  /// Returns why `id` was lost, if it was.
  std::optional<std::string> lost_reason(router::context_id id) const;

  /// Whether context `id` was started from here (remember()): one that has
  /// no route any more is lost, whether or not the loss is recorded yet.
  bool knows(router::context_id id) const;

  /// Whether context `id` was started through `hop`, directly or further up
  /// its chain (remember()'s `via`).
  bool started_through(router::context_id id, router::context_id hop) const;

  /// Sets who is given a dead reply nobody waits for here (the actor
  /// service: refusals of requests sent through its proxies). Set once,
  /// before frames flow.
  void on_unclaimed_dead(std::function<void(serialization::frame&&, router::stream_id)> f) {
    unclaimed_dead_ = std::move(f);
  }

  /// Adds `f` to what mark_lost() tells of losses (after the requests are
  /// failed). Add before frames flow.
  void on_lost(std::function<void(const std::vector<router::context_id>&, const std::string&)> f) {
    loss_listeners_.push_back(std::move(f));
  }

  /// Records `ids` as lost, fails every request waiting on them and tells
  /// the on_lost() listeners and runs the loss callbacks of each id. A loss this process caused itself
  /// (expect_loss) is reported with the reason given there.
  void mark_lost(const std::vector<router::context_id>& ids, const std::string& reason);

  /// Records every context started from here (remember()) not lost yet as
  /// lost with `reason`: this process is shutting down.
  void lose_all(const std::string& reason);

  /// The loss of `id` that comes next is one this process caused (a
  /// shutdown, a disconnect): report it with `reason` instead of the
  /// stream's.
  void expect_loss(router::context_id id, const std::string& reason);

  /// A loss callback: gets the reason.
  using loss_callback = std::function<void(const std::string&)>;

  /// Runs `fn(reason)` once when `id` is lost: on the thread that records
  /// the loss (the I/O thread, a parked reader, or the thread shutting this
  /// process down), so it must not block; at once, on this thread, when the
  /// loss is recorded already.
  void on_lost(router::context_id id, loss_callback fn);

private:
  /// Waits for the answer to `r` (a request of type `t` to `dst`) until
  /// `deadline`: the frame when it is of type `answer`, else the failure.
  expected<serialization::frame> await_answer(sent_request r, router::context_id dst,
                                              serialization::wire_type t,
                                              serialization::wire_type answer,
                                              clock::time_point deadline);
  void on_reply(serialization::frame&& f, router::stream_id from);
  /// What each stream has pending here of one kind (requests, calls, actor
  /// messages). Shared with the tokens that hold a count: a token may
  /// outlive this core (a message left in the cache of a blocking actor
  /// that someone still holds).
  struct pending_counts {
    std::mutex mtx;
    std::unordered_map<router::stream_id, std::uint64_t> by_stream; // guarded by mtx
  };
  /// Why take() refused.
  enum class over { none, count, bytes };
  /// Counts one more for stream `from` in `counts`, unless `most` are
  /// there already, and `bytes` more in `held`, unless that would pass
  /// `most_bytes`; the token lets both go when its last copy is destroyed.
  static over take(const std::shared_ptr<pending_counts>& counts, router::stream_id from,
                   std::uint32_t most, std::shared_ptr<void>& token,
                   const std::shared_ptr<pending_counts>& held = nullptr,
                   std::uint64_t bytes = 0, std::uint64_t most_bytes = 0);
  /// options::max_pending_bytes, and never under one max_frame.
  std::uint64_t most_pending_bytes() const;
  /// The refusal for a frame over max_pending_bytes.
  void refuse_bytes(const serialization::frame_header& req, router::stream_id from);
  /// admit_call(), admit_message() and admit_spawned() over `counts`, bounded by `most`
  /// (and, with `held_bytes`, the frame's payload by max_pending_bytes);
  /// a refusal says `what` are pending, and the option's `name`.
  bool admit(const std::shared_ptr<pending_counts>& counts, std::uint32_t most,
             const serialization::frame_header& req, router::stream_id from, bool from_child,
             std::shared_ptr<void>& token, const char* what, const char* name,
             bool held_bytes);
  /// A dead reply `no_route` to a request for a context started from here,
  /// from a context it was started through, becomes context_lost; with
  /// that one or `context_lost` from such a hop, `lost` is set to the
  /// context. Any other reply is returned as it is.
  serialization::frame lost_if_unroutable(serialization::frame&& f,
                                          std::optional<router::context_id>& lost);

  router::router& router_;
  pending_calls& pending_;
  dispatcher& pool_;

  std::function<void(serialization::frame&&, router::stream_id)> unclaimed_dead_;
  std::vector<std::function<void(const std::vector<router::context_id>&, const std::string&)>>
    loss_listeners_;

  // Module and file requests queued or running, per stream read on.
  std::shared_ptr<pending_counts> pending_requests_ = std::make_shared<pending_counts>();
  // Calls from child streams queued or running, per stream (admit_call).
  std::shared_ptr<pending_counts> pending_calls_ = std::make_shared<pending_counts>();
  // Actor messages from child streams not yet handled (admit_message).
  std::shared_ptr<pending_counts> pending_messages_ = std::make_shared<pending_counts>();
  // Actors spawned here from child streams that still run (admit_spawned).
  std::shared_ptr<pending_counts> spawned_actors_ = std::make_shared<pending_counts>();
  // Payload bytes of the requests, calls and actor messages above, per
  // child stream (max_pending_bytes).
  std::shared_ptr<pending_counts> pending_bytes_ = std::make_shared<pending_counts>();
  std::mutex service_mtx_;
  std::unique_ptr<dispatcher> service_pool_; // guarded by service_mtx_
  bool service_stopped_ = false;             // guarded by service_mtx_

  mutable std::mutex mtx_;
  std::unordered_map<router::context_id, std::string> names_;
  std::unordered_map<router::context_id, std::string> chains_;
  // Who started a context started through others (remember's `via`).
  std::unordered_map<router::context_id, router::context_id> vias_;
  // Contexts known to be gone, and why: later requests fail at once. The
  // last max_lost_records of them, oldest first in lost_order_: an older
  // one is forgotten (its name too), so a program that starts and loses
  // contexts forever does not grow; a call to a context forgotten that way
  // fails with no_route instead of context_lost.
  std::unordered_map<router::context_id, std::string> lost_;
  std::deque<router::context_id> lost_order_;
  static constexpr std::size_t max_lost_records = 1024;
  // Losses this process caused, with the reason to report.
  std::unordered_map<router::context_id, std::string> expected_;
  std::unordered_multimap<router::context_id, loss_callback> on_lost_;
};

} // namespace mitosis::actors::services
