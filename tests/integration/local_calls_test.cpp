// Calls into real local contexts: results, futures, no-reply calls,
// exceptions, deadlines, grandchildren, policy, logs, a 100-context tree and
// starts through an intermediate that do not hold its calls up.
#include <catch2/catch.hpp>

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <future>
#include <set>
#include <sys/stat.h>
#include <thread>
#include <csignal>
#include <cstdlib>
#include <unistd.h>
#include <vector>

#include "captured_log.hpp"
#include "mitosis/mitosis.hpp"
#include "mitosis/actors/runtime.hpp"
#include "test_functions.hpp"
#include "../sanitized.hpp"

using namespace std::chrono_literals;
using clk = std::chrono::steady_clock;

TEST_CASE("call runs the function in a child process and returns its result") {
  mitosis::master m{0, nullptr};
  auto c = m.local({.name = "calls"});
  CHECK(c.call(echo, "abc") == "abc");
  CHECK(c.call(add, 2, 3) == 5);
  CHECK(c.call(my_pid) != ::getpid());
  CHECK(c.call(my_ppid) == ::getpid());
  CHECK(c.call(my_pid) == m.pid_of(c));
  std::string big(1 << 20, 'x');
  CHECK(c.call(echo, big) == big);
}

TEST_CASE("call_async returns futures that resolve out of order") {
  mitosis::master m{0, nullptr};
  auto c = m.local({.name = "async"});
  auto slow = c.call_async(sleep_ms, 200);
  std::vector<mitosis::future<int>> fs;
  for (int i = 0; i < 20; ++i)
    fs.push_back(c.call_async(add, i, 1));
  for (int i = 0; i < 20; ++i)
    CHECK(fs[i].get() == i + 1);
  CHECK_FALSE(slow.ready());
  CHECK(slow.get() == 200);
}

TEST_CASE("call_no_reply runs the function without answering") {
  mitosis::master m{0, nullptr};
  auto c = m.local({.name = "noreply"});
  for (int i = 0; i < 3; ++i)
    c.call_no_reply(bump);
  auto deadline = clk::now() + 2s;
  int seen = 0;
  while ((seen = c.call(counter)) < 3 && clk::now() < deadline)
    std::this_thread::sleep_for(1ms);
  CHECK(seen == 3);
  CHECK(m.runtime().pending().size() == 0);
}

TEST_CASE("a remote exception arrives as call_error with type message and context") {
  mitosis::master m{0, nullptr};
  auto c = m.local({.name = "thrower"});
  try {
    c.call(fail_with, "boom");
    FAIL("no exception");
  } catch (const mitosis::call_error& e) {
    CHECK(e.remote_type() == "std::invalid_argument");
    CHECK(e.remote_message() == "boom");
    CHECK(e.context() == "thrower");
    CHECK(std::string{e.what()}.find("thrower") != std::string::npos);
  }
  CHECK(c.call(add, 1, 1) == 2); // the context survives
}

TEST_CASE("a grandchild is started through its parent and called through it") {
  mitosis::master m{0, nullptr};
  auto child = m.local({.name = "mid"});
  auto gc = m.local({.name = "leaf", .via = child});
  CHECK(gc.id() != child.id());
  CHECK(gc.call(my_ppid) == child.call(my_pid));
  CHECK(gc.call(echo, "through") == "through");
  auto ggc = m.local({.name = "leaf2", .via = gc});
  CHECK(ggc.call(my_ppid) == gc.call(my_pid));
  try {
    gc.call(fail_with, "deep");
    FAIL("no exception");
  } catch (const mitosis::call_error& e) {
    CHECK(e.context() == "leaf");
  }
}

TEST_CASE("a deadline fails the call with timeout_error and the context stays usable") {
  mitosis::master m{0, nullptr};
  auto c = m.local({.name = "slow"});
  auto t0 = clk::now();
  CHECK_THROWS_AS(c.call_for(100ms, sleep_ms, 3000), mitosis::timeout_error);
  CHECK(clk::now() - t0 < 1s);
  CHECK(c.call(add, 20, 22) == 42);
}

