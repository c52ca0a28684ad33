// One neighbour byte stream (a child's socketpair, or the agent's own
// stdin/stdout pipes): the handshake, then frames in and out.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <deque>
#include <memory>
#include <mutex>
#include <string>

#include "mitosis/router/routing_table.hpp"
#include "mitosis/router/stream_driver.hpp"
#include "mitosis/serialization/frame.hpp"
#include "mitosis/serialization/handshake.hpp"

namespace mitosis::router {

class router;

/// An owned file descriptor.
class unique_fd {
public:
  unique_fd() = default;
  explicit unique_fd(int fd) noexcept : fd_(fd) {}
  unique_fd(unique_fd&& other) noexcept : fd_(other.release()) {}
  unique_fd& operator=(unique_fd&& other) noexcept;
  unique_fd(const unique_fd&) = delete;
  unique_fd& operator=(const unique_fd&) = delete;
  ~unique_fd();
  int get() const noexcept {
    return fd_;
  }
  int release() noexcept {
    int fd = fd_;
    fd_ = -1;
    return fd;
  }
  void reset(int fd = -1) noexcept;

private:
  int fd_ = -1;
};

/// Writes all `n` bytes to a blocking or non-blocking `fd`, waiting for it
/// to drain when needed. Returns false on an error (errno is kept).
bool write_fully(int fd, const char* p, std::size_t n) noexcept;

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
  };

  /// Writes or queues one whole frame. Thread-safe; never blocks on the
  /// peer. A borrowed blob is written from where it is (writev) and copied
  /// only if part of it has to wait in the queue. With a driver, what was
  /// written is then pushed on (stream_driver::push) by the calling thread.
  send_result send(serialization::outgoing&& wire);

  /// Outcome of draining the read side.
  enum class io_status { open, closed };

  /// io thread: reads what is available and hands each complete frame to
  /// `r`. Returns closed on EOF, error or a framing violation (`reason`).
  io_status on_readable(router& r, std::string& reason);

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
  /// Asks the read loop to stop after the current frame (cut the stream).
  void cut(std::string reason);

  /// Guards the read state: the I/O thread holds it (try_lock) while it
  /// reads, a thread parked on the stream (router::read_until) while parked.
  std::mutex& read_mutex() noexcept {
    return read_mtx_;
  }

private:
  bool parse(router& r, std::string& reason);
  send_result send_locked(serialization::outgoing&& wire, bool& wrote);
  bool flush_locked(bool& wrote);

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
  std::string cut_reason_;
  std::atomic<std::uint32_t> violations_{0};
  std::uint32_t routes_ = 0; // announced routes behind this stream, router::mtx_
  std::mutex read_mtx_;
  std::atomic<bool> awaiting_hello_;
  // How long the last thread parked on the stream waited for its first
  // bytes (router::read_until, under read_mtx_).
  std::chrono::nanoseconds last_wait_{0};
  std::uint32_t unspun_parks_ = 0;

  // What the I/O thread's epoll watches for this stream; router only.
  friend class router;
  std::mutex interest_mtx_;
  bool read_parked_ = false;
  bool want_write_ = false;
  std::chrono::steady_clock::time_point released_at_;
};

} // namespace mitosis::router
