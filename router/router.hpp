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

#include "mitosis/policy/rules.hpp"
#include "mitosis/router/routing_table.hpp"
#include "mitosis/router/stream.hpp"
#include "mitosis/serialization/frame.hpp"

namespace mitosis::router {

/// What the router hands to the rest of the process. Called on the I/O
/// thread: implementations must not block.
class delivery {
public:
  virtual ~delivery() = default;
  /// A frame for this process that passed the framing, source and type checks.
  virtual void deliver(serialization::frame&& f, policy::direction d, stream_id from) = 0;
  /// Contexts that can no longer be reached.
  virtual void lost(const std::vector<context_id>& ids, const std::string& reason) = 0;
  /// The stream to the parent is gone.
  virtual void parent_lost(const std::string& reason) = 0;
  /// A child's hello was read (`error` empty) or refused.
  virtual void handshake_done(stream_id s, context_id peer, const std::string& error) = 0;
};

struct router_config {
  context_id self = master_id;
  std::string name = "master";
  /// Parent's context id; meaningful only when has_parent.
  context_id parent_id = master_id;
  bool has_parent = false;
  std::uint32_t max_frame = serialization::default_max_frame_size;
  /// Violations from one stream before it is cut.
  std::uint32_t max_violations = 8;
  /// Contexts a child stream may announce behind itself (route_add).
  std::uint32_t max_routes_per_child = 1u << 16;
};

/// The stream id always used for the parent.
inline constexpr stream_id parent_stream = 1;

class router {
public:
  router(router_config cfg, delivery& out);
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

  /// Makes the calling thread the reader of stream `s` until `done()`
  /// returns true, `wake_fd` (when >= 0) becomes readable, or `until`
  /// passes. Frames are handled exactly as on the I/O thread, which is not
  /// woken at all: a blocking call then costs one thread wake-up per
  /// direction, like a raw socket. A stream with a driver (ssh) is driven
  /// by this thread meanwhile: it polls the driver's fds too and moves their
  /// bytes itself. Returns false at once when the stream is unknown or
  /// another thread is reading it.
  bool read_until(stream_id s, const std::function<bool()>& done, int wake_fd,
                  std::chrono::steady_clock::time_point until);

  /// Returns the stream a frame for `dst` leaves on, if it leaves at all.
  std::optional<stream_id> next_hop(context_id dst) const;

  /// Sends directly on stream `s` (handshake replies, boot frames).
  bool send_on(stream_id s, serialization::outgoing&& wire);

  /// Answers the request `req` with a dead reply carrying `code` and
  /// `reason`, if the sender waits for one.
  void reply_dead(const serialization::frame_header& req, errc code, const std::string& reason);

  /// Counts a violation decided after the frame left the reader (a call
  /// refused by call rights), from any thread: logs it, answers `req` with
  /// a dead reply and closes `s` at the limit.
  void report_violation(stream_id s, errc code, const serialization::frame_header& req,
                        const std::string& detail);

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

  /// Announces `id` (a new child of ours) to the parent.
  void announce_route(context_id id, const std::string& name, bool add);

  // -- I/O thread callbacks from stream -------------------------------------

  void on_frame(stream& s, serialization::frame&& f);
  void on_handshake(stream& s, const std::string& error);

private:
  void run();
  void post(std::function<void()> fn);
  bool send_via(stream& s, serialization::outgoing&& wire);
  void watch(stream& s, bool want_write);
  void update_interest(stream& s);
  void rearm_idle_streams();
  /// I/O thread: the fd of stream `s`'s driver is readable (epoll `ev`).
  void drive(stream& s, std::uint32_t ev);
  void drop(stream_id s, const std::string& reason);
  /// Counts, logs and (unless the source is forged) answers a refused
  /// frame; cuts the stream at the limit.
  void violation(stream& s, errc code, const serialization::frame_header& h,
                 const std::string& detail);
  void on_route_frame(stream& s, serialization::frame&& f, bool add);
  std::shared_ptr<stream> find_stream(stream_id s) const;

  router_config cfg_;
  std::chrono::nanoseconds spin_;
  delivery& out_;
  int epfd_ = -1;
  int evfd_ = -1;
  std::thread thread_;
  std::atomic<bool> running_{false};

  mutable std::shared_mutex mtx_; // guards table_ and streams_
  routing_table table_;
  std::unordered_map<stream_id, std::shared_ptr<stream>> streams_;
  stream_id next_stream_ = parent_stream + 1;

  std::mutex post_mtx_;
  std::vector<std::function<void()>> posted_;

  std::atomic<std::shared_ptr<const policy::rules>> rules_;

  // Streams a parked reader left out of epoll, to re-arm once idle.
  static constexpr std::chrono::milliseconds rearm_delay{1};
  std::mutex lazy_mtx_;
  std::set<stream_id> lazy_;
};

} // namespace mitosis::router
