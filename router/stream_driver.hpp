// A stream's driver: moves the stream's bytes through something the router
// cannot poll by itself (an ssh channel behind a socketpair), so that a
// thread that sends on the stream, or is parked reading it, can drive the
// connection itself instead of waking the driver's own thread.
#pragma once

#include <poll.h>

#include <string>

namespace mitosis::router {

class stream_driver {
public:
  virtual ~stream_driver() = default;

  /// What a thread takes the connection for.
  enum class use {
    /// A sender moving the bytes it just wrote (push).
    send,
    /// A thread parked reading the stream (router::read_until).
    read,
    /// The router's I/O thread, woken by watch_fd().
    watch,
  };

  /// The most entries poll_set() fills.
  static constexpr int max_fds = 2;

  /// Takes the connection for the calling thread, or returns false at once
  /// when another thread (the driver's own, or another caller) has it.
  /// Exclusive: one thread at a time drives it.
  virtual bool try_acquire(use u) noexcept = 0;

  /// Gives it back. Bytes other threads wrote into the stream while it was
  /// held are moved out first.
  virtual void release() noexcept = 0;

  /// Holder only: the fds and events to poll while driving; returns how
  /// many entries of `out` (at most max_fds) it filled.
  virtual int poll_set(pollfd* out) noexcept = 0;

  /// Holder only: moves whatever is available both ways. `fds` are
  /// poll_set()'s entries with their revents (none set: only what is due,
  /// such as a keepalive). Returns true when it handed bytes (or the end of
  /// the connection) to the stream's read side.
  virtual bool service(const pollfd* fds, int n) noexcept = 0;

  /// After bytes were written into the stream: moves them out now on the
  /// calling thread, or leaves them to the thread that holds the
  /// connection, which moves them before it lets go. Never blocks.
  virtual void push() noexcept = 0;

  /// The stream's write side is full (a big transfer): the driver's own
  /// thread takes over moving bulk data at once.
  virtual void hand_back() noexcept = 0;

  /// The fd whose readability means bytes for the stream wait beyond it
  /// (the ssh socket). The router's I/O thread watches it, as it watches
  /// the stream's own fd, and drives the connection when it fires (the
  /// driver's own thread then leaves that to it); -1: none. The fd stays
  /// open as long as the driver lives.
  virtual int watch_fd() noexcept = 0;

  /// Why the driver ended the connection ("" when it did not, or has no
  /// more to say than "stream closed"): the stream's loss reason.
  virtual std::string closed_reason() const {
    return {};
  }
};

} // namespace mitosis::router
