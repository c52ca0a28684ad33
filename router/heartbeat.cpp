// Stream liveness: the heartbeat timer of the I/O thread. A stream's reader
// and writers only raise a flag (stream::liveness); once a tick (half of
// options::heartbeat_interval) the I/O thread looks at the flags of every
// handshaken stream, sends a heartbeat where nothing went out for an
// interval and drops, like a closed stream, every one nothing arrived on for
// 3 intervals: a frozen peer (SIGSTOP, a hung host, a network partition
// that keeps the TCP connection) is then lost with everything behind it.
// The call fast path gains no syscall and no clock read.
#include "router.hpp"

#include <csignal>
#include <spdlog/spdlog.h>
#include <sys/timerfd.h>

#include "../serialization/log.hpp"
#include "logger.hpp"

namespace mitosis::router {

namespace {

// Ticks per interval: a stream is lost after silent_limit ticks without a
// byte (3 intervals, detected within 3.5), and a heartbeat goes out after
// quiet_limit ticks without one (one interval).
constexpr std::uint32_t ticks_per_interval = 2;
constexpr std::uint32_t silent_limit = 3 * ticks_per_interval;
constexpr std::uint32_t quiet_limit = ticks_per_interval;

} // namespace

void router::setup_heartbeat() {
  if (opts_.heartbeat_interval.count() <= 0)
    return;
  timer_fd_ = ::timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
  if (timer_fd_ < 0) {
    lg()->error("[{}] timerfd_create failed: heartbeats are off", cfg_.name);
    return;
  }
  const auto tick = std::chrono::duration_cast<std::chrono::nanoseconds>(
    opts_.heartbeat_interval / ticks_per_interval);
  timespec ts{static_cast<time_t>(tick.count() / 1000000000),
              static_cast<long>(tick.count() % 1000000000)};
  itimerspec spec{ts, ts};
  ::timerfd_settime(timer_fd_, 0, &spec, nullptr);
}

void router::heartbeat_tick() {
  std::vector<std::shared_ptr<stream>> all;
  {
    std::shared_lock<std::shared_mutex> guard{mtx_};
    all.reserve(streams_.size());
    for (auto& [id, s] : streams_)
      all.push_back(s);
  }
  std::vector<std::shared_ptr<stream>> silent;
  for (auto& s : all) {
    // Not before the handshake: a slow bootstrap is connect_timeout's.
    if (!s->handshaken())
      continue;
    auto& a = s->alive();
    if (a.heard.exchange(false, std::memory_order_relaxed))
      a.silent_ticks = 0;
    else if (++a.silent_ticks >= silent_limit) {
      silent.push_back(s);
      continue;
    }
    if (a.sent.exchange(false, std::memory_order_relaxed)) {
      a.quiet_ticks = 0;
      continue;
    }
    if (++a.quiet_ticks < quiet_limit)
      continue;
    a.quiet_ticks = 0;
    // Bytes still queued mean the peer is not reading: a heartbeat behind
    // them tells it nothing.
    if (s->has_queued())
      continue;
    const auto& o = s->options();
    send_via(*s, serialization::frame_builder{serialization::make_header(
                                                serialization::wire_type::heartbeat,
                                                o.is_parent ? cfg_.parent_id : o.peer_id,
                                                cfg_.self)}
                   .finish());
    a.sent.store(false, std::memory_order_relaxed); // that was no traffic of its own
  }
  for (auto& s : silent) {
    const auto& o = s->options();
    const auto reason = "nothing heard for 3 heartbeat intervals ("
                        + std::to_string(3 * opts_.heartbeat_interval.count())
                        + " ms): frozen or unreachable";
    lg()->warn("[{}] stream to '{}' (context {}): {}", cfg_.name, o.peer_name,
               o.is_parent ? cfg_.parent_id : o.peer_id, reason);
    // A local child we started: it is cut off for good, so it must not
    // come back (SIGCONT) as an orphan holding what it had.
    if (!o.is_parent && o.pid > 0)
      ::kill(o.pid, SIGKILL);
    drop(s->id(), reason);
  }
}

} // namespace mitosis::router
