// The yield of a spinning reader, and what it does when it finds that it
// shares its CPU with a busy thread.
#pragma once

#include <chrono>

namespace mitosis::router {

/// One park's spin yields (router::read_until). Each call gives the CPU to
/// whoever waits for it (sched_yield): a write to a socket wakes its reader
/// on the writer's CPU, and spinning there would keep that reader off it.
///
/// A yield that comes back late says another thread ran on this CPU
/// meanwhile. Parks that yield late three times in a row (none more than
/// `streak_gap` apart) mean the spin shares its CPU with a busy thread —
/// most often the peer it waits for, pulled here by the kernel's
/// wake-affine placement, which assumes that a writer sleeps right after it
/// writes; ours spins. Both then take turns on one CPU, each turn a context
/// switch (23 us a hop instead of 9 on the VM we measure on), while the
/// other CPU idles, and the kernel does not separate two threads that both
/// run all the time. So the spinner moves itself to another CPU it may run
/// on (move_to_another_cpu). Moves are rare by design: at most one per
/// `move_interval` in the whole process, and a thread whose next streak
/// follows its move within twice its own interval (the move did not help:
/// every CPU is busy) doubles that interval, up to `max_interval`; one
/// that could not move (a single CPU allowed) waits `max_interval`.
class spin_yield {
public:
  static constexpr std::chrono::microseconds late{5};
  static constexpr int late_parks = 3;
  static constexpr std::chrono::milliseconds streak_gap{5};
  static constexpr std::chrono::milliseconds move_interval{2};
  static constexpr std::chrono::milliseconds max_interval{256};

  spin_yield() = default;
  spin_yield(const spin_yield&) = delete;
  spin_yield& operator=(const spin_yield&) = delete;
  /// Ends the park: one whose yields all came back at once ends a streak.
  ~spin_yield();

  /// One yield of the spin.
  void operator()();

  /// What a yield that took `took` says (operator() measures it); true
  /// when it moved this thread to another CPU.
  bool after_yield(std::chrono::nanoseconds took);

private:
  bool yielded_ = false;
  bool late_ = false;
};

/// Moves the calling thread off the CPU it runs on: it narrows the
/// thread's affinity to its other allowed CPUs, which migrates it at once,
/// then sets the mask it read before again. Returns the CPU it left, or -1
/// when the thread may run on one CPU only or the kernel refused. The
/// restored mask is the one read, not "none of the thread's own": on Linux
/// 6.2 and later a thread that had no mask of its own then keeps this one
/// if its cgroup's CPU set grows later; and a change another thread makes
/// to this thread's affinity in between is overwritten.
int move_to_another_cpu();

} // namespace mitosis::router
