// The bounded pool that runs incoming calls, off CAF's scheduler threads
// and off the I/O thread.
#pragma once

#include <condition_variable>
#include <deque>
#include <functional>
#include <mutex>
#include <thread>
#include <vector>

namespace mitosis::actors {

class dispatcher {
public:
  /// Starts `threads` workers (at least one).
  explicit dispatcher(std::size_t threads);
  ~dispatcher();

  dispatcher(const dispatcher&) = delete;
  dispatcher& operator=(const dispatcher&) = delete;

  /// Queues `job`. Returns false once stop() was called.
  bool submit(std::function<void()> job);

  /// Finishes the running jobs, drops the queued ones, joins the workers.
  void stop();

  /// Returns the number of worker threads.
  std::size_t size() const noexcept {
    return workers_.size();
  }

private:
  void work();

  std::mutex mtx_;
  std::condition_variable cv_;
  std::deque<std::function<void()>> jobs_;
  bool stopping_ = false;
  std::vector<std::thread> workers_;
};

} // namespace mitosis::actors
