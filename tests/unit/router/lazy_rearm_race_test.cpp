// A deterministic test of a race in the parked reader's lazy re-arm, found
// by this test and fixed (read_until now inserts the stream into lazy_
// after unlocking its read mutex). It is built as its own program (mitosis_fastpath_race_tests):
// it interposes pthread_mutex_trylock/unlock for the whole process to hold
// the stream's read mutex a little longer at one precise point.
//
// The race (before the fix): router::read_until, when it leaves, inserted the stream into
// lazy_ and only then unlocked the stream's read mutex. If the I/O thread
// runs rearm_idle_streams() in between, its try_lock of the read mutex
// fails, it takes the stream for "parked on right now" and erases it from
// lazy_. The reader then unlocks and never inserts it again: the stream is
// left out of epoll and out of lazy_, and frames on it are read only when
// some thread parks on it again (never, for a stream nobody calls).
#include <atomic>
#include <dlfcn.h>
#include <pthread.h>
#include <thread>

#include <catch2/catch.hpp>

#include "socketpair_peer.hpp"

using namespace mitosis::test;
namespace rt = mitosis::router;

namespace {

// Armed on one thread: the first mutex it try_locks (in read_until, the
// stream's read mutex) is held `hold` longer when it is unlocked.
thread_local bool armed = false;
thread_local pthread_mutex_t* read_mutex = nullptr;
std::atomic<bool> holding{false};
std::atomic<bool> release{false};

template <class F>
F real(const char* name) {
  static_assert(sizeof(F) == sizeof(void*));
  void* p = ::dlsym(RTLD_NEXT, name);
  F f;
  std::memcpy(&f, &p, sizeof(f));
  return f;
}

} // namespace

extern "C" int pthread_mutex_trylock(pthread_mutex_t* m) {
  static auto fn = real<int (*)(pthread_mutex_t*)>("pthread_mutex_trylock");
  int r = fn(m);
  if (armed && r == 0 && read_mutex == nullptr)
    read_mutex = m;
  return r;
}

extern "C" int pthread_mutex_unlock(pthread_mutex_t* m) {
  static auto fn = real<int (*)(pthread_mutex_t*)>("pthread_mutex_unlock");
  if (armed && m == read_mutex) {
    armed = false;
    holding = true;
    // Wait (bounded) until the test has let the I/O thread run once.
    for (int i = 0; i < 2000 && !release.load(); ++i)
      std::this_thread::sleep_for(100us);
    holding = false;
  }
  return fn(m);
}

TEST_CASE("router: a stream released by a parked reader while the I/O thread re-arms is "
          "read again",
          "[router][read_until][race]") {
  holding = false;
  release = false;
  master_with_child m;
  const auto io = m.io_thread();

  std::atomic<bool> returned{false};
  std::atomic<int> polls{0};
  std::thread reader{[&] {
    armed = true;
    // read_until returns false at once while the I/O thread holds the read
    // mutex (it may still be reading the "io" frame): try again until parked.
    const auto until = steady::now() + 5s;
    while (!m.r.read_until(
             m.sid,
             [&] {
               ++polls;
               return m.out.frame_count() >= 2;
             },
             -1, until)
           && steady::now() < until)
      std::this_thread::sleep_for(100us);
    armed = false;
    returned = true;
  }};
  REQUIRE(eventually([&] { return polls.load() > 0; }));
  m.write_reply("parked");
  // The reader delivered it and now sits between lazy_.insert and the
  // unlock of the read mutex.
  REQUIRE(eventually([&] { return holding.load(); }));
  SECTION("the I/O thread runs a re-arm pass in the window (the race)") {
    // Wake the I/O thread (a no-op post): it sees lazy_ not empty, waits
    // the 1 ms re-arm delay and runs rearm_idle_streams() while the read
    // mutex is held.
    m.r.close_stream(9999, "poke");
  }
  SECTION("control: the I/O thread sleeps through the window") {
  }
  std::this_thread::sleep_for(20ms); // the scenario: the window lasts 20 ms
  release = true;
  reader.join();
  REQUIRE(returned);

  // Nobody parks any more: the I/O thread must read the next frame.
  std::this_thread::sleep_for(5ms);
  m.write_reply("after");
  CHECK(m.out.wait_frames(3));
  auto frames = m.out.frames();
  REQUIRE(frames.size() >= 2);
  CHECK(frames[1].body() == "parked");
  if (frames.size() == 3) {
    CHECK(frames[2].body() == "after");
    CHECK(frames[2].thread == io);
  }
}
