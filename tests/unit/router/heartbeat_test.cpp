// Unit tests of the router's heartbeat timer over socketpairs: the test
// plays the neighbour (silent, heartbeating, busy, before its hello) and
// watches what the router writes and when it declares the stream lost.
#include "mitosis/router/router.hpp"

#include <catch2/catch.hpp>

#include "socketpair_peer.hpp"

using Catch::Matchers::Contains;
using namespace mitosis::test;
namespace rt = mitosis::router;

namespace {

// Long enough that a test thread descheduled on a loaded 2-core machine
// under ThreadSanitizer (a stall of 300 ms was seen in CI with 100 ms) does
// not look like a silent peer: the silence limit is 3 intervals.
constexpr auto interval = 200ms;

test_config with_heartbeats(test_config c, std::chrono::milliseconds every = interval) {
  c.heartbeat_interval = every;
  return c;
}

bool is_heartbeat(const frame& f) {
  return f.hdr.type == mitosis::serialization::to_u32(wire_type::heartbeat);
}

// Reads frames for `span`, answering nothing; returns them.
std::vector<frame> read_for(socketpair_peer& p, std::chrono::milliseconds span) {
  std::vector<frame> out;
  const auto end = steady::now() + span;
  while (steady::now() < end) {
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(end - steady::now());
    if (auto f = p.read_frame(std::max(left, 1ms)))
      out.push_back(std::move(*f));
  }
  return out;
}

} // namespace

TEST_CASE("heartbeat: a silent child is lost after 3 intervals, with what is behind it",
          "[heartbeat]") {
  master_with_child m{with_heartbeats(master_config())};
  REQUIRE(m.peer.write(route_frame(true, rt::master_id, child, 100)));
  m.sync();
  const auto t0 = steady::now();
  REQUIRE(m.out.wait_losses(1));
  const auto took = steady::now() - t0;
  // Never before 3 intervals of silence, at most half an interval more
  // (plus scheduling slack on a loaded machine).
  CHECK(took >= 3 * interval - 5ms);
  CHECK(took < 3 * interval + 500ms);
  CHECK(m.out.lost_ids() == std::vector<context_id>{child, 100});
  CHECK_THAT(m.out.losses()[0].reason, Contains("heartbeat"));
  // The router closed its end; nothing was delivered for the heartbeats.
  CHECK(m.peer.wait_eof());
  for (auto& f : m.out.frames())
    CHECK(f.f.hdr.type == mitosis::serialization::to_u32(wire_type::call_reply));
}

TEST_CASE("heartbeat: an idle stream gets heartbeats, and a peer that sends them stays",
          "[heartbeat]") {
  master_with_child m{with_heartbeats(master_config())};
  // The peer heartbeats back every interval for 10 intervals.
  std::vector<frame> seen;
  for (int i = 0; i < 10; ++i) {
    REQUIRE(m.peer.write(raw_frame(wire_type::heartbeat, rt::master_id, child, "")));
    auto got = read_for(m.peer, interval);
    seen.insert(seen.end(), got.begin(), got.end());
  }
  CHECK(m.out.losses().empty());
  CHECK(m.out.frame_count() == 0); // heartbeats never reach a handler
  // About one per interval, each one hop: to the child, from the master.
  CHECK(seen.size() >= 5);
  CHECK(seen.size() <= 12);
  for (auto& f : seen) {
    CHECK(is_heartbeat(f));
    CHECK(f.hdr.dst == child);
    CHECK(f.hdr.src == rt::master_id);
    CHECK(f.hdr.length == 0);
  }
}

TEST_CASE("heartbeat: any frame counts as life, and traffic going out replaces heartbeats",
          "[heartbeat]") {
  master_with_child m{with_heartbeats(master_config())};
  // The child writes a reply every half interval for 10 intervals: never
  // silent. The master answers none of it, so it still heartbeats.
  int heartbeats = 0;
  for (int i = 0; i < 20; ++i) {
    m.write_reply("busy");
    for (auto& f : read_for(m.peer, interval / 2))
      heartbeats += is_heartbeat(f) ? 1 : 0;
  }
  CHECK(m.out.losses().empty());
  CHECK(heartbeats >= 5);
  // Traffic from the master (dead replies to requests the child sends
  // every 20 ms) leaves no room for a heartbeat: 5 intervals idle would
  // see about 5; one may slip into a gap when this thread is descheduled.
  int other = 0;
  heartbeats = 0;
  for (int i = 0; i < 50; ++i) {
    REQUIRE(m.peer.write(raw_frame(wire_type::call_request, 77, child, "x", 5)));
    for (auto& f : read_for(m.peer, 20ms))
      (is_heartbeat(f) ? heartbeats : other) += 1;
  }
  CHECK(m.out.losses().empty());
  CHECK(other >= 40);
  CHECK(heartbeats <= 1);
}

