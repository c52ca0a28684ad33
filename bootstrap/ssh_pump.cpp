// The ssh pump thread (see ssh_pump.hpp): polls every session's socket and
// its socketpair end, and copies bytes both ways without blocking.
#include "mitosis/bootstrap/ssh_pump.hpp"

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <condition_variable>
#include <cstring>
#include <fcntl.h>
#include <poll.h>
#include <sys/socket.h>
#include <thread>
#include <unistd.h>

#include <spdlog/spdlog.h>

#include "mitosis/bootstrap/method.hpp"
#include "mitosis/bootstrap/ssh_method.hpp"
#include "mitosis/serialization/log.hpp"

namespace mitosis::bootstrap {

namespace ssh_impl {

using clock = std::chrono::steady_clock;

conn::~conn() {
  if (channel) {
    lib().ssh_channel_close(channel);
    lib().ssh_channel_free(channel);
  }
}

namespace {

class pump {
public:
  static pump& instance() {
    static pump* p = new pump; // lives as long as the process
    return *p;
  }

  void add(std::unique_ptr<conn> c) {
    std::lock_guard<std::mutex> guard{mtx_};
    if (!started_ && ::pipe2(wake_, O_CLOEXEC | O_NONBLOCK) != 0)
      throw method_error(errc::spawn_failed,
                         std::string{"ssh pump: pipe: "} + std::strerror(errno));
    ++live_;
    incoming_.push_back(std::move(c));
    if (!started_) {
      started_ = true;
      std::thread{[this] { run(); }}.detach();
      threads_ = 1;
    } else {
      char b = 1;
      auto w = ::write(wake_[1], &b, 1);
      (void)w;
    }
  }

  int threads() const noexcept {
    return threads_.load();
  }

  /// Waits until every session has been closed (their router ends are
  /// gone), or `timeout` passed.
  bool wait_idle(std::chrono::milliseconds timeout) {
    std::unique_lock<std::mutex> lock{mtx_};
    return idle_cv_.wait_for(lock, timeout, [&] { return live_ == 0; });
  }

private:
  void run() {
    lg_ = log::get("ssh");
    std::vector<std::unique_ptr<conn>> conns;
    std::vector<pollfd> pfds;
    std::vector<char> buf(64 * 1024);
    for (;;) {
      {
        std::lock_guard<std::mutex> guard{mtx_};
        for (auto& c : incoming_)
          conns.push_back(std::move(c));
        incoming_.clear();
      }
      int timeout = -1;
      pfds.assign(1, pollfd{wake_[0], POLLIN, 0});
      auto now = clock::now();
      for (auto& c : conns) {
        // While the router's end is full, the remote is not read (its
        // data stays in the kernel, and poll() would report it forever).
        short ev = c->to_local_off < c->to_local.size() ? 0 : POLLIN;
        if (lib().ssh_get_poll_flags(c->session.get()) & SSH_WRITE_PENDING)
          ev |= POLLOUT;
        pfds.push_back({lib().ssh_get_fd(c->session.get()), ev, 0});
        short lev = 0;
        if (c->to_remote_off >= c->to_remote.size() && !c->local_eof)
          lev |= POLLIN;
        if (c->to_local_off < c->to_local.size())
          lev |= POLLOUT;
        pfds.push_back({c->local.get(), lev, 0});
        if (c->kick)
          timeout = 0; // a new session: drain it at once
        else if (c->to_remote_off < c->to_remote.size())
          timeout = timeout < 0 ? 5 : std::min(timeout, 5); // waiting for the remote window
        if (c->keepalive.count()) {
          auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(c->next_keepalive - now);
          int m = static_cast<int>(std::max<long long>(0, ms.count()));
          timeout = timeout < 0 ? m : std::min(timeout, m);
        }
      }
      ::poll(pfds.data(), pfds.size(), timeout);
      if (pfds[0].revents) {
        char b[64];
        while (::read(wake_[0], b, sizeof(b)) > 0) {
        }
      }
      for (std::size_t i = 0; i < conns.size(); ++i)
        service(*conns[i], pfds[1 + 2 * i], pfds[2 + 2 * i], buf);
      auto gone = std::erase_if(conns, [](const std::unique_ptr<conn>& c) { return c->done; });
      if (gone > 0) {
        std::lock_guard<std::mutex> guard{mtx_};
        live_ -= static_cast<int>(gone);
        if (live_ == 0)
          idle_cv_.notify_all();
      }
    }
  }

