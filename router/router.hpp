// The per-process router: owns the routing table and every stream, runs the
// single I/O thread, checks each frame (framing, source, policy) and
// delivers it locally, forwards it, or answers with a dead reply.
#pragma once

#include <atomic>
#include <chrono>
#include <functional>
#include <memory>
#include <set>
#include <shared_mutex>
#include <string>
#include <thread>
#include <unordered_map>
#include <vector>

#include "../policy/rules.hpp"
#include "events.hpp"
#include "handler_table.hpp"
#include "options.hpp"
#include "routing_table.hpp"
#include "stream.hpp"
#include "../serialization/frame.hpp"

namespace mitosis::router {

/// The events of the router's streams the rest of the process hears of
/// (frames go to the handler table instead). Called on the I/O thread or a
/// parked reader: implementations must not block.
class delivery {
public:
  virtual ~delivery() = default;
  /// Contexts that can no longer be reached.
  virtual void lost(const std::vector<context_id>& ids, const std::string& reason) = 0;
  /// The stream to the parent is gone.
  virtual void parent_lost(const std::string& reason) = 0;
  /// A child's hello was read (`error` empty) or refused.
  virtual void handshake_done(stream_id s, context_id peer, const std::string& error) = 0;
};

/// Who this process is in the tree.
struct router_config {
  context_id self = master_id;
  std::string name = "master";
  /// Parent's context id; meaningful only when has_parent.
  context_id parent_id = master_id;
  bool has_parent = false;
  /// Every ancestor, the master first and the parent last (empty in the
  /// master).
  std::vector<context_id> ancestors;
};

/// The stream id always used for the parent.
inline constexpr stream_id parent_stream = 1;

class router : private frame_sink {
public:
  /// Uses the limits of `opts` (max_frame, max_violations,
  /// max_routes_per_child).
  router(router_config cfg, const options& opts, delivery& out);
  ~router();

  router(const router&) = delete;
  router& operator=(const router&) = delete;

  /// Starts the I/O thread.
  void start();

  /// Stops the I/O thread and closes every stream.
  void stop();

  /// Adds a stream. For the parent, pass opts.is_parent (it gets
  /// parent_stream as id). Returns the stream id.
  stream_id add_stream(unique_fd rfd, unique_fd wfd, stream_options opts);

  /// Sends a whole frame to `dst` from any thread. Returns errc::none, or
  /// no_route / context_lost when it cannot leave this process.
  errc send(context_id dst, serialization::outgoing&& wire);

  /// Sends `n` bytes at `frames`, one or more whole frames back to back
  /// (each checked against max_frame by whoever built it), to `dst` in one
  /// write, in order. The bytes are borrowed: what the stream cannot take
  /// now is copied into its queue, so the caller keeps (and reuses) its
  /// buffer, and never waits. Returns what send() returns.
  errc send_frames(context_id dst, const char* frames, std::size_t n);

  /// Makes the calling thread the reader of stream `s` until `done()`
  /// returns true, `wake_fd` (when >= 0) becomes readable, or `until`
  /// passes. Frames are handled exactly as on the I/O thread, which is not
  /// woken at all: a blocking call then costs one thread wake-up per
  /// direction, like a raw socket. A stream with a driver (ssh) is driven
  /// by this thread meanwhile: it polls the driver's fds too and moves their
  /// bytes itself. Returns false at once when the stream is unknown or
  /// another thread is reading it.
  /// With `rearm_if_undone`, a thread that leaves before done() gives the
  /// stream back to epoll at once instead of after rearm_delay: a reply
  /// that comes after it left must not wait for the lazy re-arm.
  /// With `stop_between_reads`, a read that did not drain the stream ends
  /// the park as soon as done() is true, leaving the rest in the kernel for
  /// the next park (the pool's idle reader: what the frames woke runs on
  /// this thread before it reads on, instead of piling up behind a flood).
  /// Not on a stream with a driver (ssh): what the driver holds would wait
  /// for the next event on its socket.
  bool read_until(stream_id s, const std::function<bool()>& done, int wake_fd,
                  std::chrono::steady_clock::time_point until, bool rearm_if_undone = false,
                  bool stop_between_reads = false);

  /// read_until, for a thread that should be the stream's reader: when
  /// another thread holds the stream for a moment (most often the I/O
  /// thread, still handing over what it read when the thread it woke comes
  /// to read), waits up to lock_wait (never longer than the spin time: not
  /// at all on one CPU) for it to let go instead of returning at once,
  /// which would leave the next frames to the I/O thread again and keep
  /// every later exchange on two threads. It does not wait for a thread
  /// parked in read_until. Returns true when it read, or when done()
  /// turned true while it waited; false when the stream is unknown, the
  /// router stopped, or the stream stayed busy.
  bool read_when_free(stream_id s, const std::function<bool()>& done, int wake_fd,
                      std::chrono::steady_clock::time_point until, bool rearm_if_undone = false,
                      bool stop_between_reads = false);

  /// How long read_when_free waits for a busy stream.
  static constexpr std::chrono::microseconds lock_wait{200};

  /// True on the thread that runs run().
  static bool on_io_thread() noexcept;

