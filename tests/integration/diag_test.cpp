// Output and diagnostics: a context's stdout and stderr in the master's
// log, per-context stats, the frame trace switch, remote backtraces.
#include <catch2/catch.hpp>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <iostream>
#include <stdexcept>
#include <string>
#include <thread>

#include "mitosis/actors/runtime.hpp"
#include "mitosis/mitosis.hpp"
#include "captured_log.hpp"
#include "temp_dir.hpp"
#include "test_functions.hpp"

using namespace std::chrono_literals;

// Run in a child: prints on both streams, with stdio and iostreams.
int print_both(std::string text) {
  std::printf("printf says %s\n", text.c_str());
  std::cout << "cout says " << text << std::endl;
  std::cerr << "cerr says " << text << "\n";
  return 0;
}
MITOSIS_REMOTE(print_both);

// Run in a child: a subprocess that inherits its fds 1 and 2.
int run_shell(std::string command) {
  return std::system(command.c_str());
}
MITOSIS_REMOTE(run_shell);

// Named in the remote backtrace: external linkage (exported by -rdynamic)
// and not inlined.
[[gnu::noinline]] void diag_thrower_inner(const std::string& why) {
  throw std::runtime_error("inner failure: " + why);
}

[[gnu::noinline]] int diag_thrower(std::string why) {
  diag_thrower_inner(why);
  return static_cast<int>(why.size());
}
MITOSIS_REMOTE(diag_thrower);

// Run in a child: asks its parent for stats (not allowed by default).
std::string parent_stats() {
  try {
    mitosis::parent().stats();
    return "answered";
  } catch (const mitosis::policy_error& e) {
    return std::string{"policy_error: "} + e.what();
  } catch (const mitosis::error& e) {
    return std::string{"error: "} + e.what();
  }
}
MITOSIS_REMOTE(parent_stats);

namespace {

std::size_t count_of(const std::string& text, const std::string& needle) {
  std::size_t n = 0;
  for (auto p = text.find(needle); p != std::string::npos; p = text.find(needle, p + 1))
    ++n;
  return n;
}

// Polls `c`'s stats until `pred` holds or 5 s pass; returns the last.
template <class Pred>
mitosis::context_stats stats_until(const mitosis::context& c, Pred pred) {
  auto deadline = std::chrono::steady_clock::now() + 5s;
  auto s = c.stats();
  while (!pred(s) && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(5ms);
    s = c.stats();
  }
  return s;
}

const mitosis::stream_stats* parent_stream(const mitosis::context_stats& s) {
  for (auto& st : s.streams)
    if (st.is_parent)
      return &st;
  return nullptr;
}

} // namespace

TEST_CASE("a child's stdout and stderr arrive in the master's log tagged with the context") {
  captured_log log;
  mitosis::master m{0, nullptr};
  auto c = m.local({.name = "out.child"});
  CHECK(c.call(print_both, "hello") == 0);
  CHECK(log.wait_for("[out.child:stdout] [info] printf says hello",
                     "[out.child:stdout] [info] cout says hello",
                     "[out.child:stderr] [warning] cerr says hello"));
  // A subprocess's output, both streams.
  CHECK(c.call(run_shell, "echo sub-out; echo sub-err >&2") == 0);
  CHECK(log.wait_for("[out.child:stdout] [info] sub-out", "[out.child:stderr] [warning] sub-err"));
  // Through an intermediate, tagged with the grandchild.
  auto gc = m.local({.name = "out.leaf", .via = c});
  CHECK(gc.call(print_both, "deep") == 0);
  CHECK(log.wait_for("[out.leaf:stdout] [info] printf says deep",
                     "[out.leaf:stderr] [warning] cerr says deep"));
  // The stream stays clean: calls still work after all that output.
  CHECK(gc.call(add, 2, 3) == 5);
}

TEST_CASE("a context started by a stage-1 method forwards its output the same way") {
  // The shell method runs the bundle through stage 1, as ssh does: the
  // agent is the same, so is its capture.
  captured_log log;
  mitosis::master m{0, nullptr};
  temp_dir cache;
  auto c = m.shell({.name = "out.shell", .cache_dir = cache.path + "/c"});
  CHECK(c.call(print_both, "staged") == 0);
  CHECK(log.wait_for("[out.shell:stdout] [info] printf says staged",
                     "[out.shell:stderr] [warning] cerr says staged"));
}

