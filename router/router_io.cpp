// The router's threads: the epoll I/O loop and its posted work, which fds
// epoll watches, the thread parked on a stream (read_until) and the lazy
// re-arm after it leaves, and driven streams (an ssh session read by the
// thread that waits for it). The routing itself is in router.cpp.
#include "router.hpp"

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <poll.h>
#include <sched.h>
#include <spdlog/spdlog.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "../serialization/log.hpp"
#include "logger.hpp"
#include "spin_yield.hpp"

namespace mitosis::router {

namespace {

constexpr std::uint64_t wake_token = ~std::uint64_t{0};
// The heartbeat timer (heartbeat.cpp).
constexpr std::uint64_t tick_token = ~std::uint64_t{1};

// What an epoll event is about: a stream's read side, its write side, or
// the fd its driver moves bytes from (the ssh socket).
enum class side : unsigned { read = 0, write = 1, driver = 2 };

std::uint64_t token(stream_id s, side which) {
  return (std::uint64_t{s} << 2) | static_cast<unsigned>(which);
}

} // namespace

namespace {

// How long a parked reader polls before it sleeps: MITOSIS_SPIN_US if set,
// else 50 us when this process may run on more than one CPU, else 0.
std::chrono::nanoseconds spin_budget() {
  if (auto v = std::getenv("MITOSIS_SPIN_US"))
    return std::chrono::microseconds{std::atol(v)};
  cpu_set_t set;
  CPU_ZERO(&set);
  if (::sched_getaffinity(0, sizeof(set), &set) == 0 && CPU_COUNT(&set) > 1)
    return std::chrono::microseconds{50};
  return std::chrono::nanoseconds{0};
}

} // namespace

router::router(router_config cfg, const options& opts, delivery& out)
  : cfg_(std::move(cfg)),
    opts_(opts),
    spin_(spin_budget()),
    out_(out),
    table_(cfg_.self, cfg_.has_parent ? std::optional<stream_id>{parent_stream}
                                       : std::nullopt) {
  rules_.store(std::make_shared<const policy::rules>(policy::rules::defaults()));
  epfd_ = ::epoll_create1(EPOLL_CLOEXEC);
  evfd_ = ::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
  epoll_event ev{};
  ev.events = EPOLLIN;
  ev.data.u64 = wake_token;
  ::epoll_ctl(epfd_, EPOLL_CTL_ADD, evfd_, &ev);
  setup_heartbeat();
  if (timer_fd_ >= 0) {
    ev.data.u64 = tick_token;
    ::epoll_ctl(epfd_, EPOLL_CTL_ADD, timer_fd_, &ev);
  }
}

router::~router() {
  stop();
  ::close(evfd_);
  if (timer_fd_ >= 0)
    ::close(timer_fd_);
  ::close(epfd_);
}

void router::start() {
  if (running_.exchange(true))
    return;
  thread_ = std::thread{[this] { run(); }};
}

void router::stop() {
  if (!running_.exchange(false))
    return;
  std::uint64_t one = 1;
  [[maybe_unused]] auto n = ::write(evfd_, &one, sizeof(one));
  if (thread_.joinable())
    thread_.join();
  std::unique_lock<std::shared_mutex> guard{mtx_};
  for (auto& [id, s] : streams_)
    s->close();
  streams_.clear();
}

void router::watch_fds(stream& s) {
  epoll_event ev{};
  ev.events = EPOLLIN | EPOLLRDHUP;
  ev.data.u64 = token(s.id(), side::read);
  ::epoll_ctl(epfd_, EPOLL_CTL_ADD, s.read_fd(), &ev);
  if (s.write_fd() != s.read_fd()) {
    epoll_event wev{};
    wev.events = 0;
    wev.data.u64 = token(s.id(), side::write);
    ::epoll_ctl(epfd_, EPOLL_CTL_ADD, s.write_fd(), &wev);
  }
  // A driven stream's bytes wait beyond its fd (in the ssh socket): the I/O
  // thread reads that too, so that they reach it without a hop through the
  // driver's own thread.
  if (s.driver_fd() >= 0) {
    epoll_event dev{};
    dev.events = EPOLLIN;
    dev.data.u64 = token(s.id(), side::driver);
    ::epoll_ctl(epfd_, EPOLL_CTL_ADD, s.driver_fd(), &dev);
  }
}

void router::unwatch_fds(stream& s) {
  if (s.driver_fd() >= 0)
    ::epoll_ctl(epfd_, EPOLL_CTL_DEL, s.driver_fd(), nullptr);
  ::epoll_ctl(epfd_, EPOLL_CTL_DEL, s.read_fd(), nullptr);
  if (s.write_fd() != s.read_fd())
    ::epoll_ctl(epfd_, EPOLL_CTL_DEL, s.write_fd(), nullptr);
}

void router::post(std::function<void()> fn) {
  {
    std::lock_guard<std::mutex> guard{post_mtx_};
    posted_.push_back(std::move(fn));
  }
  std::uint64_t one = 1;
  [[maybe_unused]] auto n = ::write(evfd_, &one, sizeof(one));
}

void router::watch(stream& s, bool want_write) {
  {
    std::lock_guard<std::mutex> guard{s.polling().mtx};
    s.polling().want_write = want_write;
  }
  update_interest(s);
}

void router::update_interest(stream& s) {
  std::lock_guard<std::mutex> guard{s.polling().mtx};
  const std::uint32_t read_events = s.polling().read_parked ? 0u : (EPOLLIN | EPOLLRDHUP);
  const std::uint32_t write_events = s.polling().want_write ? EPOLLOUT : 0u;
  epoll_event ev{};
  if (s.driver_fd() >= 0) {
    ev.events = s.polling().read_parked ? 0u : EPOLLIN;
    ev.data.u64 = token(s.id(), side::driver);
    ::epoll_ctl(epfd_, EPOLL_CTL_MOD, s.driver_fd(), &ev);
  }
  if (s.write_fd() == s.read_fd()) {
    ev.events = read_events | write_events;
    ev.data.u64 = token(s.id(), side::read);
    ::epoll_ctl(epfd_, EPOLL_CTL_MOD, s.read_fd(), &ev);
    return;
  }
  ev.events = read_events;
  ev.data.u64 = token(s.id(), side::read);
  ::epoll_ctl(epfd_, EPOLL_CTL_MOD, s.read_fd(), &ev);
  ev.events = write_events;
  ev.data.u64 = token(s.id(), side::write);
  ::epoll_ctl(epfd_, EPOLL_CTL_MOD, s.write_fd(), &ev);
}

bool router::read_until(stream_id sid, const std::function<bool()>& done, int wake_fd,
                        std::chrono::steady_clock::time_point until, bool rearm_if_undone,
                        bool stop_between_reads) {
  auto s = find_stream(sid);
  if (!s || !running_.load())
    return false;
  std::unique_lock<std::mutex> reading{s->read_mutex(), std::try_to_lock};
  if (!reading.owns_lock())
    return false;
  auto& parked_now = s->polling().parked_now;
  parked_now.store(true, std::memory_order_relaxed);
  // Take the read side out of epoll (unless a previous parked reader left
  // it out): otherwise data would wake the I/O thread as well as us.
  bool disarm = false;
  {
    std::lock_guard<std::mutex> guard{s->polling().mtx};
    disarm = !s->polling().read_parked;
    s->polling().read_parked = true;
  }
  if (disarm)
    update_interest(*s);
  std::string reason;
  bool closed = false;
  // With a wake fd, whoever makes done() true writes it; without one (a
  // caller waiting for its reply), done() can also turn true from another
  // thread (a loss seen elsewhere, shutdown): look again every 10 ms.
  auto slice = wake_fd >= 0 ? std::chrono::nanoseconds::max()
                            : std::chrono::nanoseconds{std::chrono::milliseconds{10}};
  // A stream with a driver (ssh): this thread drives the connection too,
  // polling its fds and moving their bytes itself, so that a reply costs
  // one wake-up here as on a local stream. When another thread has the
  // connection for now (the driver's own thread, a sender), that thread
  // moves the reply into the stream and we try again shortly.
  const auto driver = s->options().driver;
  bool driving = driver && driver->try_acquire(stream_driver::use::read);
  if (driver)
    slice = std::min<std::chrono::nanoseconds>(slice, std::chrono::seconds{1}); // keepalives
  pollfd fds[2 + stream_driver::max_fds] = {{s->read_fd(), POLLIN, 0}, {wake_fd, POLLIN, 0}};
  int nd = 0;
  // Spin briefly before sleeping when another CPU can run the peer: a reply
  // (or the next call) usually comes within microseconds, and waking a
  // sleeping thread from another vCPU costs tens of them on this kind of VM.
  // On a single CPU spinning would only delay the peer. Nor is it worth it
  // when the last wait on this stream outlasted the spin (a peer behind
  // sshd answers after a network round trip): the spin would only take a
  // CPU from the processes the answer has to pass through. A wait measured
  // without spinning includes the wake-up, so every 16th park spins anyway
  // to see whether the peer has become quick again.
  auto& ps = s->polling();
  const auto parked_at = std::chrono::steady_clock::now();
  const bool spin = ps.last_wait <= spin_ || ++ps.unspun_parks % 16 == 0;
  const auto spin_end = parked_at + (spin ? spin_ : std::chrono::nanoseconds{0});
  bool waited = false;
  spin_yield yield;
  for (;;) {
    // What the driver moved into the stream (or what an earlier holder
    // left for it), then the stream itself.
    bool readable = fds[0].revents != 0;
    if (driving && driver->service(fds + 2, nd))
      readable = true;
    if (readable && !waited) {
      waited = true;
      // A single wait of a millisecond or more is a pause (nothing was
      // asked, or a call ran long), not the speed of the peer: the next
      // wait after it is usually for a quick answer again, so it is
      // recorded only when the wait before was long too (a peer across a
      // real network).
      auto w = std::chrono::steady_clock::now() - parked_at;
      const bool long_wait = w >= std::chrono::milliseconds{1};
      if (!long_wait || ps.long_wait)
        ps.last_wait = w;
      ps.long_wait = long_wait;
    }
    if (readable
        && s->on_readable(*this, reason, stop_between_reads && !driver ? &done : nullptr)
             == stream::io_status::closed) {
      closed = true;
      break;
    }
    if (done() || !running_.load(std::memory_order_relaxed))
      break;
    auto now = std::chrono::steady_clock::now();
    if (now >= until)
      break;
    if (driver && !driving)
      driving = driver->try_acquire(stream_driver::use::read);
    auto cap = driver && !driving ? std::chrono::nanoseconds{std::chrono::microseconds{100}}
                                  : slice;
    auto left = now < spin_end ? std::chrono::nanoseconds{0}
                               : std::min<std::chrono::nanoseconds>(until - now, cap);
    timespec ts{static_cast<time_t>(left.count() / 1000000000),
                static_cast<long>(left.count() % 1000000000)};
    nd = driving ? driver->poll_set(fds + 2) : 0;
    fds[0].revents = fds[1].revents = 0;
    int n = ::ppoll(fds, static_cast<nfds_t>(2 + nd), &ts, nullptr);
    if (n < 0) {
      if (errno != EINTR)
        break;
      for (auto& f : fds)
        f.revents = 0;
      continue;
    }
    if (wake_fd >= 0 && (fds[1].revents & POLLIN))
      break;
    // Spinning, nothing yet: let whoever waits for this CPU run first. A
    // write to a socket wakes its reader on the writer's CPU (a "sync"
    // wake-up, for a writer that is about to sleep); when that reader is
    // the peer we wait for, or the peer's own reader, spinning here would
    // keep it off the CPU for the whole spin. Seen as rounds of spawns at
    // 60 or 120 us (a spin and a wake-up per hop) instead of 12, both
    // processes' readers taking turns on one CPU while the other idled.
    // (spin_yield.hpp: and a spinner that finds its CPU shared with a
    // busy thread moves to another.)
    if (n == 0 && left.count() == 0)
      yield();
  }
  if (driving)
    driver->release();
  parked_now.store(false, std::memory_order_relaxed);
  if (closed) {
    reading.unlock();
    drop(sid, reason);
    return true;
  }
  if (rearm_if_undone && !done()) {
    // Still holding the read mutex, so no re-arm pass or other reader
    // interferes; level-triggered epoll reports what came meanwhile.
    {
      std::lock_guard<std::mutex> guard{s->polling().mtx};
      s->polling().read_parked = false;
    }
    update_interest(*s);
    return true;
  }
  // Leave the read side out of epoll for now: a thread that calls again
  // soon parks without touching epoll. The I/O thread re-arms it once it
  // has been left alone for rearm_delay (see run()).
  {
    std::lock_guard<std::mutex> guard{s->polling().mtx};
    s->polling().released_at = std::chrono::steady_clock::now();
  }
  // Into lazy_ only after letting go of the read mutex: a re-arm pass that
  // finds the stream in lazy_ while its read mutex is held takes it out,
  // trusting the holder to put it back when it leaves; so a reader must
  // never be seen holding the mutex after its own insert.
  reading.unlock();
  bool first;
  {
    std::lock_guard<std::mutex> guard{lazy_mtx_};
    first = lazy_.empty();
    lazy_.insert(sid);
  }
  if (first) {
    std::uint64_t one = 1;
    [[maybe_unused]] auto w = ::write(evfd_, &one, sizeof(one));
  }
  return true;
}

bool router::read_when_free(stream_id sid, const std::function<bool()>& done, int wake_fd,
                            std::chrono::steady_clock::time_point until, bool rearm_if_undone,
                            bool stop_between_reads) {
  // Waits only where spinning pays (more than one CPU), and never for a
  // thread parked on the stream: that one holds it until its own answer
  // comes (seconds, for a call that waits on another) and reads ours too.
  const auto wait = std::min<std::chrono::nanoseconds>(lock_wait, spin_);
  const auto give_up = std::min(until, std::chrono::steady_clock::now() + wait);
  for (;;) {
    if (read_until(sid, done, wake_fd, until, rearm_if_undone, stop_between_reads))
      return true;
    auto s = find_stream(sid);
    if (!running_.load(std::memory_order_relaxed) || !s)
      return false;
    if (done())
      return true;
    if (s->polling().parked_now.load(std::memory_order_relaxed)
        || std::chrono::steady_clock::now() >= give_up)
      return false;
    std::this_thread::yield();
  }
}

void router::drive(stream& s, std::uint32_t ev) {
  // Whoever reads the stream drives its connection: here the I/O thread,
  // unless a thread is parked on the stream (which then polls this fd
  // itself; the fd is out of epoll until it leaves).
  std::unique_lock<std::mutex> reading{s.read_mutex(), std::try_to_lock};
  if (!reading.owns_lock())
    return;
  auto& d = *s.options().driver;
  // Held by a sender or the driver's own thread for a few microseconds:
  // it moves what there is, and epoll reports the fd again if not.
  if (!d.try_acquire(stream_driver::use::watch))
    return;
  pollfd fds[stream_driver::max_fds];
  int nd = d.poll_set(fds);
  if (nd > 0)
    fds[0].revents = static_cast<short>(((ev & EPOLLIN) ? POLLIN : 0)
                                        | ((ev & EPOLLHUP) ? POLLHUP : 0)
                                        | ((ev & EPOLLERR) ? POLLERR : 0));
  // The stream's read side is read right below: room for what is held back.
  if (nd > 1)
    fds[1].revents = static_cast<short>(fds[1].events & POLLOUT);
  bool delivered = d.service(fds, nd);
  d.release();
  if (!delivered)
    return;
  std::string reason;
  auto status = s.on_readable(*this, reason);
  reading.unlock();
  if (status == stream::io_status::closed)
    drop(s.id(), reason);
}

bool router::pump(stream_id sid) {
  auto s = find_stream(sid);
  return s && pump(*s);
}

bool router::pump(stream& s) {
  std::unique_lock<std::mutex> reading{s.read_mutex(), std::try_to_lock};
  if (!reading.owns_lock())
    return true; // a thread is parked on it (read_until) and reads it
  std::string reason;
  auto status = s.on_readable(*this, reason);
  reading.unlock();
  if (status != stream::io_status::closed)
    return true;
  drop(s.id(), reason);
  return false;
}

void router::rearm_idle_streams() {
  // One pass under lazy_mtx_: a reader that releases a stream inserts it
  // under the same mutex after it lets go of the read mutex, so a stream
  // whose read mutex is held is either parked on (its reader inserts it
  // when it leaves) or not yet in lazy_: never left out of both.
  std::lock_guard<std::mutex> lazy_guard{lazy_mtx_};
  auto now = std::chrono::steady_clock::now();
  for (auto i = lazy_.begin(); i != lazy_.end();) {
    auto s = find_stream(*i);
    if (!s) {
      i = lazy_.erase(i);
      continue;
    }
    std::unique_lock<std::mutex> reading{s->read_mutex(), std::try_to_lock};
    if (!reading.owns_lock()) {
      // Parked on right now: its reader puts it back when it leaves.
      i = lazy_.erase(i);
      continue;
    }
    bool idle;
    {
      std::lock_guard<std::mutex> guard{s->polling().mtx};
      idle = now - s->polling().released_at >= rearm_delay;
      if (idle)
        s->polling().read_parked = false;
    }
    if (!idle) {
      ++i;
      continue;
    }
    update_interest(*s);
    i = lazy_.erase(i);
  }
}

namespace {
thread_local bool io_thread = false;
} // namespace

bool router::on_io_thread() noexcept {
  return io_thread;
}

void router::run() {
  io_thread = true;
  epoll_event events[64];
  while (running_.load(std::memory_order_relaxed)) {
    bool lazy;
    {
      std::lock_guard<std::mutex> guard{lazy_mtx_};
      lazy = !lazy_.empty();
    }
    int n = ::epoll_wait(epfd_, events, 64,
                         lazy ? static_cast<int>(rearm_delay.count()) : -1);
    if (lazy)
      rearm_idle_streams();
    if (n < 0) {
      if (errno == EINTR)
        continue;
      lg()->critical("epoll_wait failed: {}", std::strerror(errno));
      break;
    }
    for (int i = 0; i < n; ++i) {
      auto tok = events[i].data.u64;
      if (tok == wake_token) {
        std::uint64_t v;
        [[maybe_unused]] auto r = ::read(evfd_, &v, sizeof(v));
        std::vector<std::function<void()>> todo;
        {
          std::lock_guard<std::mutex> guard{post_mtx_};
          todo.swap(posted_);
        }
        for (auto& fn : todo)
          fn();
        continue;
      }
      if (tok == tick_token) {
        // Expirations missed while this process was stopped count as one:
        // its peers were not silent, it was not listening.
        std::uint64_t v;
        [[maybe_unused]] auto r = ::read(timer_fd_, &v, sizeof(v));
        heartbeat_tick();
        continue;
      }
      auto sid = static_cast<stream_id>(tok >> 2);
      auto s = find_stream(sid);
      if (!s)
        continue;
      const auto which = static_cast<side>(tok & 3);
      const bool write_side = which == side::write;
      auto ev = events[i].events;
      if (which == side::driver) {
        drive(*s, ev);
        continue;
      }
      if ((ev & EPOLLOUT) && s->flush())
        watch(*s, false);
      if (write_side) {
        if (ev & (EPOLLERR | EPOLLHUP)) {
          // The peer stopped reading; what it wrote before may still be in
          // the read side: take that first, then report the loss.
          std::string reason = "peer closed its input";
          {
            std::unique_lock<std::mutex> reading{s->read_mutex(), std::try_to_lock};
            if (reading.owns_lock())
              s->on_readable(*this, reason);
          }
          drop(sid, reason);
        }
        continue;
      }
      if (ev & (EPOLLIN | EPOLLRDHUP | EPOLLHUP | EPOLLERR))
        pump(*s);
    }
  }
}

} // namespace mitosis::router
