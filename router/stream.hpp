// One neighbour byte stream (a child's socketpair, or the agent's own
// stdin/stdout pipes): the handshake, then frames in and out.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <string>

#include "fd.hpp"
#include "routing_table.hpp"
#include "stream_driver.hpp"
#include "../serialization/frame.hpp"
#include "../serialization/handshake.hpp"

namespace mitosis::router {

/// Where a stream hands what it reads: each whole frame, and the outcome
/// of the peer's hello. The router is the one implementation.
class frame_sink {
public:
  virtual ~frame_sink() = default;
  virtual void on_frame(class stream& s, serialization::frame&& f) = 0;
  /// `error` is empty when the hello was accepted.
  virtual void on_handshake(class stream& s, const std::string& error) = 0;
};

/// What a stream is connected to.
struct stream_options {
  std::string peer_name;
  /// Context id of the neighbour itself.
  context_id peer_id = 0;
  /// True for the stream that leads to this process's parent.
  bool is_parent = false;
  /// True while the peer's hello has not been read yet.
  bool expect_hello = true;
  /// Largest payload accepted.
  std::uint32_t max_frame = serialization::default_max_frame_size;
  /// Bytes that may wait in the outgoing queue: a frame sent while more
  /// than this waits is refused (send_result::overflow).
  std::uint64_t max_queued = std::uint64_t{64} << 20;
  /// Child pid (local children) so it can be reaped; 0 otherwise.
  int pid = 0;
  /// Moves the bytes beyond the stream's fds (an ssh channel), driven by
  /// the threads that send on the stream or are parked reading it; null
  /// for plain fds.
  std::shared_ptr<stream_driver> driver;
};

class stream {
public:
  /// @param rfd read side; @param wfd write side (the same fd for a socket)
  stream(stream_id id, unique_fd rfd, unique_fd wfd, stream_options opts);
  ~stream();

  stream(const stream&) = delete;
  stream& operator=(const stream&) = delete;

  enum class send_result {
    /// Written completely.
    sent,
    /// Part of it waits in the queue, which was empty before: the caller
    /// must have the I/O thread watch for writability.
    queued_first,
    /// Appended behind bytes already queued.
    queued,
    /// The stream is closed.
    closed,
    /// Not sent: more than stream_options::max_queued bytes already wait
    /// for the peer, which does not read them.
    overflow,
  };

  /// Writes or queues one whole frame. Thread-safe; never blocks on the
  /// peer. A borrowed blob is written from where it is (writev) and copied
  /// only if part of it has to wait in the queue. With a driver, what was
  /// written is then pushed on (stream_driver::push) by the calling thread,
  /// unless it runs inside deferring_push().
  send_result send(serialization::outgoing&& wire);

  /// How many deferring_push() runs are under way on this thread.
  static int& deferring() noexcept;

  /// Runs `f` on this thread with what it sends on a stream with a driver
  /// written to the stream but not pushed on by it: the next send on that
  /// stream outside such a run pushes everything before it in one go (a
  /// pipelined burst leaves in one ssh packet, not one per frame), and
  /// otherwise the driver's own thread moves it (within its park time).
  template <class F>
  static decltype(auto) deferring_push(F&& f) {
    ++deferring();
    struct undo {
      ~undo() {
        --deferring();
      }
    } on_exit;
    return f();
  }

  /// Outcome of draining the read side.
  enum class io_status { open, closed };

  /// io thread: reads what is available and hands each complete frame to
  /// `r`. Returns closed on EOF, error or a framing violation (`reason`).
  /// With `enough`, it also returns (open) after a read that did not drain
  /// the stream once `*enough` says so: a parked reader whose frames woke
  /// work runs it before it reads more (the rest stays in the kernel).
  io_status on_readable(frame_sink& r, std::string& reason,
                        const std::function<bool()>* enough = nullptr);

  /// io thread: writes queued bytes. Returns true when the queue is empty.
  bool flush();

  /// Marks the stream closed; later sends fail. Thread-safe.
  void close() noexcept;

  stream_id id() const noexcept {
    return id_;
  }
  int read_fd() const noexcept {
    return rfd_.get();
  }
  int write_fd() const noexcept {
    return wfd_.get() >= 0 ? wfd_.get() : rfd_.get();
  }
  const stream_options& options() const noexcept {
    return opts_;
  }
  /// The fd the stream's driver moves bytes from (stream_driver::watch_fd),
  /// or -1.
  int driver_fd() const noexcept {
    return driver_fd_;
  }
  bool handshaken() const noexcept {
    return !awaiting_hello_.load();
  }
  /// Counts one policy violation and returns the new total.
  std::uint32_t add_violation() noexcept {
    return ++violations_;
  }
  std::uint32_t violations() const noexcept {
    return violations_.load(std::memory_order_relaxed);
  }
  /// Whether the stream was closed (sends fail; it is being dropped).
  bool closed() const;