TEST_CASE("a child's output goes through the per-context log rate limit") {
  captured_log log;
  mitosis::master m{0, nullptr, {.log_lines_per_second = 5, .log_burst = 5}};
  auto c = m.local({.name = "out.flood"});
  CHECK(c.call(run_shell, "i=0; while [ $i -lt 200 ]; do echo line-$i; i=$((i+1)); done") == 0);
  CHECK(log.wait_for("[out.flood:stdout] [info] line-0"));
  // A later line that passes reports the dropped ones (once the bucket
  // has refilled).
  bool reported = false;
  for (int i = 0; i < 50 && !reported; ++i) {
    CHECK(c.call(run_shell, "echo after") == 0);
    reported = log.wait_for_within(100ms, "dropped ", "log lines from context", "'out.flood'");
  }
  CHECK(reported);
  CHECK(count_of(log.text.str(), "[out.flood:stdout] [info] line-") < 20);
}

TEST_CASE("stats count frames and bytes, calls served and running, uptime and RSS") {
  mitosis::master m{0, nullptr};
  auto c = m.local({.name = "stats.child"});
  auto s0 = c.stats();
  CHECK(s0.name == "stats.child");
  CHECK(s0.id == c.id());
  CHECK(s0.pid == m.pid_of(c));
  CHECK(s0.uptime_ms >= 0);
  CHECK(s0.rss_bytes > 0);
  auto* p0 = parent_stream(s0);
  REQUIRE(p0);
  CHECK(p0->frames_in > 0); // the stats_request at least
  CHECK(p0->bytes_in > 0);
  for (int i = 0; i < 5; ++i)
    CHECK(c.call(echo, std::string(1000, 'x')).size() == 1000);
  // A context counts a call and its reply frame just after the reply has
  // left: wait for the counts.
  auto s1 = stats_until(c, [&](const auto& s) {
    auto* p = parent_stream(s);
    return s.calls_served >= s0.calls_served + 5 && p && p->frames_out >= p0->frames_out + 5;
  });
  auto* p1 = parent_stream(s1);
  REQUIRE(p1);
  CHECK(p1->frames_in >= p0->frames_in + 5);
  CHECK(p1->bytes_in >= p0->bytes_in + 5000);
  CHECK(p1->frames_out >= p0->frames_out + 5);
  CHECK(p1->bytes_out >= p0->bytes_out + 5000);
  CHECK(s1.calls_served >= s0.calls_served + 5);
  CHECK(s1.uptime_ms >= s0.uptime_ms);
  // A slow call: running there, waited for here.
  auto slow = c.call_async(sleep_ms, 1500);
  auto s2 = stats_until(c, [](const auto& s) { return s.calls_running >= 1; });
  CHECK(s2.calls_running == 1);
  CHECK(m.self().stats().calls_waiting >= 1);
  CHECK(slow.get() == 1500);
  auto s3 = stats_until(c, [](const auto& s) { return s.calls_running == 0; });
  CHECK(s3.calls_running == 0);
  CHECK(s3.calls_served >= s1.calls_served + 1);
  // An intermediate counts the frames it forwards and its child's stream.
  auto gc = m.local({.name = "stats.leaf", .via = c});
  CHECK(gc.call(add, 1, 2) == 3);
  // (mid counts a forwarded reply after writing it: wait for the count.)
  auto s4 = stats_until(c, [](const auto& s) { return s.frames_routed >= 2; });
  CHECK(s4.frames_routed >= 2);
  CHECK(s4.streams.size() == 2);
  auto leaf = gc.stats();
  CHECK(leaf.name == "stats.leaf");
  CHECK(leaf.rss_bytes > 0);
}

TEST_CASE("stats of a lost context fail with context_lost") {
  mitosis::master m{0, nullptr};
  auto c = m.local({.name = "stats.gone"});
  c.shutdown(true);
  CHECK_THROWS_AS(c.stats(), mitosis::context_lost);
}

