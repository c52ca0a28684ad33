// Bounds over all of a hop's children together, and in bytes
// (docs/security.md §2, "Bounds"): each per-child bound of bounds_test.cpp
// leaves the total to the number of children, or counts frames of any
// size. Each test has real children go over one of these and checks that
// the master refuses or cuts, that its memory stays flat and that the
// siblings keep being served.
#include <catch2/catch.hpp>

#include <chrono>
#include <regex>
#include <string>
#include <thread>
#include <vector>

#include "../sanitized.hpp"
#include "captured_log.hpp"
#include "flood_functions.hpp"
#include "hostile_scene.hpp"

using namespace std::chrono_literals;

TEST_CASE("route announcements over max_routes in total are dropped, a child that keeps on is cut") {
  captured_log log;
  // Its own limit (65,536) is far off: the total is what stops it.
  offender_and_siblings s{"route-total", {.max_routes = 50}};
  auto before = own_rss_kb();
  // The table takes the three children and 47 of these; the other 13 are
  // dropped, each a refusal, not a violation: the child is still served.
  CHECK(s.bad.call(flood_granted_routes, 60) == 60);
  CHECK(s.bad.call(add, 1, 1) == 2);
  s.bad.call_no_reply(flood_granted_routes, 1000);
  CHECK(log.wait_for("route limit of 50 contexts in total reached (max_routes)",
                     "cut stream to 'route-total'"));
  CHECK_THROWS_AS(s.bad.call(add, 1, 1), mitosis::context_lost);
  s.others_still_served();
  // Its routes went with it: there is room for a new child again.
  auto fresh = s.m.local({.name = "fresh"});
  CHECK(fresh.call(add, 2, 2) == 4);
  CHECK(own_rss_kb() - before < flood_rss_slack_kb);
}

TEST_CASE("id blocks over max_id_blocks in total are refused, the master keeps its own ids") {
  captured_log log;
  offender_and_siblings s{"id-total", {.max_id_blocks_per_child = 50, .max_id_blocks = 20}};
  auto before = own_rss_kb();
  // 20 blocks, then refusals; once over max_refusals a window, violations.
  auto flood = s.bad.call_async(flood_id_requests, 100000);
  s.cut_for(log, flood, "the 20 id blocks for all children are granted (max_id_blocks)");
  // Not its own limit: that one was never reached.
  CHECK(log.now().find("max_id_blocks_per_child") == std::string::npos);
  // A child can no longer get a block for its own children, and says why...
  try {
    s.m.local({.name = "calm1.child", .via = s.calm1});
    FAIL("a start through calm1 got an id block");
  } catch (const mitosis::error& e) {
    CHECK_THAT(e.what(), Catch::Contains("max_id_blocks"));
  }
  // ... but the master's own starts draw on the rest of the id space.
  auto direct = s.m.local({.name = "direct"});
  CHECK(direct.call(add, 3, 4) == 7);
  s.others_still_served();
  CHECK(own_rss_kb() - before < flood_rss_slack_kb);
}

TEST_CASE("log lines of all contexts behind one child stream share its rate") {
  captured_log log;
  // Each context alone may log its burst of 2,000 at once; together, the
  // three behind the child 'logger' get 200 and then 100 a second.
  offender_and_siblings s{"logger", {.log_lines_per_second = 1000,
                                     .log_burst = 2000,
                                     .log_lines_per_second_per_child = 100}};
  std::vector<mitosis::context> below;
  for (int i = 0; i < 3; ++i)
    below.push_back(s.m.local({.name = "logger." + std::to_string(i), .via = s.bad}));
  const auto started = std::chrono::steady_clock::now();
  std::vector<mitosis::future<int>> floods;
  for (auto& c : below)
    floods.push_back(c.call_async(flood_log_lines, 2000));
  s.others_still_served();
  for (auto& f : floods)
    CHECK(f.get() == 2000);
  static const std::regex report{R"(dropped (\d+) log lines from context \d+ \('logger\.\d'\))"};
  // Drops are reported with a later line that passes, once a second at
  // most: log more from each until every flood line is accounted for.
  std::size_t passed = 0, dropped = 0, after = 0;
  const auto deadline = std::chrono::steady_clock::now() + 6s;
  while (log.tally_flood(report, passed, dropped) < 6000 && std::chrono::steady_clock::now() < deadline) {
    for (auto& c : below)
      c.call(log_line, std::string{"after the flood"});
    after += 3;
    std::this_thread::sleep_for(100ms);
  }
  const auto elapsed = std::chrono::duration<double>(std::chrono::steady_clock::now() - started);
  INFO("passed " << passed << ", dropped " << dropped << " in " << elapsed.count() << " s");
  CHECK(passed + dropped >= 6000); // nothing lost silently
  CHECK(passed + dropped <= 6000 + after);
  // The stream's burst and rate, not three contexts' (6,000 at once).
  CHECK(passed <= 200 + static_cast<std::size_t>(100 * elapsed.count()) + 20);
  s.others_still_served();
}

TEST_CASE("calls from a child are held to max_pending_bytes, then it is cut") {
  captured_log log;
  // 1 MiB of call arguments held here at once, whatever their number (at
  // least one max_frame: 1 MiB here). Refusals over 20 a second cut.
  offender_and_siblings s{"bytes-flooder", {.max_frame = 1u << 20,
                                            .max_refusals = 20,
                                            .max_pending_bytes = std::uint64_t{1} << 20}};
  auto rules = mitosis::policy::rules::defaults();
  rules.child_callable = {"sleep_holding"};
  s.m.set_policy(rules);
  auto before = own_rss_kb();
  // 500 calls of 128 KiB each, far under max_pending_calls (1,024):
  // without the byte bound they would all wait here, 64 MiB.
  auto flood = s.bad.call_async(flood_big_calls, 128, 300, 500);
  s.cut_for(log, flood,
            "bytes of calls, actor messages and requests from this stream held here "
            "(max_pending_bytes)");
  CHECK(own_rss_kb() - before < flood_rss_slack_kb);
}
