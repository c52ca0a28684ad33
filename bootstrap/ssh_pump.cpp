// The ssh pump thread (see ssh_pump.hpp): owns every connection nobody else
// drives and moves its bytes without blocking; the connection itself is in
// ssh_conn.cpp.
#include "ssh_pump.hpp"

#include <algorithm>
#include <cerrno>
#include <condition_variable>
#include <cstring>
#include <fcntl.h>
#include <poll.h>
#include <sys/socket.h>
#include <thread>
#include <unistd.h>

#include <spdlog/spdlog.h>

#include "method.hpp"
#include "ssh_method.hpp"
#include "../serialization/log.hpp"

namespace mitosis::bootstrap {

namespace ssh_impl {

namespace {

using clock = std::chrono::steady_clock;

class pump {
public:
  static pump& instance() {
    static pump* p = new pump; // lives as long as the process
    return *p;
  }

  void add(std::shared_ptr<conn> c) {
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
      wake();
    }
  }

  /// Makes the pump look at its connections again (a caller left work to
  /// it, or a new connection came).
  void wake() noexcept {
    if (wake_[1] < 0)
      return;
    char b = 1;
    auto w = ::write(wake_[1], &b, 1);
    (void)w;
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
    std::vector<std::shared_ptr<conn>> conns;
    std::vector<pollfd> pfds;
    for (;;) {
      {
        std::lock_guard<std::mutex> guard{mtx_};
        for (auto& c : incoming_)
          conns.push_back(std::move(c));
        incoming_.clear();
      }
      auto now = clock::now();
      auto wake_at = clock::time_point::max();
      pfds.assign(1 + 2 * conns.size(), pollfd{-1, 0, 0});
      pfds[0] = {wake_[0], POLLIN, 0};
      std::size_t gone = 0;
      for (std::size_t i = 0; i < conns.size(); ++i) {
        auto& c = *conns[i];
        if (!c.pump_acquire()) {
          // A caller drives it. A parked reader holds it until its reply
          // came and parks it after; a sender lets go within microseconds.
          wake_at = std::min(wake_at, now + (c.held_by_reader()
                                               ? std::chrono::microseconds{conn::park_time}
                                               : std::chrono::microseconds{50}));
          continue;
        }
        if (c.done()) {
          c.pump_release();
          conns[i].reset();
          ++gone;
          continue;
        }
        c.pump_poll_set(&pfds[1 + 2 * i], now, wake_at);
        c.pump_release();
      }
      if (gone > 0) {
        std::erase(conns, nullptr);
        std::lock_guard<std::mutex> guard{mtx_};
        live_ -= static_cast<int>(gone);
        if (live_ == 0)
          idle_cv_.notify_all();
        continue; // the poll entries moved
      }
      timespec ts{};
      timespec* tsp = nullptr;
      if (wake_at != clock::time_point::max()) {
        auto left = std::max<clock::duration>(clock::duration::zero(), wake_at - now);
        auto ns = std::chrono::duration_cast<std::chrono::nanoseconds>(left).count();
        ts = {static_cast<time_t>(ns / 1000000000), static_cast<long>(ns % 1000000000)};
        tsp = &ts;
      }
      ::ppoll(pfds.data(), pfds.size(), tsp, nullptr);
      if (pfds[0].revents) {
        char b[64];
        while (::read(wake_[0], b, sizeof(b)) > 0) {
        }
      }
      for (std::size_t i = 0; i < conns.size(); ++i) {
        auto& c = *conns[i];
        if (!c.pump_acquire())
          continue; // its holder moves what there is
        c.pump_service(pfds[1 + 2 * i], pfds[2 + 2 * i]);
        c.pump_release();
      }
    }
  }

  std::mutex mtx_;
  std::vector<std::shared_ptr<conn>> incoming_;
  bool started_ = false;
  std::atomic<int> threads_{0};
  int live_ = 0; // sessions added and not yet closed, mtx_
  std::condition_variable idle_cv_;
  int wake_[2] = {-1, -1};
};

} // namespace

void pump_wake() noexcept {
  pump::instance().wake();
}

void pump_add(std::shared_ptr<conn> c) {
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