TEST_CASE("a child asking its parent for stats gets a typed refusal under the default policy") {
  mitosis::master m{0, nullptr};
  auto c = m.local({.name = "stats.nosy"});
  auto got = c.call(parent_stats);
  INFO(got);
  CHECK(got.rfind("policy_error: ", 0) == 0);
  CHECK(got.find("type not allowed") != std::string::npos);
  CHECK(got.find("stats_request") != std::string::npos);
  CHECK(c.call(add, 1, 2) == 3); // one refusal does not cut it
}

TEST_CASE("trace_frames logs one line per frame an intermediate routes") {
  captured_log log;
  mitosis::master m{0, nullptr, {.log_level = 1, .trace_frames = true}};
  auto mid = m.local({.name = "trace.mid"});
  auto leaf = m.local({.name = "trace.leaf", .via = mid});
  const auto to_leaf = "[trace.mid] frame call_request 0->" + std::to_string(leaf.id());
  const auto from_leaf = "[trace.mid] frame call_reply " + std::to_string(leaf.id()) + "->0";
  for (int i = 0; i < 3; ++i)
    CHECK(leaf.call(add, i, 1) == i + 1);
  auto deadline = std::chrono::steady_clock::now() + 5s;
  while (count_of(log.text.str(), from_leaf) < 3 && std::chrono::steady_clock::now() < deadline) {
    log.sink->flush();
    std::this_thread::sleep_for(5ms);
  }
  log.sink->flush();
  auto text = log.text.str();
  CHECK(count_of(text, to_leaf) == 3);
  CHECK(count_of(text, from_leaf) == 3);
  CHECK(text.find("to stream 2 'trace.leaf'") != std::string::npos);
}

TEST_CASE("MITOSIS_TRACE_FRAMES=1 turns the trace on in the master and its contexts") {
  captured_log log;
  ::setenv("MITOSIS_TRACE_FRAMES", "1", 1);
  {
    mitosis::master m{0, nullptr, {.log_level = 1}};
    ::unsetenv("MITOSIS_TRACE_FRAMES");
    CHECK(m.runtime().options().trace_frames);
    auto c = m.local({.name = "trace.env"});
    CHECK(c.call(add, 1, 1) == 2);
    const auto id = std::to_string(c.id());
    CHECK(log.wait_for("[trace.env:mitosis.trace] [debug] [trace.env] frame call_request 0->" + id,
                       "[mitosis.trace] [debug] [master] frame call_reply " + id + "->0"));
  }
  // Without it (and the option), nothing is traced.
  mitosis::master m{0, nullptr, {.log_level = 1}};
  auto c = m.local({.name = "trace.off"});
  CHECK(c.call(add, 1, 1) == 2);
  // A round trip after the call: a trace line it caused would be ahead.
  CHECK(stats_until(c, [](const auto& s) { return s.calls_served >= 1; }).calls_served >= 1);
  log.sink->flush();
  CHECK(log.text.str().find("[trace.off] frame") == std::string::npos);
}

TEST_CASE("a call_error from a grandchild carries the context and the throw site's backtrace") {
  mitosis::master m{0, nullptr};
  auto mid = m.local({.name = "bt.mid"});
  auto leaf = m.local({.name = "bt.leaf", .via = mid});
  try {
    leaf.call(diag_thrower, "why");
    FAIL("no exception");
  } catch (const mitosis::call_error& e) {
    CHECK(e.context() == "bt.leaf");
    CHECK(e.remote_type() == "std::runtime_error");
    CHECK(e.remote_message() == "inner failure: why");
    INFO(e.remote_backtrace());
    // The throw site first, then its caller (under ASan its __cxa_throw
    // interceptor is one frame more, before them).
    auto bt = e.remote_backtrace();
    auto inner = bt.find(" diag_thrower_inner(");
    auto outer = bt.find(" diag_thrower(");
    CHECK(inner != std::string::npos);
    CHECK(outer != std::string::npos);
    CHECK(inner < outer);
    CHECK(bt.find("#1 ") < inner);
  }
  // Each call_error carries its own throw site, not an earlier one.
  try {
    leaf.call(fail_with, "plain");
    FAIL("no exception");
  } catch (const mitosis::call_error& e) {
    CHECK(e.remote_backtrace().find("fail_with(") != std::string::npos);
    CHECK(e.remote_backtrace().find("diag_thrower") == std::string::npos);
  }
}