  /// How long a thread that has just sent a request may read the stream
  /// for its reply before it leaves that to the I/O thread: the spin time,
  /// or 50 us when this process does not spin (one CPU: the wait sleeps).
  std::chrono::nanoseconds reply_wait() const noexcept {
    return spin_.count() > 0 ? spin_ : std::chrono::nanoseconds{std::chrono::microseconds{50}};
  }

  /// Reads what stream `s` holds on the calling thread and handles each
  /// frame, as the I/O thread does when epoll reports the stream readable;
  /// drops the stream when it closes (or was cut). Returns whether it is
  /// still there. The I/O thread's own way in; the router fuzzer
  /// (tests/fuzz/fuzz_router.cpp) drives a router that was never started
  /// through it.
  bool pump(stream_id s);

  /// Returns the stream a frame for `dst` leaves on, if it leaves at all.
  std::optional<stream_id> next_hop(context_id dst) const;

  /// Bytes queued in this process for stream `s`, not yet written (0 when
  /// the stream is gone).
  std::uint64_t queued_bytes(stream_id s) const;

  /// Sends directly on stream `s` (handshake replies, boot frames).
  bool send_on(stream_id s, serialization::outgoing&& wire);

  /// Answers the request `req` with the frame in `wire` (header space
  /// first, then the payload) of type `t`. A reply too large for the
  /// frame limit becomes a dead reply saying so.
  void reply(const serialization::frame_header& req, serialization::wire_type t,
             serialization::buffer&& wire);

  /// Sends a frame of type `t` carrying `payload...` to every direct child.
  template <class... Ts>
  void send_to_children(serialization::wire_type t, const Ts&... payload) {
    for (auto sid : child_streams())
      if (auto info = stream_info(sid)) {
        serialization::frame_builder fb{serialization::make_header(t, info->peer_id, cfg_.self)};
        if constexpr (sizeof...(Ts) > 0)
          fb.add(payload...);
        send_on(sid, fb.finish());
      }
  }

  /// Answers the request `req` with a dead reply carrying `code` and
  /// `reason`, if the sender waits for one.
  void reply_dead(const serialization::frame_header& req, errc code, const std::string& reason);

  /// Counts a violation decided after the frame left the reader (a call
  /// refused by call rights), from any thread: logs it, answers `req` with
  /// a dead reply and charges it like a refused frame (see violation()).
  void report_violation(stream_id s, errc code, const serialization::frame_header& req,
                        const std::string& detail);

  /// Records that ids [first, first + count) were granted to the subtree
  /// behind child stream `via` (the master's id_service, when it hands a
  /// block to a requester behind `via`).
  void grant(context_id first, std::uint32_t count, stream_id via);

  /// The context at the other end of stream `s`, if the stream exists.
  std::optional<context_id> peer_of(stream_id s) const;
  /// Refuses the request `req` read on stream `s` (0: sent here, by this
  /// process) for a cause that is no violation by itself (no_route, an
  /// unknown function, an undecodable request, a refused file or module, a
  /// request over a limit): answers it dead with `code` and `reason`, and
  /// counts it against a child stream. Each refusal beyond
  /// options::max_refusals in one options::refusal_window is charged as a
  /// violation (report_violation), so a child that floods refused requests
  /// is cut. Refusals from the parent are not counted. Any thread.
  void refuse(stream_id s, const serialization::frame_header& req, errc code,
              const std::string& reason);

  /// Closes stream `s` from any thread; its contexts are reported lost.
  void close_stream(stream_id s, std::string reason);

  /// Publishes a new rule snapshot (called by the policy actor).
  void set_rules(std::shared_ptr<const policy::rules> r);

  /// Returns the current rule snapshot.
  std::shared_ptr<const policy::rules> rules() const;

  /// Returns the ids of the direct children.
  std::vector<context_id> known_contexts() const;

  /// Returns the ids of the streams to direct children.
  std::vector<stream_id> child_streams() const;

  /// Returns the stream options of `s`, if it exists.
  std::optional<stream_options> stream_info(stream_id s) const;

  const router_config& config() const noexcept {
    return cfg_;
  }
  const options& opts() const noexcept {
    return opts_;
  }

  /// The handlers of frames for this process, by wire type. Fill it before
  /// start(); it is read without a lock afterwards.
  handler_table& handlers() noexcept {
    return handlers_;
  }

  /// Announces `id` (a new child of ours) to the parent.
  void announce_route(context_id id, const std::string& name, bool add);

  // -- what the actor faces read (router/interfaces.hpp) ---------------------

  /// Where hellos, route changes, violations and stream losses are posted
  /// (the runtime posts them to the router actor's mailbox). Called on the
  /// thread that saw the event: it must not block. Never called for call
  /// frames. An empty hook stops the events.
  using event_hook = std::function<void(route_event&&)>;
  void set_event_hook(event_hook h);

  /// The router's counters (plain atomics, read here).
  router_stats stats() const;

  /// The counters and state of stream `s`, if it exists.
  std::optional<connection_stats> connection(stream_id s) const;