  /// Frames and bytes (headers included) each way: plain relaxed atomics,
  /// counted by the reader (in) and by send (out), read on request by the
  /// actor faces (router/interfaces.hpp).
  struct traffic_counters {
    std::atomic<std::uint64_t> frames_in{0};
    std::atomic<std::uint64_t> bytes_in{0};
    std::atomic<std::uint64_t> frames_out{0};
    std::atomic<std::uint64_t> bytes_out{0};
  };
  traffic_counters& traffic() noexcept {
    return traffic_;
  }
  const traffic_counters& traffic() const noexcept {
    return traffic_;
  }
  /// Asks the read loop to stop after the current frame (cut the stream),
  /// from any thread; the first reason given is kept.
  void cut(std::string reason);

  /// What the router keeps per stream about who reads it and what epoll
  /// watches (the lazy re-arm of docs/architecture.md); guarded by `mtx`,
  /// `routes` by the router's table lock.
  struct poll_state {
    std::mutex mtx;
    /// A thread parked on the stream took its read side out of epoll.
    bool read_parked = false;
    /// Queued bytes wait for EPOLLOUT.
    bool want_write = false;
    /// When the last parked reader left.
    std::chrono::steady_clock::time_point released_at;
    /// Routes announced behind this stream.
    std::uint32_t routes = 0;
    /// How long the last thread parked on the stream waited for its first
    /// bytes (router::read_until; under the read mutex, not `mtx`).
    std::chrono::nanoseconds last_wait{0};
    /// Whether that wait was a long one, 1 ms or more (see read_until).
    bool long_wait = false;
    /// Parks without a spin since the last one with (the same).
    std::uint32_t unspun_parks = 0;
    /// A thread is inside read_until now (set and cleared under the read
    /// mutex, read without it): read_when_free does not wait for it.
    std::atomic<bool> parked_now{false};
  };
  poll_state& polling() noexcept {
    return poll_;
  }

  /// Whether the stream is alive (router/heartbeat.cpp): the reader and
  /// the writers only raise a flag, and the router's heartbeat timer, on the
  /// I/O thread, looks at the flags once a tick and counts the ticks.
  struct liveness {
    /// Bytes arrived since the last tick (any frame counts as life).
    std::atomic<bool> heard{false};
    /// Bytes went out since the last tick.
    std::atomic<bool> sent{false};
    /// Ticks in a row without `heard`, and without `sent` (I/O thread).
    std::uint32_t silent_ticks = 0;
    std::uint32_t quiet_ticks = 0;
  };
  liveness& alive() noexcept {
    return alive_;
  }
  /// True while queued bytes wait for the peer to read them.
  bool has_queued() const;
  /// Bytes waiting to be written (a partly written buffer counts only its
  /// rest, so a peer taking one big frame is seen to make progress).
  std::size_t queued_bytes() const;

  /// Counts one refusal (router::refuse) in the window that holds `now`
  /// (a new window starts when `window` has passed since the last one
  /// began); returns the count in that window. Refusals only: never on
  /// the call path.
  std::uint32_t add_refusal(std::chrono::steady_clock::time_point now,
                            std::chrono::milliseconds window);

  /// Guards the read state: the I/O thread holds it (try_lock) while it
  /// reads, a thread parked on the stream (router::read_until) while parked.
  std::mutex& read_mutex() noexcept {
    return read_mtx_;
  }

private:
  bool parse(frame_sink& r, std::string& reason);
  send_result send_locked(serialization::outgoing&& wire, bool& wrote);
  bool flush_locked(bool& wrote);
  void mark_sent() noexcept;
  std::string cut_reason() const;

  stream_id id_;
  unique_fd rfd_;
  unique_fd wfd_;
  stream_options opts_;
  int driver_fd_ = -1;

  mutable std::mutex out_mtx_;
  std::deque<serialization::buffer> out_q_;
  std::size_t out_off_ = 0;
  std::size_t out_bytes_ = 0;
  bool closed_ = false;

  // Read state, io thread only.
  serialization::buffer in_;
  std::size_t in_len_ = 0;
  bool in_payload_ = false;
  serialization::frame cur_;
  std::size_t got_ = 0;
  // Set once by cut(); the reader checks the flag between frames.
  std::atomic<bool> cut_{false};
  mutable std::mutex cut_mtx_;
  std::string cut_reason_;
  std::atomic<std::uint32_t> violations_{0};
  std::mutex refusal_mtx_;
  std::chrono::steady_clock::time_point refusal_window_start_{};
  std::uint32_t refusals_ = 0;
  traffic_counters traffic_;
  std::mutex read_mtx_;
  std::atomic<bool> awaiting_hello_;
  poll_state poll_;
  liveness alive_;
};

} // namespace mitosis::router