  void finish(conn& c, const char* why) {
    if (c.done)
      return;
    lg_->debug("[{}] ssh stream closed: {}", c.label, why);
    c.done = true;
    c.local.reset();
  }

  // Moves what the channel holds to the router's end, until a read finds
  // nothing (reading may itself make libssh take more packets off the
  // socket: a short read does not prove the buffer empty) or that end is
  // full. Returns the bytes moved, or -1
  // when the connection is finished.
  long drain_channel(conn& c, std::vector<char>& buf, bool with_stderr = true) {
    // stderr first: reading it can take stdout data off the socket too,
    // and the stdout reads below then find it. (The other way round,
    // stdout data could be left behind in libssh's buffer.) Without it,
    // stderr data a stdout read took in waits for the next wake-up.
    if (with_stderr)
      read_stderr(c, buf);
    long moved = 0;
    while (c.to_local_off >= c.to_local.size()) {
      int n = lib().ssh_channel_read_nonblocking(c.channel, buf.data(),
                                           static_cast<uint32_t>(buf.size()), 0);
      if (n <= 0) {
        if (n < 0 && n != SSH_AGAIN) {
          read_stderr(c, buf);
          finish(c, "channel read failed or EOF");
          return -1;
        }
        return moved;
      }
      moved += n;
      const char* p = buf.data();
      auto left = static_cast<std::size_t>(n);
      while (left > 0) {
        auto w = ::send(c.local.get(), p, left, MSG_DONTWAIT | MSG_NOSIGNAL);
        if (w < 0 && errno == EINTR)
          continue;
        if (w < 0 && errno == EAGAIN) {
          c.to_local.assign(p, p + left);
          c.to_local_off = 0;
          break;
        }
        if (w <= 0) {
          finish(c, "router end closed");
          return -1;
        }
        p += w;
        left -= static_cast<std::size_t>(w);
      }
    }
    return moved;
  }

  // stderr of the remote command: kept for error messages, logged.
  void read_stderr(conn& c, std::vector<char>& buf) {
    for (;;) {
      int n = lib().ssh_channel_read_nonblocking(c.channel, buf.data(), 4096, 1);
      if (n <= 0)
        return;
      c.err_partial.append(buf.data(), static_cast<std::size_t>(n));
      {
        std::lock_guard<std::mutex> guard{c.err->mtx};
        c.err->text.append(buf.data(), static_cast<std::size_t>(n));
        if (c.err->text.size() > 8192)
          c.err->text.erase(0, c.err->text.size() - 4096);
      }
      std::size_t nl;
      while ((nl = c.err_partial.find('\n')) != std::string::npos) {
        if (nl > 0)
          lg_->info("[{}] {}", c.label, c.err_partial.substr(0, nl));
        c.err_partial.erase(0, nl + 1);
      }
      if (c.err_partial.size() > 4096)
        c.err_partial.clear();
    }
  }

