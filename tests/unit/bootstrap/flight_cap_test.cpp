// The cap on what an ssh connection sends before the router has its
// stream (bootstrap/flight_cap.hpp); its effect on a real sshd is measured
// by bench/run.sh ssh (start_cold_ms) and used by every ssh test's start.
#include <catch2/catch.hpp>

#include "mitosis/bootstrap/flight_cap.hpp"

using mitosis::bootstrap::ssh_impl::flight_cap;
using namespace std::chrono_literals;

namespace {
constexpr std::uint32_t window = 2 * 1024 * 1024; // OpenSSH's session window
constexpr std::uint32_t cap = flight_cap::first_limit;

// An upload about to start: the cap has seen the server's whole window.
struct upload {
  flight_cap f;
  flight_cap::clock::time_point t = flight_cap::clock::now();
  upload() {
    CHECK(f.room(window, t) == cap);
  }
};
} // namespace

TEST_CASE_METHOD(upload, "flight_cap: at most the limit is in flight, the rest when acknowledged",
                 "[bootstrap][ssh]") {
  // 200 KiB sent: 56 KiB more may go.
  CHECK(f.room(window - 200 * 1024, t) == 56 * 1024);
  // All of it in flight: nothing, whatever the window says.
  CHECK(f.room(window - cap, t) == 0);
  CHECK(f.room(window - cap, t + 4ms) == 0);
  // sshd acknowledged 96 KiB: that much may go again, and the wait is over.
  CHECK(f.room(window - cap + 96 * 1024, t + 4ms) == 96 * 1024);
  CHECK(f.held_since == flight_cap::clock::time_point{});
  CHECK(f.limit == cap);
}

TEST_CASE_METHOD(upload, "flight_cap: held back for 5 ms, the limit doubles up to the window",
                 "[bootstrap][ssh]") {
  // A server that acknowledges only below half its window: nothing comes.
  CHECK(f.room(window - cap, t) == 0);
  CHECK(f.room(window - cap, t + 4ms) == 0);
  CHECK(f.room(window - cap, t + 5ms) == cap);
  CHECK(f.limit == 2 * cap);
  auto in_flight = 2 * cap;
  auto now = t + 5ms;
  for (int i = 0; i < 10 && f.limit < window; ++i) {
    CHECK(f.room(window - in_flight, now) == 0);
    now += 5ms;
    auto more = f.room(window - in_flight, now);
    CHECK(more == f.limit - in_flight);
    in_flight += more;
  }
  CHECK(f.limit == window);
  CHECK(in_flight == window);
  // The window is the server's to refill: nothing beyond it, ever.
  CHECK(f.room(0, now + 1s) == 0);
}

TEST_CASE("flight_cap: a window smaller than the limit is used whole", "[bootstrap][ssh]") {
  flight_cap f;
  auto t = flight_cap::clock::now();
  CHECK(f.room(64 * 1024, t) == 64 * 1024);
  CHECK(f.room(0, t) == 0);
  CHECK(f.room(64 * 1024, t + 1ms) == 64 * 1024);
}

TEST_CASE_METHOD(upload,
                 "flight_cap: a server that has acknowledged before waits for the reader, "
                 "the limit stays",
                 "[bootstrap][ssh]") {
  f.wrote(cap);
  // 96 KiB acknowledged (OpenSSH's way), and written again at once.
  CHECK(f.room(window - cap + 96 * 1024, t) == 96 * 1024);
  CHECK(f.acknowledged);
  f.wrote(96 * 1024);
  // The target's reader stalls (a slow exec, a disk): no acknowledgement
  // for 20 ms. The server is not the reason: the limit does not grow.
  for (auto d : {0ms, 5ms, 10ms, 20ms})
    CHECK(f.room(window - cap, t + d) == 0);
  CHECK(f.limit == cap);
}

TEST_CASE_METHOD(upload, "flight_cap: an acknowledgement smaller than the last write is still seen",
                 "[bootstrap][ssh]") {
  f.wrote(100 * 1024);
  // 32 KiB came back: the window is below what room() saw, above what the
  // write left.
  CHECK(f.room(window - 100 * 1024 + 32 * 1024, t) == cap - 68 * 1024);
  CHECK(f.acknowledged);
}
