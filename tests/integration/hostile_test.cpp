// Children that misbehave on purpose: a length over the limit, a frame that
// never completes, a flood of refused calls. The master must cut or ignore
// the offender and keep serving the others, with bounded memory.
#include <catch2/catch.hpp>

#include <fstream>
#include <string>
#include <unistd.h>

#include "captured_log.hpp"
#include "mitosis/mitosis.hpp"
#include "test_functions.hpp"

namespace {

long own_rss_kb() {
  std::ifstream f{"/proc/self/status"};
  std::string line;
  while (std::getline(f, line))
    if (line.rfind("VmRSS:", 0) == 0)
      return std::stol(line.substr(6));
  return -1;
}

void others_still_served(const mitosis::context& a, const mitosis::context& b) {
  for (int i = 0; i < 20; ++i) {
    CHECK(a.call(add, i, 1) == i + 1);
    CHECK(b.call(echo, "ok") == "ok");
  }
}

} // namespace

TEST_CASE("a frame length over the limit cuts the sender and nothing else") {
  captured_log log;
  mitosis::master m{0, nullptr, {.max_frame = 1 << 20}};
  auto bad = m.local({.name = "oversize"});
  auto a = m.local({.name = "calm1"});
  auto b = m.local({.name = "calm2"});
  bad.call_no_reply(send_header_only, 0xffffffffu, 0u);
  CHECK(log.wait_for("cut stream to 'oversize'", "frame payload larger than the configured maximum"));
  CHECK_THROWS_AS(bad.call(add, 1, 1), mitosis::context_lost);
  others_still_served(a, b);
}

TEST_CASE("a frame that never completes holds only its own stream") {
  mitosis::master m{0, nullptr};
  auto bad = m.local({.name = "stall"});
  auto a = m.local({.name = "calm1"});
  auto b = m.local({.name = "calm2"});
  auto before = own_rss_kb();
  // Announces 8 MiB, sends 1 KiB and stops: the rest never comes.
  bad.call_no_reply(send_header_only, 8u << 20, 1024u);
  others_still_served(a, b);
  // The master allocated the announced payload (bounded by max_frame) and
  // nothing more while waiting.
  CHECK(own_rss_kb() - before < 32 * 1024);
}

TEST_CASE("a flood of refused calls from a child is cut and bounded") {
  captured_log log;
  mitosis::master m{0, nullptr};
  auto bad = m.local({.name = "flooder"});
  auto a = m.local({.name = "calm1"});
  auto b = m.local({.name = "calm2"});
  auto before = own_rss_kb();
  auto f = bad.call_async(flood_calls, 20000);
  CHECK(log.wait_for("cut stream to 'flooder'", "policy violations"));
  CHECK_THROWS_AS(f.get(), mitosis::context_lost);
  others_still_served(a, b);
  CHECK(own_rss_kb() - before < 32 * 1024);
}

TEST_CASE("a flood of route announcements stops at the limit and cuts the child") {
  captured_log log;
  mitosis::master m{0, nullptr, {.max_routes_per_child = 100}};
  auto bad = m.local({.name = "route-flooder"});
  auto a = m.local({.name = "calm1"});
  auto b = m.local({.name = "calm2"});
  bad.call_no_reply(flood_routes, 50000u, 1000);
  CHECK(log.wait_for("route limit of 100 contexts behind one child reached",
                     "cut stream to 'route-flooder'"));
  CHECK_THROWS_AS(bad.call(add, 1, 1), mitosis::context_lost);
  others_still_served(a, b);
}

TEST_CASE("a decode bomb (a huge count in a small payload) allocates nothing and is refused") {
  captured_log log;
  mitosis::master m{0, nullptr};
  auto bad = m.local({.name = "bomber"});
  auto a = m.local({.name = "calm1"});
  auto b = m.local({.name = "calm2"});
  auto before = own_rss_kb();
  for (int i = 0; i < 5; ++i)
    CHECK(bad.call(send_count_bomb));
  CHECK(log.wait_for("undecodable log record from context", "collection count larger than"));
  others_still_served(a, b);
  CHECK(own_rss_kb() - before < 32 * 1024);
}
