// A spinning reader's yield (see spin_yield.hpp).
#include "spin_yield.hpp"

#include <sched.h>

namespace mitosis::router {

namespace {
// Parks in a row on this thread that yielded late.
thread_local int late_streak = 0;
} // namespace

spin_yield::~spin_yield() {
  if (yielded_ && !late_)
    late_streak = 0;
}

void spin_yield::operator()() {
  const auto before = std::chrono::steady_clock::now();
  ::sched_yield();
  after_yield(std::chrono::steady_clock::now() - before);
}

bool spin_yield::after_yield(std::chrono::nanoseconds took) {
  yielded_ = true;
  if (late_ || took < late)
    return false;
  late_ = true;
  if (++late_streak < late_parks)
    return false;
  late_streak = 0;
  using clock = std::chrono::steady_clock;
  thread_local clock::time_point last_move{};
  const auto now = clock::now();
  if (now - last_move < move_interval)
    return false;
  last_move = now;
  return move_to_another_cpu();
}

bool move_to_another_cpu() {
  cpu_set_t allowed;
  CPU_ZERO(&allowed);
  if (::sched_getaffinity(0, sizeof(allowed), &allowed) != 0 || CPU_COUNT(&allowed) < 2)
    return false;
  const int here = ::sched_getcpu();
  if (here < 0 || !CPU_ISSET(here, &allowed))
    return false;
  cpu_set_t elsewhere = allowed;
  CPU_CLR(here, &elsewhere);
  // Narrowing the mask moves the thread at once; restoring it lets the
  // kernel place it freely again from wherever it now is.
  if (::sched_setaffinity(0, sizeof(elsewhere), &elsewhere) != 0)
    return false;
  ::sched_setaffinity(0, sizeof(allowed), &allowed);
  return true;
}

} // namespace mitosis::router
