#include "mitosis/router/router.hpp"

#include <cerrno>
#include <cstring>
#include <fcntl.h>
#include <spdlog/spdlog.h>
#include <cstdlib>
#include <poll.h>
#include <sched.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "mitosis/serialization/log.hpp"
#include "mitosis/serialization/messages.hpp"

namespace mitosis::router {

using serialization::frame;
using serialization::frame_header;
using serialization::wire_type;

namespace {

constexpr std::uint64_t wake_token = ~std::uint64_t{0};

// What an epoll event is about: a stream's read side, its write side, or
// the fd its driver moves bytes from (the ssh socket).
enum class side : unsigned { read = 0, write = 1, driver = 2 };

std::uint64_t token(stream_id s, side which) {
  return (std::uint64_t{s} << 2) | static_cast<unsigned>(which);
}

void set_nonblocking(int fd) {
  int fl = ::fcntl(fd, F_GETFL);
  if (fl >= 0)
    ::fcntl(fd, F_SETFL, fl | O_NONBLOCK);
}

const auto& lg() {
  static auto l = log::get("router");
  return l;
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

router::router(router_config cfg, delivery& out)
  : cfg_(std::move(cfg)),
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
}

router::~router() {
  stop();
  ::close(evfd_);
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

stream_id router::add_stream(unique_fd rfd, unique_fd wfd, stream_options opts) {
  set_nonblocking(rfd.get());
  if (wfd.get() >= 0)
    set_nonblocking(wfd.get());
  opts.max_frame = cfg_.max_frame;
  const auto peer = opts.peer_id;
  const bool is_parent = opts.is_parent;
  stream_id id;
  {
    std::unique_lock<std::shared_mutex> guard{mtx_};
    id = is_parent ? parent_stream : next_stream_++;
  }
  auto s = std::make_shared<stream>(id, std::move(rfd), std::move(wfd), std::move(opts));
  // Register with epoll before the stream can be found: a send that
  // queues bytes must find the fd there when it asks for EPOLLOUT. Events
  // that come before it is published are reported again (level-triggered).
  epoll_event ev{};
  ev.events = EPOLLIN | EPOLLRDHUP;
  ev.data.u64 = token(id, side::read);
  ::epoll_ctl(epfd_, EPOLL_CTL_ADD, s->read_fd(), &ev);
  if (s->write_fd() != s->read_fd()) {
    epoll_event wev{};
    wev.events = 0;
    wev.data.u64 = token(id, side::write);
    ::epoll_ctl(epfd_, EPOLL_CTL_ADD, s->write_fd(), &wev);
  }
  // A driven stream's bytes wait beyond its fd (in the ssh socket): the I/O
  // thread reads that too, so that they reach it without a hop through the
  // driver's own thread.
  if (s->driver_fd() >= 0) {
    epoll_event dev{};
    dev.events = EPOLLIN;
    dev.data.u64 = token(id, side::driver);
    ::epoll_ctl(epfd_, EPOLL_CTL_ADD, s->driver_fd(), &dev);
  }
  std::unique_lock<std::shared_mutex> guard{mtx_};
  streams_.emplace(id, s);
  if (!is_parent && !table_.add(peer, id)) {
    // Someone announced this id before we started the child: ours is the
    // authority (we allocated the id), theirs was a lie.
    lg()->warn("[{}] context {} was claimed by another stream before it started; "
               "routing it to its own stream",
               cfg_.name, peer);
    table_.remove(peer);
    table_.add(peer, id);
  }
  return id;
}

std::shared_ptr<stream> router::find_stream(stream_id s) const {
  std::shared_lock<std::shared_mutex> guard{mtx_};
  auto i = streams_.find(s);
  return i == streams_.end() ? nullptr : i->second;
}

errc router::send(context_id dst, serialization::outgoing&& wire) {
  if (wire.size() - frame_header::size > cfg_.max_frame)
    return errc::frame_too_large;
  std::shared_ptr<stream> s;
  {
    std::shared_lock<std::shared_mutex> guard{mtx_};
    auto r = table_.lookup(dst);
    if (r.kind == route::unroutable)
      return errc::no_route;
    if (r.kind == route::local) {
      guard.unlock();
      auto flat = std::move(wire).flatten();
      auto hdr = serialization::decode_header(reinterpret_cast<const std::byte*>(flat.data()));
      frame f{hdr, serialization::buffer(flat.begin() + frame_header::size, flat.end())};
      out_.deliver(std::move(f), policy::direction::from_parent, 0);
      return errc::none;
    }
    auto i = streams_.find(r.via);
    if (i == streams_.end())
      return errc::context_lost;
    s = i->second;
  }
  return send_via(*s, std::move(wire)) ? errc::none : errc::context_lost;
}

bool router::send_via(stream& s, serialization::outgoing&& wire) {
  switch (s.send(std::move(wire))) {
    case stream::send_result::closed:
      close_stream(s.id(), "write failed");
      return false;
    case stream::send_result::queued_first: {
      auto id = s.id();
      post([this, id] {
        if (auto st = find_stream(id))
          watch(*st, true);
      });
      return true;
    }
    default:
      return true;
  }
}

bool router::send_on(stream_id id, serialization::outgoing&& wire) {
  auto s = find_stream(id);
  return s && send_via(*s, std::move(wire));
}

void router::reply_dead(const frame_header& req, errc code, const std::string& reason) {
  auto* info = serialization::type_registry::find(req.type);
  if (req.reply_to == 0 || (info && info->is_reply)
      || (req.flags & serialization::frame_flags::no_reply))
    return;
  serialization::dead_info d{static_cast<std::uint8_t>(code),
                             reason + " (at context " + std::to_string(cfg_.self) + " '"
                               + cfg_.name + "')"};
  auto wire = serialization::frame_builder{serialization::make_header(
                                             wire_type::dead, req.src, cfg_.self,
                                             req.reply_to)}
                .add(d)
                .finish()
                ;
  send(req.src, std::move(wire));
}

void router::report_violation(stream_id sid, errc code, const frame_header& req,
                              const std::string& detail) {
  reply_dead(req, code, std::string{to_string(code)} + ": " + detail);
  auto s = find_stream(sid);
  if (!s)
    return;
  auto n = s->add_violation();
  lg()->warn("[{}] refused {} from context {} on stream to '{}': {}: {} ({} of {})", cfg_.name,
             serialization::type_registry::name(req.type), req.src, s->options().peer_name,
             to_string(code), detail, n, cfg_.max_violations);
  if (n == cfg_.max_violations)
    close_stream(sid, "cut: " + std::to_string(n) + " policy violations");
}

void router::close_stream(stream_id s, std::string reason) {
  post([this, s, reason = std::move(reason)] { drop(s, reason); });
}

void router::set_rules(std::shared_ptr<const policy::rules> r) {
  rules_.store(std::move(r));
}

std::shared_ptr<const policy::rules> router::rules() const {
  return rules_.load();
}

std::vector<context_id> router::known_contexts() const {
  std::vector<context_id> out;
  std::shared_lock<std::shared_mutex> guard{mtx_};
  for (auto& [id, s] : streams_)
    if (!s->options().is_parent)
      out.push_back(s->options().peer_id);
  return out;
}

std::vector<stream_id> router::child_streams() const {
  std::vector<stream_id> out;
  std::shared_lock<std::shared_mutex> guard{mtx_};
  for (auto& [id, s] : streams_)
    if (!s->options().is_parent)
      out.push_back(id);
  return out;
}

std::optional<stream_options> router::stream_info(stream_id id) const {
  if (auto s = find_stream(id))
    return s->options();
  return std::nullopt;
}

void router::announce_route(context_id id, const std::string& name, bool add) {
  if (!cfg_.has_parent)
    return;
  auto wire = serialization::frame_builder{serialization::make_header(
                                             add ? wire_type::route_add : wire_type::route_del,
                                             cfg_.parent_id, cfg_.self)}
                .add(serialization::route_info{id, name})
                .finish();
  send_on(parent_stream, std::move(wire));
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
    std::lock_guard<std::mutex> guard{s.interest_mtx_};
    s.want_write_ = want_write;
  }
  update_interest(s);
}

void router::update_interest(stream& s) {
  std::lock_guard<std::mutex> guard{s.interest_mtx_};
  const std::uint32_t read_events = s.read_parked_ ? 0u : (EPOLLIN | EPOLLRDHUP);
  const std::uint32_t write_events = s.want_write_ ? EPOLLOUT : 0u;
  epoll_event ev{};
  if (s.driver_fd() >= 0) {
    ev.events = s.read_parked_ ? 0u : EPOLLIN;
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

std::optional<stream_id> router::next_hop(context_id dst) const {
  std::shared_lock<std::shared_mutex> guard{mtx_};
  auto r = table_.lookup(dst);
  if (r.kind == route::stream || r.kind == route::parent)
    return r.via;
  return std::nullopt;
}

bool router::read_until(stream_id sid, const std::function<bool()>& done, int wake_fd,
                        std::chrono::steady_clock::time_point until) {
  auto s = find_stream(sid);
  if (!s || !running_.load())
    return false;
  std::unique_lock<std::mutex> reading{s->read_mutex(), std::try_to_lock};
  if (!reading.owns_lock())
    return false;
  // Take the read side out of epoll (unless a previous parked reader left
  // it out): otherwise data would wake the I/O thread as well as us.
  bool disarm = false;
  {
    std::lock_guard<std::mutex> guard{s->interest_mtx_};
    disarm = !s->read_parked_;
    s->read_parked_ = true;
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
  const auto parked_at = std::chrono::steady_clock::now();
  const bool spin = s->last_wait_ <= spin_ || ++s->unspun_parks_ % 16 == 0;
  const auto spin_end = parked_at + (spin ? spin_ : std::chrono::nanoseconds{0});
  bool waited = false;
  for (;;) {
    // What the driver moved into the stream (or what an earlier holder
    // left for it), then the stream itself.
    bool readable = fds[0].revents != 0;
    if (driving && driver->service(fds + 2, nd))
      readable = true;
    if (readable && !waited) {
      waited = true;
      s->last_wait_ = std::chrono::steady_clock::now() - parked_at;
    }
    if (readable && s->on_readable(*this, reason) == stream::io_status::closed) {
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
  }
  if (driving)
    driver->release();
  if (closed) {
    reading.unlock();
    drop(sid, reason);
    return true;
  }
  // Leave the read side out of epoll for now: a thread that calls again
  // soon parks without touching epoll. The I/O thread re-arms it once it
  // has been left alone for rearm_delay (see run()).
  {
    std::lock_guard<std::mutex> guard{s->interest_mtx_};
    s->released_at_ = std::chrono::steady_clock::now();
  }
  bool first;
  {
    std::lock_guard<std::mutex> guard{lazy_mtx_};
    first = lazy_.empty();
    lazy_.insert(sid);
  }
  reading.unlock();
  if (first) {
    std::uint64_t one = 1;
    [[maybe_unused]] auto w = ::write(evfd_, &one, sizeof(one));
  }
  return true;
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

void router::rearm_idle_streams() {
  // One pass under lazy_mtx_: a reader that releases a stream inserts it
  // under the same mutex before it lets go of the read mutex, so a stream
  // is never left both out of epoll and out of lazy_.
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
      std::lock_guard<std::mutex> guard{s->interest_mtx_};
      idle = now - s->released_at_ >= rearm_delay;
      if (idle)
        s->read_parked_ = false;
    }
    if (!idle) {
      ++i;
      continue;
    }
    update_interest(*s);
    i = lazy_.erase(i);
  }
}

void router::run() {
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
      if (ev & (EPOLLIN | EPOLLRDHUP | EPOLLHUP | EPOLLERR)) {
        std::unique_lock<std::mutex> reading{s->read_mutex(), std::try_to_lock};
        if (!reading.owns_lock())
          continue; // a thread is parked on it (read_until) and reads it
        std::string reason;
        auto status = s->on_readable(*this, reason);
        reading.unlock();
        if (status == stream::io_status::closed)
          drop(sid, reason);
      }
    }
  }
}

void router::drop(stream_id sid, const std::string& reason) {
  std::shared_ptr<stream> s;
  std::vector<context_id> lost;
  {
    std::unique_lock<std::shared_mutex> guard{mtx_};
    auto i = streams_.find(sid);
    if (i == streams_.end())
      return;
    s = i->second;
    streams_.erase(i);
    lost = table_.drop_stream(sid);
  }
  s->close();
  if (s->driver_fd() >= 0)
    ::epoll_ctl(epfd_, EPOLL_CTL_DEL, s->driver_fd(), nullptr);
  ::epoll_ctl(epfd_, EPOLL_CTL_DEL, s->read_fd(), nullptr);
  if (s->write_fd() != s->read_fd())
    ::epoll_ctl(epfd_, EPOLL_CTL_DEL, s->write_fd(), nullptr);
  const auto& o = s->options();
  if (o.pid > 0)
    ::waitpid(o.pid, nullptr, WNOHANG); // usually dead already: no zombie until shutdown
  if (o.is_parent) {
    lg()->debug("[{}] parent stream lost: {}", cfg_.name, reason);
    out_.parent_lost(reason);
    return;
  }
  if (!s->handshaken())
    out_.handshake_done(sid, o.peer_id, reason.empty() ? "stream closed before hello" : reason);
  if (reason.rfind("malformed", 0) == 0 || reason.rfind("cut:", 0) == 0)
    lg()->error("[{}] cut stream to '{}' (context {}): {}", cfg_.name, o.peer_name, o.peer_id,
                reason);
  else
    lg()->debug("[{}] stream to '{}' (context {}) closed: {}", cfg_.name, o.peer_name,
                o.peer_id, reason);
  auto full_reason = "context '" + o.peer_name + "' (id " + std::to_string(o.peer_id)
                     + ") lost: " + reason;
  out_.lost(lost, full_reason);
  for (auto id : lost)
    announce_route(id, {}, false);
}

void router::on_handshake(stream& s, const std::string& error) {
  out_.handshake_done(s.id(), s.options().peer_id, error);
}

void router::violation(stream& s, errc code, const frame_header& h, const std::string& detail) {
  auto n = s.add_violation();
  lg()->warn("[{}] refused {} frame from context {} on stream to '{}': {}{} ({} of {})",
             cfg_.name, serialization::type_registry::name(h.type), h.src,
             s.options().peer_name, to_string(code), detail.empty() ? "" : ": " + detail, n,
             cfg_.max_violations);
  // A forged source names a third party: answering it would send our dead
  // reply to a context that never wrote the frame.
  if (code != errc::source_mismatch)
    reply_dead(h, code, std::string{to_string(code)} + (detail.empty() ? "" : ": " + detail));
  if (n >= cfg_.max_violations)
    s.cut("cut: " + std::to_string(n) + " policy violations");
}

void router::on_frame(stream& s, frame&& f) {
  const auto& h = f.hdr;
  const bool from_parent = s.options().is_parent;
  const auto dir = from_parent ? policy::direction::from_parent : policy::direction::from_child;
  auto* info = serialization::type_registry::find(h.type);
  if (!info) {
    violation(s, errc::unknown_type, h, "type id " + std::to_string(h.type));
    return;
  }
  route r;
  {
    std::shared_lock<std::shared_mutex> guard{mtx_};
    if (!table_.source_ok(h.src, s.id())) {
      guard.unlock();
      violation(s, errc::source_mismatch, h, "src " + std::to_string(h.src));
      return;
    }
    r = table_.lookup(h.dst);
  }
  switch (r.kind) {
    case route::local: {
      auto pol = rules_.load();
      if (!pol->allows_type(dir, h.src, h.type)) {
        violation(s, errc::type_not_allowed, h,
                  std::string{info->name} + " from " + policy::to_string(dir));
        return;
      }
      if (info->id == wire_type::route_add || info->id == wire_type::route_del) {
        on_route_frame(s, std::move(f), info->id == wire_type::route_add);
        return;
      }
      out_.deliver(std::move(f), dir, s.id());
      return;
    }
    case route::stream:
      if (r.via == s.id()) {
        reply_dead(h, errc::no_route, "destination " + std::to_string(h.dst) + " is not reachable");
        return;
      }
      if (!from_parent && !rules_.load()->sibling_routing) {
        // Child-to-child traffic through us needs a routing right.
        violation(s, errc::routing_not_allowed, h, "to context " + std::to_string(h.dst));
        return;
      }
      break;
    case route::parent:
      if (from_parent) {
        reply_dead(h, errc::no_route, "no route to context " + std::to_string(h.dst));
        return;
      }
      break;
    case route::unroutable:
      reply_dead(h, errc::no_route, "no route to context " + std::to_string(h.dst));
      return;
  }
  // Forward unchanged: re-encode the header in front of the payload.
  serialization::buffer wire(frame_header::size + f.payload.size());
  serialization::encode(h, reinterpret_cast<std::byte*>(wire.data()));
  std::memcpy(wire.data() + frame_header::size, f.payload.data(), f.payload.size());
  if (auto err = send(h.dst, std::move(wire)); err != errc::none)
    reply_dead(h, err, "forwarding to context " + std::to_string(h.dst) + " failed");
}

void router::on_route_frame(stream& s, frame&& f, bool add) {
  serialization::route_info ri;
  try {
    serialization::decode_exact(f.payload.data(), f.payload.size(), ri);
  } catch (const serialization::decode_error& e) {
    violation(s, e.code(), f.hdr, e.what());
    return;
  }
  if (s.options().is_parent)
    return; // routes are only announced upwards
  bool changed = false;
  {
    std::unique_lock<std::shared_mutex> guard{mtx_};
    if (add && s.routes_ >= cfg_.max_routes_per_child) {
      guard.unlock();
      violation(s, errc::protocol_error, f.hdr,
                "route limit of " + std::to_string(cfg_.max_routes_per_child)
                  + " contexts behind one child reached");
      return;
    }
    if (add) {
      changed = ri.id != cfg_.parent_id && table_.add(ri.id, s.id());
      if (changed)
        ++s.routes_;
    } else {
      auto via = table_.lookup(ri.id);
      if (via.kind == route::stream && via.via == s.id()) {
        table_.remove(ri.id);
        --s.routes_;
        changed = true;
      }
    }
  }
  if (!changed) {
    if (add)
      violation(s, errc::source_mismatch, f.hdr,
                "route_add for context " + std::to_string(ri.id) + " refused");
    return;
  }
  if (!add)
    out_.lost({ri.id}, "context " + std::to_string(ri.id) + " lost (reported by context "
                         + std::to_string(f.hdr.src) + ")");
  announce_route(ri.id, ri.name, add);
}

} // namespace mitosis::router
