#include "dispatcher.hpp"

#include <algorithm>
#include <chrono>
#include <sys/eventfd.h>
#include <unistd.h>

namespace mitosis::actors {

namespace {
// Set on the worker that is parked as a stream reader, to its pool: jobs it
// submits to that pool are taken by itself, so they need no wake-up (jobs
// for another pool, e.g. the service workers, do).
thread_local const dispatcher* parked_here = nullptr;
} // namespace

dispatcher::dispatcher(std::size_t threads) {
  if (threads == 0)
    threads = 1;
  wake_fd_ = ::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
  workers_.reserve(threads);
  max_threads_ = threads;
  for (std::size_t i = 0; i < threads; ++i)
    workers_.emplace_back([this] { work(); });
}

dispatcher::dispatcher(on_demand limit) : max_threads_(limit.max_threads == 0 ? 1 : limit.max_threads) {
  wake_fd_ = ::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
  const auto n = std::min(limit.min_threads, max_threads_);
  workers_.reserve(n);
  for (std::size_t i = 0; i < n; ++i)
    workers_.emplace_back([this] { work(); });
}

std::size_t dispatcher::size() {
  std::lock_guard<std::mutex> guard{mtx_};
  return workers_.size();
}

dispatcher::~dispatcher() {
  stop();
  ::close(wake_fd_);
}

void dispatcher::set_idle_reader(idle_reader fn) {
  std::lock_guard<std::mutex> guard{mtx_};
  idle_reader_ = std::move(fn);
  cv_.notify_one();
}

void dispatcher::wake_parked() {
  // Write first, flag second: a reader that sees the flag finds the fd
  // readable and drains it; one that misses it returns at once from its
  // next park (the fd is readable) and drains it then.
  std::uint64_t one = 1;
  [[maybe_unused]] auto n = ::write(wake_fd_, &one, sizeof(one));
  wake_pending_ = true;
}

bool dispatcher::submit(std::function<void()> job) {
  bool parked;
  {
    std::lock_guard<std::mutex> guard{mtx_};
    if (stopping_)
      return false;
    jobs_.push_back(std::move(job));
    ++queued_;
    parked = reader_parked_;
    // More jobs wait than workers are free to take them (not running one:
    // idle, parked as the reader, or between two jobs): one more worker,
    // up to the limit (only an on-demand pool has room; a fixed one is
    // full).
    if (jobs_.size() > workers_.size() - running_ && workers_.size() < max_threads_)
      workers_.emplace_back([this] { work(); });
  }
  if (parked_here == this)
    return true; // the parked reader takes it when it unparks
  cv_.notify_one();
  if (parked)
    wake_parked();
  return true;
}

void dispatcher::stop() {
  {
    std::lock_guard<std::mutex> guard{mtx_};
    if (stopping_ && workers_.empty())
      return;
    stopping_ = true;
    jobs_.clear();
    queued_ = 0;
  }
  cv_.notify_all();
  idle_cv_.notify_all();
  wake_parked();
  for (auto& w : workers_)
    if (w.joinable())
      w.join();
  workers_.clear();
}

void dispatcher::wait_idle() {
  std::unique_lock<std::mutex> guard{mtx_};
  idle_cv_.wait(guard, [this] { return stopping_.load() || (jobs_.empty() && running_ == 0); });
}

void dispatcher::work() {
  auto has_work = [this] { return queued_.load() > 0 || stopping_.load(); };
  std::unique_lock<std::mutex> guard{mtx_};
  for (;;) {
    if (stopping_)
      return;
    if (!jobs_.empty()) {
      auto job = std::move(jobs_.front());
      jobs_.pop_front();
      --queued_;
      bool more = !jobs_.empty();
      ++running_;
      guard.unlock();
      if (more)
        cv_.notify_one();
      job();
      guard.lock();
      if (--running_ == 0 && jobs_.empty())
        idle_cv_.notify_all();
      continue;
    }
    if (idle_reader_ && !reader_parked_) {
      reader_parked_ = true;
      auto reader = idle_reader_;
      guard.unlock();
      parked_here = this;
      bool parked = reader(has_work, wake_fd_);
      parked_here = nullptr;
      if (wake_pending_.exchange(false)) {
        std::uint64_t drained;
        [[maybe_unused]] auto n = ::read(wake_fd_, &drained, sizeof(drained));
      }
      guard.lock();
      reader_parked_ = false;
      if (parked)
        continue;
      // Could not park (the stream is busy or gone): wait a little, but not
      // past a job queued meanwhile (its notify may have come before this
      // wait: submit wakes no one for a job its parked reader takes).
      cv_.wait_for(guard, std::chrono::milliseconds{1},
                   [this] { return !jobs_.empty() || stopping_.load(); });
      continue;
    }
    cv_.wait(guard);
  }
}

} // namespace mitosis::actors
