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
/// meanwhile. Parks that yield late three times in a row mean the spin
/// shares its CPU with a busy thread — most often the peer it waits for,
/// pulled here by the kernel's wake-affine placement, which assumes that a
/// writer sleeps right after it writes; ours spins. Both then take turns
/// on one CPU, each turn a context switch (23 us a hop instead of 9 on the
/// VM we measure on), while the other CPU idles, and the kernel does not
/// separate two threads that both run all the time. So the spinner moves
/// itself to another CPU it may run on (it narrows its affinity for a
/// moment, then restores it exactly), at most once per `move_interval`
/// per thread.
class spin_yield {
public:
  static constexpr std::chrono::microseconds late{5};
  static constexpr int late_parks = 3;
  static constexpr std::chrono::milliseconds move_interval{2};

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

/// Moves the calling thread off the CPU it runs on, to another one of its
/// allowed CPUs, and restores its affinity. False when it may run on one
/// CPU only, or the kernel refused.
bool move_to_another_cpu();

} // namespace mitosis::router
