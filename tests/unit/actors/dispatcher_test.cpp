// Unit tests of the dispatcher's idle reader: a worker parks on an agent's
// parent stream (a socketpair played by the test), as the runtime sets it
// up, and is woken by frames, by submitted jobs and by stop(); and the
// on-demand pool (the start threads) growing to its limit.
#include "mitosis/actors/dispatcher.hpp"

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <mutex>
#include <thread>

#include <catch2/catch.hpp>

#include "../router/socketpair_peer.hpp"

using namespace mitosis::test;
namespace rt = mitosis::router;
using mitosis::actors::dispatcher;

namespace {

constexpr context_id self = 5;

// An agent's router with its parent stream played by `parent`, and a pool
// whose idle worker parks on that stream (as runtime::init_common sets it,
// but with a 10 s park so that only a wake-up can end it early). Every
// delivered frame is submitted to the pool as a job, as the runtime does
// with calls.
class parked_pool {
public:
  explicit parked_pool(std::size_t threads) : r{agent_config(self), out}, pool{threads} {
    out.on_deliver = [this](const delivered_frame& f) {
      if (other) { // a job for another pool, as the service workers get
        other->submit([this] { other_ran = true; });
        return;
      }
      pool.submit([this, by = f.thread] {
        std::lock_guard<std::mutex> guard{mtx_};
        calls_.push_back({by, std::this_thread::get_id()});
      });
    };
    attach(r, parent, parent_options(rt::master_id));
    r.start();
    pool.set_idle_reader([this](const std::function<bool()>& has_work, int wake_fd) {
      enter(callers_, max_callers_);
      bool holding = false;
      auto watched = [&] {
        if (!holding) { // read_until owns the stream from its first look on
          holding = true;
          enter(holders_, max_holders_);
        }
        return has_work();
      };
      bool ok = r.read_until(rt::parent_stream, watched, wake_fd, steady::now() + 10s);
      if (holding)
        --holders_;
      --callers_;
      return ok;
    });
  }
  ~parked_pool() {
    pool.stop();
    r.stop();
  }

  // Waits until a worker holds the parent stream in read_until.
  bool parked() const {
    return eventually([&] { return holders_.load() > 0; });
  }
  std::thread::id reader() const {
    std::lock_guard<std::mutex> guard{mtx_};
    return reader_;
  }
  // (thread that delivered the frame, thread that ran its job), per frame.
  std::vector<std::pair<std::thread::id, std::thread::id>> calls() const {
    std::lock_guard<std::mutex> guard{mtx_};
    return calls_;
  }
  // The most workers ever at once in the idle reader, and holding the
  // stream in read_until.
  int max_callers() const {
    return max_callers_.load();
  }
  int max_holders() const {
    return max_holders_.load();
  }

  recording_delivery out;
  test_router r;
  socketpair_peer parent;
  dispatcher pool;
  // When set (before the first frame), frames become jobs of this pool.
  dispatcher* other = nullptr;
  std::atomic<bool> other_ran{false};

private:
  void enter(std::atomic<int>& now, std::atomic<int>& most) {
    std::lock_guard<std::mutex> guard{mtx_};
    most = std::max(most.load(), ++now);
    reader_ = std::this_thread::get_id();
  }

  mutable std::mutex mtx_;
  std::thread::id reader_;
  std::vector<std::pair<std::thread::id, std::thread::id>> calls_;
  std::atomic<int> callers_{0}, max_callers_{0};
  std::atomic<int> holders_{0}, max_holders_{0};
};

buffer call_from_parent(std::string_view body, std::uint32_t reply_to) {
  return raw_frame(wire_type::call_request, self, rt::master_id, body, reply_to);
}

} // namespace

TEST_CASE("dispatcher: a frame read by the parked worker runs on that worker",
          "[dispatcher][idle_reader]") {
  parked_pool p{1};
  REQUIRE(p.parked());
  REQUIRE(p.parent.write(call_from_parent("call", 1)));
  REQUIRE(eventually([&] { return p.calls().size() == 1; }));
  auto c = p.calls()[0];
  CHECK(c.first == p.reader());
  CHECK(c.second == p.reader());
  // And it parks again.
  CHECK(p.parked());
}

TEST_CASE("dispatcher: a job submitted while a worker is parked wakes it and runs",
          "[dispatcher][idle_reader]") {
  parked_pool p{1};
  REQUIRE(p.parked());
  const auto reader = p.reader();
  std::atomic<bool> ran{false};
  std::thread::id ran_on;
  const auto t0 = steady::now();
  REQUIRE(p.pool.submit([&] {
    ran_on = std::this_thread::get_id();
    ran = true;
  }));
  REQUIRE(eventually([&] { return ran.load(); }));
  CHECK(steady::now() - t0 < 1s); // woken, not at the end of its 10 s park
  CHECK(ran_on == reader);
  CHECK(p.parked());
}