TEST_CASE("by default a child may not call its parent so the refusal is a typed error") {
  mitosis::master m{0, nullptr};
  auto c = m.local({.name = "curious"});
  auto answer = c.call(call_parent_echo);
  CHECK(answer.rfind("refused: ", 0) == 0);
  CHECK(answer.find("not allowed by policy") != std::string::npos);

  auto granted = mitosis::policy::rules::defaults();
  granted.child_callable.insert("echo");
  m.set_policy(granted);
  CHECK(c.call(call_parent_echo) == "allowed: x");
}

TEST_CASE("log lines of a context reach the master's sinks tagged with its name") {
  mitosis::master m{0, nullptr};
  captured_log log;
  auto c = m.local({.name = "chatty"});
  c.call(log_line, "marker-4711");
  CHECK(log.wait_for("marker-4711", "[chatty"));
}

TEST_CASE("100 local contexts are started and each is called") {
  // Under a sanitizer each start costs far more CPU (a bigger binary,
  // shadow memory): 30 at once on two slow vCPUs outlasted the default
  // 10 s connect_timeout once (no hello from 'fan1', ASan), and kept the
  // first one started silent for 3 heartbeats of 1 s once (TSan, in CI).
  mitosis::master m{
    0, nullptr,
    {.connect_timeout = std::chrono::seconds{sanitized_build ? 60 : 10},
     .heartbeat_interval = std::chrono::milliseconds{sanitized_build ? 10000 : 1000}}};
  const int n = cycles_or(100, 30);
  std::vector<std::future<mitosis::context>> starting;
  for (int i = 0; i < n; ++i)
    starting.push_back(m.local_async({.name = "fan" + std::to_string(i)}));
  std::vector<mitosis::context> ctxs;
  for (auto& f : starting)
    ctxs.push_back(f.get());
  std::vector<mitosis::future<int>> pids;
  for (auto& c : ctxs)
    pids.push_back(c.call_async(my_pid));
  std::set<int> distinct;
  for (auto& p : pids)
    distinct.insert(p.get());
  CHECK(distinct.size() == static_cast<std::size_t>(n));
  CHECK(distinct.count(::getpid()) == 0);
}

TEST_CASE("contexts connected over pipes (as sshd connects them) serve calls and children") {
  mitosis::master m{0, nullptr};
  auto c = m.local({.name = "piped", .pipes = true});
  CHECK(c.call(echo, "over pipes") == "over pipes");
  std::string big(3 << 20, 'p');
  CHECK(c.call(echo, big) == big);
  auto gc = m.local({.name = "piped.gc", .via = c, .pipes = true});
  CHECK(gc.call(my_ppid) == c.call(my_pid));
  CHECK(gc.call(add, 40, 2) == 42);
  ::kill(m.pid_of(c), SIGKILL);
  CHECK_THROWS_AS(gc.call_for(std::chrono::seconds{1}, add, 1, 1), mitosis::context_lost);
}

TEST_CASE("an argument or result over the frame limit is an error and loses nothing") {
  mitosis::master m{0, nullptr, {.max_frame = 1 << 20}};
  auto c = m.local({.name = "limited"});
  try {
    c.call(echo, std::string(2 << 20, 'a'));
    FAIL("no exception");
  } catch (const mitosis::error& e) {
    CHECK(e.code() == mitosis::errc::frame_too_large);
  }
  try {
    c.call(grow, 2 << 20);
    FAIL("no exception");
  } catch (const mitosis::error& e) {
    CHECK(e.code() == mitosis::errc::frame_too_large);
    CHECK(std::string{e.what()}.find("call_reply larger than the maximum frame size")
          != std::string::npos);
  }
  CHECK(c.call(grow, 1000).size() == 1000);
}

