// One ssh connection (see ssh_pump.hpp): the lock that lets one thread at
// a time drive it (the pump, a sender, a parked caller), its parking, and
// the moving of bytes between the channel and its socketpair end.
#include "ssh_pump.hpp"

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <spdlog/spdlog.h>

#include "../serialization/log.hpp"
#include "ssh_logger.hpp"

namespace mitosis::bootstrap::ssh_impl {

using clock = std::chrono::steady_clock;

namespace {

constexpr std::size_t buf_size = 64 * 1024;

// Per thread that moves bytes (the pump, callers): never shared, and left
// untouched (not even zeroed) beyond what a read fills.
char* scratch() {
  thread_local std::unique_ptr<char[]> b{new char[buf_size]};
  return b.get();
}

} // namespace

conn::~conn() {
  close_session();
}

void conn::close_session() noexcept {
  if (channel) {
    lib().ssh_channel_close(channel);
    lib().ssh_channel_free(channel);
    channel = nullptr;
  }
  session.reset();
}

// -- the lock and the parking ------------------------------------------------

bool conn::try_acquire(use u) noexcept {
  if (!lock())
    return false;
  use_ = u;
  if (u == use::read)
    reading_.store(true, std::memory_order_relaxed);
  return true;
}

void conn::push() noexcept {
  // Taken with the pushed bit set: release() moves the bytes. Held by
  // someone else: the bit makes the holder move them before it lets go.
  if (state_.fetch_or(held_bit | pushed_bit, std::memory_order_acq_rel) & held_bit)
    return;
  use_ = use::send;
  release();
}

void conn::release() noexcept {
  for (;;) {
    // A caller that leaves nothing in flight parks the connection: the pump
    // leaves it out for park_time (the next call comes sooner). Anything
    // still moving (a big transfer, a full socket) goes back to the pump
    // at once.
    auto now = clock::now();
    bool calm = quiet();
    if (!calm)
      read_park_until_ = send_park_until_ = {};
    else if (use_ == use::read)
      read_park_until_ = now + park_time;
    else if (use_ == use::send)
      send_park_until_ = now + park_time;
    reading_.store(false, std::memory_order_relaxed);
    unsigned expected = held_bit;
    if (state_.compare_exchange_strong(expected, 0, std::memory_order_acq_rel)) {
      if (!calm)
        pump_wake();
      return;
    }
    // A sender pushed while we held it: its bytes are in the socketpair.
    state_.fetch_and(~pushed_bit, std::memory_order_acq_rel);
    delivered_ = false;
    serve(pollfd{-1, 0, 0}, pollfd{local.get(), POLLIN, POLLIN}); // as if poll() said so
  }
}

void conn::unlock() noexcept {
  for (;;) {
    unsigned expected = held_bit;
    if (state_.compare_exchange_strong(expected, 0, std::memory_order_acq_rel))
      return;
    state_.fetch_and(~pushed_bit, std::memory_order_acq_rel);
    serve(pollfd{-1, 0, 0}, pollfd{local.get(), POLLIN, POLLIN}); // as if poll() said so
  }
}

int conn::watch_fd() noexcept {
  router_watches_.store(true, std::memory_order_relaxed);
  return sock;
}

void conn::hand_back() noexcept {
  handed_back_.store(true, std::memory_order_relaxed);
  pump_wake();
}

bool conn::quiet() const noexcept {
  if (done_)
    return true;
  return to_remote_off_ >= to_remote_.size() && to_local_off_ >= to_local_.size() && !local_more_
         && !kick_ && !(lib().ssh_get_poll_flags(session.get()) & SSH_WRITE_PENDING);
}

int conn::poll_set(pollfd* out) noexcept {
  if (done_) {
    out[0] = out[1] = pollfd{-1, 0, 0};
    return 2;
  }
  // While the router's end is full, the remote is not read (its data stays
  // in the kernel, and poll() would report it forever).
  short ev = to_local_off_ < to_local_.size() ? 0 : POLLIN;
  if (lib().ssh_get_poll_flags(session.get()) & SSH_WRITE_PENDING)
    ev |= POLLOUT;
  out[0] = {lib().ssh_get_fd(session.get()), ev, 0};
  // The socketpair end: frames other threads send meanwhile go out too.
  short lev = 0;
  if (to_remote_off_ >= to_remote_.size() && !local_eof_)
    lev |= POLLIN;
  if (to_local_off_ < to_local_.size())
    lev |= POLLOUT;
  out[1] = {local.get(), lev, 0};
  return 2;
}

bool conn::pump_poll_set(pollfd* out, clock::time_point now, clock::time_point& wake_at) noexcept {
  if (handed_back_.exchange(false, std::memory_order_relaxed))
    read_park_until_ = send_park_until_ = {};
  if (now < read_park_until_) {
    // A parked reader watched the socket itself and will again soon.
    was_parked_ = true;
    wake_at = std::min(wake_at, read_park_until_);
    return false;
  }
  if (was_parked_) {
    // Back from a caller: libssh may hold data poll() will not announce.
    was_parked_ = false;
    kick_ = true;
  }
  poll_set(out);
  // The router reads the socket (its I/O thread or a parked reader), but
  // only the pump moves a transfer under way (window adjustments, more
  // from the socketpair) while nobody is parked: then it reads it too.
  if (router_watches_.load(std::memory_order_relaxed) && quiet())
    out[0].events &= ~POLLIN;
  if (now < send_park_until_) {
    // Every sender pushes its own bytes on (POLLHUP is still reported);
    // what a deferred send (stream::deferring_push) left there waits for
    // the next push or, at the latest, for this park to end.
    out[1].events &= ~POLLIN;
    wake_at = std::min(wake_at, send_park_until_);
  }
  if (kick_)
    wake_at = now; // a new or returning session: drain it at once
  else if (to_remote_off_ < to_remote_.size())
    // The remote window, or stage 1's cap (whose patience this is).
    wake_at = std::min(wake_at, now + flight_cap::patience);
  if (keepalive.count())
    wake_at = std::min(wake_at, next_keepalive);
  return true;
}

bool conn::service(const pollfd* fds, int n) noexcept {
  if (done_)
    return true; // the stream reads the end
  delivered_ = false;
  serve(n > 0 ? fds[0] : pollfd{-1, 0, 0}, n > 1 ? fds[1] : pollfd{-1, 0, 0});
  return delivered_ || done_;
}

// -- moving bytes ------------------------------------------------------------

std::string conn::closed_reason() const {
  std::lock_guard<std::mutex> guard{reason_mtx_};
  return closed_reason_;
}

// A keepalive is a channel request the server must answer ("env", which
// sshd refuses once the command runs: a refusal is an answer too), as
// OpenSSH's keepalive@openssh.com channel request. Asking again while
// one is pending only polls for its answer.
bool conn::keepalive_tick() {
  if (keepalive_pending_) {
    int rc = lib().ssh_channel_request_env(channel, "MITOSIS_KEEPALIVE", "1");
    if (rc == SSH_AGAIN) {
      if (++keepalive_missed_ >= keepalive_count) {
        auto why = "no answer to " + std::to_string(keepalive_count) + " keepalive"
                   + (keepalive_count == 1 ? "" : "s") + " every "
                   + std::to_string(keepalive.count()) + " s: ssh peer declared dead";
        lg()->warn("[{}] {}", label, why);
        {
          std::lock_guard<std::mutex> guard{reason_mtx_};
          closed_reason_ = why;
        }
        finish(why);
        return false;
      }
      return true;
    }
    keepalive_pending_ = false;
    keepalive_missed_ = 0;
  }
  keepalive_pending_ = lib().ssh_channel_request_env(channel, "MITOSIS_KEEPALIVE", "1") == SSH_AGAIN;
  return true;
}

void conn::finish(const std::string& why) {
  if (done_)
    return;
  lg()->debug("[{}] ssh stream closed: {}", label, why);
  done_ = true;
  delivered_ = true;
  local.reset();
  // The pump may sit in poll() on that end, which keeps it open (no EOF for
  // the router) until poll returns: wake it, it then forgets the connection.
  pump_wake();
}

// Moves what the channel holds to the router's end, until a read finds
// nothing (reading may itself make libssh take more packets off the
// socket: a short read does not prove the buffer empty) or that end is
// full. Returns the bytes moved, or -1 when the connection is finished.
long conn::drain_channel(bool with_stderr) {
  // stderr first: reading it can take stdout data off the socket too,
  // and the stdout reads below then find it. (The other way round,
  // stdout data could be left behind in libssh's buffer.) Without it,
  // stderr data a stdout read took in waits for the next wake-up.
  if (with_stderr)
    read_stderr();
  char* buf = scratch();
  long moved = 0;
  while (to_local_off_ >= to_local_.size()) {
    int n = lib().ssh_channel_read_nonblocking(channel, buf, static_cast<uint32_t>(buf_size), 0);
    if (n <= 0) {
      if (n < 0 && n != SSH_AGAIN) {
        read_stderr();
        finish("channel read failed or EOF");
        return -1;
      }
      return moved;
    }
    moved += n;
    const char* p = buf;
    auto left = static_cast<std::size_t>(n);
    while (left > 0) {
      auto w = ::send(local.get(), p, left, MSG_DONTWAIT | MSG_NOSIGNAL);
      if (w < 0 && errno == EINTR)
        continue;
      if (w < 0 && errno == EAGAIN) {
        to_local_.assign(p, p + left);
        to_local_off_ = 0;
        break;
      }
      if (w <= 0) {
        finish("router end closed");
        return -1;
      }
      delivered_ = true;
      p += w;
      left -= static_cast<std::size_t>(w);
    }
  }
  return moved;
}

// stderr of the remote command: kept for error messages, logged.
void conn::read_stderr() {
  char* buf = scratch();
  for (;;) {
    int n = lib().ssh_channel_read_nonblocking(channel, buf, 4096, 1);
    if (n <= 0)
      return;
    err_partial_.append(buf, static_cast<std::size_t>(n));
    {
      std::lock_guard<std::mutex> guard{err->mtx};
      err->text.append(buf, static_cast<std::size_t>(n));
      if (err->text.size() > 8192)
        err->text.erase(0, err->text.size() - 4096);
    }
    std::size_t nl;
    while ((nl = err_partial_.find('\n')) != std::string::npos) {
      if (nl > 0)
        lg()->info("[{}] {}", label, err_partial_.substr(0, nl));
      err_partial_.erase(0, nl + 1);
    }
    if (err_partial_.size() > 4096)
      err_partial_.clear();
  }
}

void conn::serve(const pollfd& remote, const pollfd& loc) noexcept {
  if (done_)
    return;
  auto* ss = session.get();
  bool keepalive_due = keepalive.count() && clock::now() >= next_keepalive;
  // Connections with nothing to do cost nothing: a fleet of idle
  // contexts does not slow the busy one down.
  if (!remote.revents && !loc.revents && to_remote_off_ >= to_remote_.size()
      && to_local_off_ >= to_local_.size() && !keepalive_due && !kick_)
    return;
  // The router dropped its end while data for the remote was queued:
  // nothing will read POLLHUP away, so end here instead of spinning.
  if ((loc.revents & (POLLHUP | POLLERR)) && to_remote_off_ < to_remote_.size()) {
    lib().ssh_channel_send_eof(channel);
    return finish("router closed the stream");
  }
  // Any libssh call may read the socket and buffer channel data that
  // poll() will then never announce; after one, the channel is drained.
  bool touched = false;
  if (remote.revents & POLLOUT) {
    lib().ssh_blocking_flush(ss, 0);
    touched = true;
  }
  // channel -> local
  if ((kick_ || (remote.revents & (POLLIN | POLLHUP | POLLERR))) && drain_channel() < 0)
    return;
  kick_ = false;
  if (loc.revents & POLLOUT && to_local_off_ < to_local_.size()) {
    auto w = ::send(local.get(), to_local_.data() + to_local_off_, to_local_.size() - to_local_off_,
                    MSG_DONTWAIT | MSG_NOSIGNAL);
    if (w > 0) {
      to_local_off_ += static_cast<std::size_t>(w);
      delivered_ = true;
    } else if (w < 0 && errno != EAGAIN && errno != EINTR) {
      return finish("router end closed");
    }
    // The router's end has room again: what libssh kept back follows.
    if (to_local_off_ >= to_local_.size() && drain_channel() < 0)
      return;
  }
  // local -> channel
  if ((loc.revents & (POLLIN | POLLHUP)) && to_remote_off_ >= to_remote_.size() && !local_eof_) {
    to_remote_.resize(buf_size);
    auto r = ::recv(local.get(), to_remote_.data(), to_remote_.size(), MSG_DONTWAIT);
    if (r > 0) {
      to_remote_.resize(static_cast<std::size_t>(r));
      to_remote_off_ = 0;
      local_more_ = static_cast<std::size_t>(r) == buf_size;
    } else {
      to_remote_.clear();
      to_remote_off_ = 0;
      local_more_ = false;
      if (r == 0 || (errno != EAGAIN && errno != EINTR)) {
        local_eof_ = true;
        lib().ssh_channel_send_eof(channel);
        return finish("router closed the stream");
      }
    }
  }
  while (to_remote_off_ < to_remote_.size()) {
    auto window = lib().ssh_channel_window_size(channel);
    const bool capped = !router_watches_.load(std::memory_order_relaxed);
    if (capped)
      window = cap_.room(window, clock::now()); // stage 1 (flight_cap.hpp)
    if (window == 0)
      break;
    auto n = std::min<std::size_t>(window, to_remote_.size() - to_remote_off_);
    int w = lib().ssh_channel_write(channel, to_remote_.data() + to_remote_off_,
                                    static_cast<uint32_t>(n));
    if (w < 0)
      return finish("channel write failed");
    if (capped)
      cap_.wrote(static_cast<std::uint32_t>(w));
    if (w == 0)
      break;
    touched = true;
    to_remote_off_ += static_cast<std::size_t>(w);
  }
  if (keepalive_due) {
    if (!keepalive_tick())
      return;
    next_keepalive = clock::now() + keepalive;
    touched = true;
  }
  // A write (or flush, or keepalive) may have made libssh read the socket
  // and buffer channel data (a reply already on its way): move it now, or
  // poll() would wait for a socket that has nothing more to say.
  if (touched && drain_channel(false) < 0)
    return;
  if ((lib().ssh_channel_is_eof(channel) || lib().ssh_channel_is_closed(channel)
       || !lib().ssh_is_connected(ss))
      && to_local_off_ >= to_local_.size()) {
    char* buf = scratch();
    int n = lib().ssh_channel_read_nonblocking(channel, buf, static_cast<uint32_t>(buf_size), 0);
    if (n <= 0) {
      read_stderr();
      return finish("remote end closed");
    }
    // Late data before the close: deliver it first.
    to_local_.assign(buf, buf + n);
    to_local_off_ = 0;
  }
}

} // namespace mitosis::bootstrap::ssh_impl