TEST_CASE("dispatcher: with several workers one parks at a time and jobs still run",
          "[dispatcher][idle_reader]") {
  parked_pool p{3};
  REQUIRE(p.parked());
  constexpr int jobs = 200;
  std::atomic<int> ran{0};
  for (int i = 0; i < jobs; ++i) {
    REQUIRE(p.pool.submit([&] { ++ran; }));
    if (i % 20 == 0)
      REQUIRE(p.parent.write(call_from_parent("call", static_cast<std::uint32_t>(i + 1))));
  }
  REQUIRE(eventually([&] { return ran.load() == jobs && p.calls().size() == jobs / 20; }));
  CHECK(p.max_callers() == 1);
  CHECK(p.max_holders() == 1);
  CHECK(p.parked());
}

TEST_CASE("dispatcher: stop returns promptly with a worker parked", "[dispatcher][idle_reader]") {
  parked_pool p{2};
  REQUIRE(p.parked());
  const auto t0 = steady::now();
  p.pool.stop();
  CHECK(steady::now() - t0 < 1s);
  CHECK_FALSE(p.pool.submit([] {}));
}

TEST_CASE("dispatcher: the parent stream closing under a parked worker is reported and stop "
          "still returns promptly",
          "[dispatcher][idle_reader]") {
  parked_pool p{1};
  REQUIRE(p.parked());
  ::shutdown(p.parent.fd(), SHUT_WR);
  REQUIRE(eventually([&] { return !p.out.parent_losses().empty(); }));
  CHECK(p.out.parent_losses()[0] == "stream closed");
  const auto t0 = steady::now();
  p.pool.stop();
  CHECK(steady::now() - t0 < 1s);
}

TEST_CASE("dispatcher: a job the parked worker submits to another pool runs there at once",
          "[dispatcher][idle_reader]") {
  // The parked reader takes its own pool's jobs without a wake-up; another
  // pool's workers must still be woken (a module push read by the parked
  // worker goes to the service workers).
  dispatcher services{1};
  parked_pool p{1};
  p.other = &services;
  REQUIRE(p.parked());
  REQUIRE(p.parent.write(call_from_parent("push", 1)));
  CHECK(eventually([&] { return p.other_ran.load(); }, 1000ms));
  services.stop();
}

TEST_CASE("an on-demand pool has no thread before its first job and grows to its limit") {
  dispatcher pool{dispatcher::on_demand{3}};
  CHECK(pool.size() == 0);
  // One job at a time: one thread, reused.
  for (int i = 0; i < 5; ++i) {
    std::atomic<bool> ran{false};
    REQUIRE(pool.submit([&] { ran = true; }));
    pool.wait_idle();
    CHECK(ran);
  }
  CHECK(pool.size() == 1);
  // Five jobs that wait for each other's start: three run at once (the
  // limit), the other two wait for a thread.
  std::mutex mtx;
  std::condition_variable cv;
  int running = 0;
  int most = 0;
  bool release = false;
  for (int i = 0; i < 5; ++i)
    REQUIRE(pool.submit([&] {
      std::unique_lock<std::mutex> guard{mtx};
      most = std::max(most, ++running);
      cv.notify_all();
      cv.wait(guard, [&] { return release; });
      --running;
    }));
  {
    std::unique_lock<std::mutex> guard{mtx};
    CHECK(cv.wait_for(guard, 10s, [&] { return running == 3; }));
    release = true;
    cv.notify_all();
  }
  pool.wait_idle();
  CHECK(most == 3);
  CHECK(pool.size() == 3);
  pool.stop();
  CHECK_FALSE(pool.submit([] {}));
}

TEST_CASE("a call pool starts with its minimum and grows only when jobs overlap") {
  dispatcher pool{dispatcher::on_demand{4, 1}};
  CHECK(pool.size() == 1);
  // Jobs one after another: the one worker takes them all.
  for (int i = 0; i < 5; ++i) {
    REQUIRE(pool.submit([] {}));
    pool.wait_idle();
  }
  CHECK(pool.size() == 1);
  // Two jobs that wait for each other: a second worker. (No assertion in
  // the jobs: Catch2 counts assertions without a lock, and the main
  // thread's own assertions would race with them.)
  std::mutex mtx;
  std::condition_variable cv;
  int running = 0;
  int met = 0;
  bool submitted[2] = {};
  for (auto& ok : submitted)
    ok = pool.submit([&] {
      std::unique_lock<std::mutex> guard{mtx};
      ++running;
      cv.notify_all();
      met += cv.wait_for(guard, 10s, [&] { return running == 2; });
    });
  pool.wait_idle();
  CHECK(submitted[0]);
  CHECK(submitted[1]);
  CHECK(running == 2);
  CHECK(met == 2);
  CHECK(pool.size() == 2);
}