TEST_CASE("large byte arguments arrive intact directly and through an intermediate") {
  mitosis::master m{0, nullptr};
  auto c = m.local({.name = "blobs"});
  auto gc = m.local({.name = "blobs.gc", .via = c, .pipes = true});
  for (std::size_t size : {std::size_t{10}, std::size_t{64 * 1024}, std::size_t{3 << 20}}) {
    std::vector<char> bytes(size);
    for (std::size_t i = 0; i < size; ++i)
      bytes[i] = static_cast<char>(i * 7 + size);
    auto expected = checksum(42, bytes);
    CHECK(c.call(checksum, 42, bytes) == expected);
    CHECK(gc.call(checksum, 42, bytes) == expected);
    mitosis::blob as_blob(bytes.begin(), bytes.end());
    CHECK(c.call(checksum_blob, 42, as_blob) == expected);
    CHECK(gc.call(checksum_blob, 42, as_blob) == expected);
    CHECK(c.call_async(checksum, 42, std::move(bytes)).get() == expected);
  }
}

TEST_CASE("the frame limit applies to grandchildren too") {
  mitosis::master m{0, nullptr, {.max_frame = 1 << 20}};
  auto c = m.local({.name = "limited.mid"});
  auto gc = m.local({.name = "limited.leaf", .via = c});
  try {
    gc.call(grow, 2 << 20);
    FAIL("no exception");
  } catch (const mitosis::error& e) {
    CHECK(e.code() == mitosis::errc::frame_too_large);
  }
  CHECK(gc.call(grow, 10).size() == 10);
}

TEST_CASE("a future whose get_for timed out says so instead of hanging") {
  mitosis::master m{0, nullptr};
  auto c = m.local({.name = "abandoned"});
  auto f = c.call_async(sleep_ms, 300);
  CHECK_THROWS_AS(f.get_for(std::chrono::milliseconds{20}), mitosis::timeout_error);
  CHECK_FALSE(f.ready());
  CHECK_THROWS_AS(f.get(), mitosis::timeout_error);
  CHECK(c.call(add, 1, 2) == 3);
}

TEST_CASE("starts through an intermediate wait for their hello off its call workers") {
  // A container client that takes 3 s before it runs the command (a real
  // process; the "container" is this host): each start through `mid`
  // waits that long for its hello. mid has a single call worker.
  char dir[] = "/tmp/mitosis-slow-XXXXXX";
  REQUIRE(::mkdtemp(dir) != nullptr);
  const std::string client = std::string{dir} + "/slow-client";
  {
    std::ofstream out{client};
    out << "#!/bin/sh\nsleep 3\nwhile [ \"$1\" != slow-box ]; do shift; done\nshift\nexec \"$@\"\n";
  }
  REQUIRE(::chmod(client.c_str(), 0755) == 0);
  mitosis::master_options o;
  o.pool_threads = 1;
  o.connect_timeout = 60s; // three agents starting at once under a sanitizer
  mitosis::master m{0, nullptr, o};
  auto mid = m.local({.name = "starts.mid"});
  mitosis::bootstrap::method_spec spec;
  spec.kind = mitosis::bootstrap::method_kind::podman;
  spec.container.container = "slow-box";
  spec.container.program = client;
  std::vector<std::future<mitosis::context>> starts;
  for (int i = 0; i < 3; ++i) {
    spec.name = "starts.slow" + std::to_string(i);
    starts.push_back(m.connect_async(spec, mid));
  }
  std::this_thread::sleep_for(500ms);
  // Before: the one worker waited for the first hello, the call behind it.
  const auto c0 = clk::now();
  CHECK(mid.call(add, 2, 3) == 5);
  CHECK(clk::now() - c0 < 1s);
  // In parallel: the three end within 3 s of each other (one after the
  // other, each would end at least 3 s after the one before), however
  // slow the machine is.
  std::vector<clk::time_point> ended(starts.size());
  for (std::size_t left = starts.size(); left > 0;)
    for (std::size_t i = 0; i < starts.size(); ++i)
      if (ended[i] == clk::time_point{}
          && starts[i].wait_for(10ms) == std::future_status::ready) {
        ended[i] = clk::now();
        --left;
      }
  const auto [first, last] = std::minmax_element(ended.begin(), ended.end());
  CHECK(*last - *first < 3s);
  for (auto& s : starts) {
    auto c = s.get();
    CHECK(c.call(add, 1, 2) == 3);
  }
  std::filesystem::remove_all(dir);
}
