// The ssh pump: one thread per process that owns every libssh session after
// set-up and moves bytes between each channel and a socketpair the router
// reads like any other stream; and each connection as its stream's driver,
// so that a caller can move its own session's bytes on its own thread.
// Private to bootstrap/ (it exposes libssh's types).
#pragma once

#include <atomic>
#include <chrono>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include <libssh/libssh.h>

#include "flight_cap.hpp"
#include "ssh_loader.hpp"
#include "../router/stream.hpp"
#include "../router/stream_driver.hpp"

namespace mitosis::bootstrap::ssh_impl {

/// The remote command's stderr so far (its tail), for error messages.
struct stderr_tail {
  std::mutex mtx;
  std::string text;
};

/// One ssh connection handed to the pump: the session, its exec channel
/// and the pump's end of the socketpair, with what is in flight each way.
///
/// Exactly one thread touches the session at a time (libssh is not
/// thread-safe): the pump, or a thread that took it as the stream's driver
/// (a sender pushing its frame into the channel, a thread parked on the
/// stream waiting for its reply, or the router's I/O thread woken by the
/// socket). Whoever holds it follows the same rules (serve(): drain after
/// every libssh call, stderr before stdout, read until empty). A connection a caller drove in the last
/// `park_time` is left out of the pump's poll set (wholly after a parked
/// reader, which watched the socket itself; only the socketpair end after a
/// sender, whose bytes every later sender pushes on too), so that the pump
/// is not woken for traffic a caller moves; the pump puts it back once left
/// alone that long, or at once when a transfer is still under way. Once the
/// router has the stream, its I/O thread (or a parked reader) reads the
/// socket: the pump polls it for input only while a transfer is under way.
class conn final : public router::stream_driver {
public:
  static constexpr std::chrono::milliseconds park_time{1};

  // Set up by start_ssh before the pump gets it.
  session_ptr session;
  ssh_channel channel = nullptr;
  router::unique_fd local;
  std::string label;
  std::shared_ptr<stderr_tail> err;
  /// ServerAliveInterval / ServerAliveCountMax: a keepalive every
  /// `keepalive` (0: none); `keepalive_count` left unanswered in a row
  /// declare the peer dead.
  std::chrono::seconds keepalive{0};
  int keepalive_count = 3;
  std::chrono::steady_clock::time_point next_keepalive{};
  /// The session's socket (ssh_get_fd).
  int sock = -1;

  ~conn() override;

  // -- stream_driver (callers) ----------------------------------------------
  bool try_acquire(use u) noexcept override;
  void release() noexcept override;
  int poll_set(pollfd* out) noexcept override;
  bool service(const pollfd* fds, int n) noexcept override;
  void push() noexcept override;
  void hand_back() noexcept override;
  int watch_fd() noexcept override;
  std::string closed_reason() const override;

  // -- the pump ---------------------------------------------------------------
  /// Takes the connection for the pump; false when a caller has it.
  bool pump_acquire() noexcept {
    return lock();
  }
  void pump_release() noexcept {
    unlock();
  }
  /// Whether a thread parked on the stream holds it (it will be a while).
  bool held_by_reader() const noexcept {
    return reading_.load(std::memory_order_relaxed);
  }
  /// Holder: fills the pump's poll entries (the socket, then the
  /// socketpair end; events 0 leaves one out) and narrows `timeout` to
  /// when the connection needs the pump again. False: parked by a caller,
  /// left out altogether.
  bool pump_poll_set(pollfd* out, std::chrono::steady_clock::time_point now,
                     std::chrono::steady_clock::time_point& wake_at) noexcept;
  /// Holder: services the connection after the pump's poll.
  void pump_service(const pollfd& remote, const pollfd& local) noexcept {
    serve(remote, local);
  }
  /// Frees the channel and the session (the last owner, when done: the
  /// socket stays open, so no other fd takes its number, while the router
  /// may still watch it).
  void close_session() noexcept;
  bool done() const noexcept {
    return done_;
  }

private:
  static constexpr unsigned held_bit = 1;
  static constexpr unsigned pushed_bit = 2;

  bool lock() noexcept {
    return !(state_.fetch_or(held_bit, std::memory_order_acq_rel) & held_bit);
  }
  /// Moves bytes senders pushed while it was held, then lets go.
  void unlock() noexcept;
  /// Holder: whether nothing is in flight (a caller may park it).
  bool quiet() const noexcept;
  void serve(const pollfd& remote, const pollfd& local) noexcept;
  long drain_channel(bool with_stderr = true);
  void read_stderr();
  void finish(const std::string& why);
  /// A keepalive is due: checks the last one was answered, sends the next.
  /// False when the peer was declared dead (finished).
  bool keepalive_tick();

  std::atomic<unsigned> state_{0};
  std::atomic<bool> reading_{false};
  std::atomic<bool> handed_back_{false};
  // The router's I/O thread watches the socket (watch_fd): the pump polls
  // it only for POLLOUT.
  std::atomic<bool> router_watches_{false};
  use use_ = use::send; // the caller's, while held by a caller

  // The rest belongs to whoever holds the connection.
  std::chrono::steady_clock::time_point read_park_until_{};
  std::chrono::steady_clock::time_point send_park_until_{};
  bool was_parked_ = false; // pump: left out last time (drain on return)
  std::string err_partial_;
  std::vector<char> to_remote_;
  std::size_t to_remote_off_ = 0;
  flight_cap cap_; // until the router has the stream
  std::vector<char> to_local_;
  std::size_t to_local_off_ = 0;
  bool local_more_ = false; // the last read of the socketpair end filled the buffer
  bool local_eof_ = false;
  bool done_ = false;
  bool keepalive_pending_ = false; // sent, not answered yet
  int keepalive_missed_ = 0;
  mutable std::mutex reason_mtx_;
  std::string closed_reason_; // reason_mtx_: read by the router's thread
  bool delivered_ = false; // service(): bytes (or the end) went to the router's end
  // Drain once on arrival: set-up (the exec request) may already have
  // taken the first output off the socket into libssh's buffer.
  bool kick_ = true;
};

/// Hands `c` (connected, its channel running the command, the session
/// non-blocking) to the pump, which starts on the first call.
void pump_add(std::shared_ptr<conn> c);

/// Wakes the pump so that it looks at its connections again (one was
/// finished, or parked by a caller with bytes still in flight).
void pump_wake() noexcept;

} // namespace mitosis::bootstrap::ssh_impl
