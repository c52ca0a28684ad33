// A spinning reader's yield (see spin_yield.hpp).
#include "spin_yield.hpp"

#include <sched.h>

#include <algorithm>
#include <atomic>

namespace mitosis::router {

namespace {

using clock = std::chrono::steady_clock;

// This thread's streak of parks that yielded late, and its moves.
struct thread_moves {
  int streak = 0;
  clock::time_point last_late{};
  clock::time_point last_move{};
  std::chrono::milliseconds interval = spin_yield::move_interval;
};
thread_local thread_moves mine;

// The last move in this process (ns since the clock's epoch).
std::atomic<clock::rep> process_last_move{0};

} // namespace

spin_yield::~spin_yield() {
  if (yielded_ && !late_)
    mine.streak = 0;
}

void spin_yield::operator()() {
  const auto before = clock::now();
  ::sched_yield();
  after_yield(clock::now() - before);
}

bool spin_yield::after_yield(std::chrono::nanoseconds took) {
  yielded_ = true;
  if (late_ || took < late)
    return false;
  late_ = true;
  const auto now = clock::now();
  if (now - mine.last_late > streak_gap)
    mine.streak = 0;
  mine.last_late = now;
  if (++mine.streak < late_parks)
    return false;
  mine.streak = 0;
  if (now - mine.last_move < mine.interval)
    return false;
  // One move per interval in the whole process: two spinners of ours that
  // share a CPU need only one of them to go.
  auto last = process_last_move.load(std::memory_order_relaxed);
  const auto stamp = now.time_since_epoch().count();
  if (stamp - last < std::chrono::duration_cast<clock::duration>(move_interval).count()
      || !process_last_move.compare_exchange_strong(last, stamp))
    return false;
  if (move_to_another_cpu() < 0) {
    // Nowhere to go (one CPU allowed) or refused: give the slot back, and
    // do not try again soon.
    auto ours = stamp;
    process_last_move.compare_exchange_strong(ours, last);
    mine.interval = max_interval;
    mine.last_move = now;
    return false;
  }
  // A streak right after our last move: it did not help. Back off.
  if (now - mine.last_move < 2 * mine.interval)
    mine.interval = std::min(mine.interval * 2, max_interval);
  else
    mine.interval = move_interval;
  mine.last_move = now;
  return true;
}

int move_to_another_cpu() {
  cpu_set_t allowed;
  CPU_ZERO(&allowed);
  if (::sched_getaffinity(0, sizeof(allowed), &allowed) != 0 || CPU_COUNT(&allowed) < 2)
    return -1;
  const int here = ::sched_getcpu();
  if (here < 0 || !CPU_ISSET(here, &allowed))
    return -1;
  cpu_set_t elsewhere = allowed;
  CPU_CLR(here, &elsewhere);
  if (::sched_setaffinity(0, sizeof(elsewhere), &elsewhere) != 0)
    return -1;
  // The mask as it was; tried again once, as nothing else would widen it.
  if (::sched_setaffinity(0, sizeof(allowed), &allowed) != 0)
    ::sched_setaffinity(0, sizeof(allowed), &allowed);
  return here;
}

} // namespace mitosis::router