  void service(conn& c, const pollfd& remote, const pollfd& local, std::vector<char>& buf) {
    auto* ss = c.session.get();
    bool keepalive_due = c.keepalive.count() && clock::now() >= c.next_keepalive;
    // Connections with nothing to do cost nothing: a fleet of idle
    // contexts does not slow the busy one down.
    if (!remote.revents && !local.revents && c.to_remote_off >= c.to_remote.size()
        && c.to_local_off >= c.to_local.size() && !keepalive_due && !c.kick)
      return;
    // The router dropped its end while data for the remote was queued:
    // nothing will read POLLHUP away, so end here instead of spinning.
    if ((local.revents & (POLLHUP | POLLERR)) && c.to_remote_off < c.to_remote.size()) {
      lib().ssh_channel_send_eof(c.channel);
      return finish(c, "router closed the stream");
    }
    // Any libssh call may read the socket and buffer channel data that
    // poll() will then never announce; after one, the channel is drained.
    bool touched = false;
    if (remote.revents & POLLOUT) {
      lib().ssh_blocking_flush(ss, 0);
      touched = true;
    }
    // channel -> local
    if ((c.kick || (remote.revents & (POLLIN | POLLHUP | POLLERR))) && drain_channel(c, buf) < 0)
      return;
    c.kick = false;
    if (local.revents & POLLOUT && c.to_local_off < c.to_local.size()) {
      auto w = ::send(c.local.get(), c.to_local.data() + c.to_local_off,
                      c.to_local.size() - c.to_local_off, MSG_DONTWAIT | MSG_NOSIGNAL);
      if (w > 0)
        c.to_local_off += static_cast<std::size_t>(w);
      else if (w < 0 && errno != EAGAIN && errno != EINTR)
        return finish(c, "router end closed");
      // The router's end has room again: what libssh kept back follows.
      if (c.to_local_off >= c.to_local.size() && drain_channel(c, buf) < 0)
        return;
    }
    // local -> channel
    if ((local.revents & (POLLIN | POLLHUP)) && c.to_remote_off >= c.to_remote.size()
        && !c.local_eof) {
      c.to_remote.resize(buf.size());
      auto r = ::recv(c.local.get(), c.to_remote.data(), c.to_remote.size(), MSG_DONTWAIT);
      if (r > 0) {
        c.to_remote.resize(static_cast<std::size_t>(r));
        c.to_remote_off = 0;
      } else {
        c.to_remote.clear();
        c.to_remote_off = 0;
        if (r == 0 || (errno != EAGAIN && errno != EINTR)) {
          c.local_eof = true;
          lib().ssh_channel_send_eof(c.channel);
          return finish(c, "router closed the stream");
        }
      }
    }
    while (c.to_remote_off < c.to_remote.size()) {
      auto window = lib().ssh_channel_window_size(c.channel);
      if (window == 0)
        break;
      auto n = std::min<std::size_t>(window, c.to_remote.size() - c.to_remote_off);
      int w = lib().ssh_channel_write(c.channel, c.to_remote.data() + c.to_remote_off,
                                static_cast<uint32_t>(n));
      if (w < 0)
        return finish(c, "channel write failed");
      if (w == 0)
        break;
      touched = true;
      c.to_remote_off += static_cast<std::size_t>(w);
    }
    if (keepalive_due) {
      lib().ssh_send_keepalive(ss);
      c.next_keepalive = clock::now() + c.keepalive;
      touched = true;
    }
    // A write (or flush, or keepalive) may have made libssh read the socket
    // and buffer channel data (a reply already on its way): move it now, or
    // poll() would wait for a socket that has nothing more to say.
    if (touched && drain_channel(c, buf, false) < 0)
      return;
    if ((lib().ssh_channel_is_eof(c.channel) || lib().ssh_channel_is_closed(c.channel)
         || !lib().ssh_is_connected(ss))
        && c.to_local_off >= c.to_local.size()) {
      int n = lib().ssh_channel_read_nonblocking(c.channel, buf.data(),
                                           static_cast<uint32_t>(buf.size()), 0);
      if (n <= 0) {
        read_stderr(c, buf);
        return finish(c, "remote end closed");
      }
      // Late data before the close: deliver it first.
      c.to_local.assign(buf.data(), buf.data() + n);
      c.to_local_off = 0;
    }
  }

  std::mutex mtx_;
  std::vector<std::unique_ptr<conn>> incoming_;
  bool started_ = false;
  std::atomic<int> threads_{0};
  int live_ = 0; // sessions added and not yet closed, mtx_
  std::condition_variable idle_cv_;
  int wake_[2] = {-1, -1};
  std::shared_ptr<spdlog::logger> lg_;
};

} // namespace

void pump_add(std::unique_ptr<conn> c) {
  pump::instance().add(std::move(c));
}

} // namespace ssh_impl

int ssh_pump_threads() noexcept {
  return ssh_impl::pump::instance().threads();
}

bool ssh_wait_idle(std::chrono::milliseconds timeout) {
  return ssh_impl::pump::instance().wait_idle(timeout);
}

} // namespace mitosis::bootstrap