  /// Every entry of the routing table.
  std::vector<route_entry> routes() const;


private:
  // -- frame_sink: what a stream read (I/O thread or parked reader) ----------

  void on_frame(stream& s, serialization::frame&& f) override;
  void on_handshake(stream& s, const std::string& error) override;

  void run();
  void post(std::function<void()> fn);
  /// Sends on `s`: errc::none, context_lost (closed, or a child cut for
  /// not reading), or limit_exceeded (the parent's queue is full).
  errc send_via(stream& s, serialization::outgoing&& wire);
  errc send_routed(context_id dst, serialization::outgoing&& wire);
  /// Adds (removes) the fds of `s` to (from) epoll.
  void watch_fds(stream& s);
  void unwatch_fds(stream& s);
  void watch(stream& s, bool want_write);
  void update_interest(stream& s);
  void rearm_idle_streams();
  bool pump(stream& s);
  /// Hands a frame for this process to the handler of its type.
  void dispatch(serialization::frame&& f, policy::direction d, stream_id from);
  /// I/O thread: the fd of stream `s`'s driver is readable (epoll `ev`).
  void drive(stream& s, std::uint32_t ev);
  void drop(stream_id s, const std::string& reason);
  // -- violations, route announcements, grants (check.cpp) -----------------

  /// Counts, logs and (unless the source is forged) answers a refused
  /// frame, and charges it (charge()).
  /// options::trace_frames: logs frame `h` read from `s` (router_faces.cpp).
  void trace(const stream& s, const serialization::frame_header& h, std::string_view type,
             std::size_t bytes) const;
  void violation(stream& s, errc code, const serialization::frame_header& h,
                 const std::string& detail);
  /// Charges a violation to its originator: a verified descendant behind
  /// child stream `s` is charged alone (charge_source()); anything else to
  /// the stream, which is cut at the limit (by the reader when `reading`,
  /// else through the I/O thread).
  void charge(stream& s, const serialization::frame_header& h, const std::string& text,
              const char* noun, bool reading);
  /// Counts a violation of `h.src`, when it is a verified context behind
  /// child stream `s` other than the neighbour itself; at the limit cuts it
  /// off (routing_table::isolate): reported lost here and above, its later
  /// frames dropped. Returns false when the stream is to be charged.
  bool charge_source(stream& s, const serialization::frame_header& h, const std::string& text,
                     const char* noun);
  /// Forgets the violation counts of contexts that are gone.
  void forget_violations(const std::vector<context_id>& ids);
  /// refuse() for the thread reading `s` (cuts like violation()).
  void refuse(stream& s, const serialization::frame_header& h, errc code,
              const std::string& reason);
  /// Counts a refusal on `s`; returns the count in the current window when
  /// it is over options::max_refusals, else 0.
  std::uint32_t over_refusals(stream& s);
  void on_route_frame(stream& s, serialization::frame&& f, bool add);
  /// Records the block of an id_grant passing down to child stream `via`.
  void record_grant(const serialization::frame& f, stream_id via);
  std::shared_ptr<stream> find_stream(stream_id s) const;
  void emit(route_event&& e) const;

  // -- heartbeats (heartbeat.cpp) --------------------------------------------

  /// Creates the timer and puts it in epoll (when heartbeat_interval > 0).
  void setup_heartbeat();
  /// I/O thread, once per tick (half an interval): sends a heartbeat on
  /// every handshaken stream nothing went out on for an interval, and drops
  /// every one nothing arrived on for 3 intervals.
  void heartbeat_tick();

  router_config cfg_;
  options opts_;
  std::chrono::nanoseconds spin_;
  delivery& out_;
  handler_table handlers_;
  int epfd_ = -1;
  int evfd_ = -1;
  int timer_fd_ = -1; // heartbeat ticks; -1 when heartbeats are off
  std::thread thread_;
  std::atomic<bool> running_{false};

  mutable std::shared_mutex mtx_; // guards table_ and streams_
  routing_table table_;
  std::unordered_map<stream_id, std::shared_ptr<stream>> streams_;
  stream_id next_stream_ = parent_stream + 1;

  std::mutex post_mtx_;
  std::vector<std::function<void()>> posted_;

  std::atomic<std::shared_ptr<const policy::rules>> rules_;

  // Violations charged to contexts behind a child stream, by id (check.cpp).
  std::mutex src_mtx_;
  std::unordered_map<context_id, std::uint32_t> src_violations_;

  // The actor faces' view: counters (relaxed) and the event hook.
  struct counters {
    std::atomic<std::uint64_t> frames_in{0};
    std::atomic<std::uint64_t> bytes_in{0};
    std::atomic<std::uint64_t> frames_routed{0};
    std::atomic<std::uint64_t> bytes_routed{0};
    std::atomic<std::uint64_t> violations{0};
  };
  counters counts_;
  mutable std::mutex hook_mtx_;
  std::shared_ptr<const event_hook> hook_;

  // Streams a parked reader left out of epoll, to re-arm once idle.
  static constexpr std::chrono::milliseconds rearm_delay{1};
  std::mutex lazy_mtx_;
  std::set<stream_id> lazy_;
};

} // namespace mitosis::router