TEST_CASE("heartbeat: a silent parent is a lost parent", "[heartbeat]") {
  recording_delivery out;
  test_router r{with_heartbeats(agent_config(5)), out};
  socketpair_peer parent;
  attach(r, parent, parent_options(rt::master_id));
  r.start();
  // It heartbeats to its parent first ...
  auto f = parent.read_frame();
  REQUIRE(f);
  CHECK(is_heartbeat(*f));
  CHECK(f->hdr.dst == rt::master_id);
  CHECK(f->hdr.src == 5);
  // ... and gives up on it after 3 silent intervals.
  REQUIRE(eventually([&] { return !out.parent_losses().empty(); }));
  CHECK_THAT(out.parent_losses()[0], Contains("heartbeat"));
  r.stop();
}

TEST_CASE("heartbeat: none before the hello, and the silence counts from it", "[heartbeat]") {
  master_with_child m{with_heartbeats(master_config()), false, /*expect_hello=*/true};
  // A slow bootstrap: 10 intervals without a hello cost nothing.
  CHECK_FALSE(m.peer.read_frame(10 * interval));
  CHECK(m.out.losses().empty());
  CHECK(m.out.handshakes().empty());
  REQUIRE(m.peer.write_hello());
  REQUIRE(m.out.wait_handshakes(1));
  CHECK(m.out.handshakes()[0].error.empty());
  auto f = m.peer.read_frame();
  REQUIRE(f);
  CHECK(is_heartbeat(*f));
  REQUIRE(m.out.wait_losses(1));
  CHECK(m.out.lost_ids() == std::vector<context_id>{child});
}

TEST_CASE("heartbeat: an interval of 0 sends none and leaves a silent peer alone",
          "[heartbeat]") {
  master_with_child m{with_heartbeats(master_config(), 0ms)};
  CHECK_FALSE(m.peer.read_frame(10 * interval));
  CHECK(m.out.losses().empty());
  m.sync(); // still served
}

TEST_CASE("heartbeat: a thread parked on the stream does not hide it from the timer",
          "[heartbeat]") {
  // A caller parked on the stream (a long call) reads the peer's
  // heartbeats itself: the stream stays. Once the peer falls silent, the
  // timer drops the stream under the parked caller.
  master_with_child m{with_heartbeats(master_config())};
  std::atomic<bool> stop{false};
  std::thread parked{[&] {
    while (!stop.load())
      m.r.read_until(m.sid, [&] { return stop.load(); }, -1, steady::now() + 50ms);
  }};
  for (int i = 0; i < 10; ++i) {
    REQUIRE(m.peer.write(raw_frame(wire_type::heartbeat, rt::master_id, child, "")));
    read_for(m.peer, interval);
  }
  CHECK(m.out.losses().empty());
  CHECK(m.out.wait_losses(1));
  stop = true;
  parked.join();
}

TEST_CASE("heartbeat: one hop only - never forwarded, never a violation, never delivered",
          "[heartbeat]") {
  // Heartbeats off here: whatever the second child reads came from the first.
  auto c = master_config();
  c.max_violations = 2;
  master_with_child m{c};
  socketpair_peer other;
  attach(m.r, other, child_options(8));
  // To a sibling (routing it would be a violation), to nobody, with a
  // payload: all dropped on arrival, however many.
  for (int i = 0; i < 5; ++i) {
    REQUIRE(m.peer.write(raw_frame(wire_type::heartbeat, 8, child, "")));
    REQUIRE(m.peer.write(raw_frame(wire_type::heartbeat, 77, child, "junk", 3)));
  }
  m.sync();
  CHECK(m.out.frame_count() == 1); // the sync only
  CHECK(m.out.losses().empty());
  CHECK_FALSE(other.read_frame(100ms));
  CHECK_FALSE(m.peer.read_frame(10ms)); // no dead reply either
}
