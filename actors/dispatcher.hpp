// The bounded pool that runs incoming calls, off CAF's scheduler threads
// and off the I/O thread.
#pragma once

#include <atomic>
#include <condition_variable>
#include <deque>
#include <functional>
#include <mutex>
#include <thread>
#include <vector>

namespace mitosis::actors {

class dispatcher {
public:
  /// Parks an idle worker as the reader of a stream until `has_work()` or
  /// `wake_fd` is readable; returns false when it could not park.
  using idle_reader = std::function<bool(const std::function<bool()>& has_work, int wake_fd)>;

  /// Starts `threads` workers (at least one).
  explicit dispatcher(std::size_t threads);
  /// Starts `min_threads` workers: submit() adds one whenever more jobs
  /// wait than workers are free to take them (not running one), up to
  /// `max_threads` (at least one). For
  /// jobs that mostly wait (a start waits seconds for its child's hello):
  /// a burst gets its threads, a lone job costs one, and none cost nothing
  /// (or `min_threads`: the call pool keeps one, the parked reader).
  struct on_demand {
    std::size_t max_threads;
    std::size_t min_threads = 0;
  };
  explicit dispatcher(on_demand limit);
  ~dispatcher();

  dispatcher(const dispatcher&) = delete;
  dispatcher& operator=(const dispatcher&) = delete;

  /// Lets one idle worker at a time read a stream itself (the agent's
  /// parent stream), so that a call read there runs on the thread that read
  /// it: no hand-over from the I/O thread. Set before the first submit.
  void set_idle_reader(idle_reader fn);

  /// Queues `job`. Returns false once stop() was called.
  bool submit(std::function<void()> job);

  /// Finishes the running jobs, drops the queued ones, joins the workers.
  void stop();

  /// Blocks until no job is queued or running (or stop() was called).
  void wait_idle();

  /// Returns the number of worker threads.
  std::size_t size();

private:
  void work();
  void wake_parked();

  std::mutex mtx_;
  std::condition_variable cv_;
  std::deque<std::function<void()>> jobs_;
  std::atomic<std::size_t> queued_{0};
  std::atomic<bool> stopping_{false};
  std::vector<std::thread> workers_;
  std::size_t running_ = 0; // guarded by mtx_
  std::size_t max_threads_ = 0; // > workers_.size() at start: on demand
  std::condition_variable idle_cv_;

  idle_reader idle_reader_;
  int wake_fd_ = -1;
  bool reader_parked_ = false; // guarded by mtx_
  std::atomic<bool> wake_pending_{false};
};

} // namespace mitosis::actors
