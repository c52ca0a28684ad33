// The router's side of its actor face, without processes or actors: the
// events its hook receives (route added and lost, violations, stream
// losses) and the counters read on request.
#include "mitosis/router/router.hpp"

#include <mutex>

#include <catch2/catch.hpp>

#include "../errc_string_maker.hpp"
#include "socketpair_peer.hpp"

using Catch::Matchers::Contains;
using namespace mitosis::test;
namespace rt = mitosis::router;

namespace {

// Records what the router's event hook is given.
struct event_log {
  mutable std::mutex mtx;
  std::vector<rt::route_event> events;

  void hook(rt::router& r) {
    r.set_event_hook([this](rt::route_event&& e) {
      std::lock_guard<std::mutex> guard{mtx};
      events.push_back(std::move(e));
    });
  }
  std::vector<rt::route_event> of(rt::event_kind k) const {
    std::lock_guard<std::mutex> guard{mtx};
    std::vector<rt::route_event> out;
    for (auto& e : events)
      if (e.what() == k)
        out.push_back(e);
    return out;
  }
  bool wait(rt::event_kind k, std::size_t n) const {
    return eventually([&] { return of(k).size() >= n; });
  }
};

} // namespace

TEST_CASE("router events: route_add, route_del, a violation and the stream's loss reach the "
          "hook, and the counters follow the frames",
          "[router][events]") {
  master_with_child m;
  event_log log;
  log.hook(m.r);
  auto before = m.r.stats();
  REQUIRE(m.peer.write(route_frame(true, 0, child, 100)));
  REQUIRE(log.wait(rt::event_kind::route_added, 1));
  auto added = log.of(rt::event_kind::route_added)[0];
  CHECK(added.id == 100);
  CHECK(added.stream == m.sid);

  REQUIRE(m.peer.write(route_frame(false, 0, child, 100)));
  REQUIRE(log.wait(rt::event_kind::route_lost, 1));
  CHECK_THAT(log.of(rt::event_kind::route_lost)[0].reason, Contains("reported by context 6"));

  // A forged source: a violation, counted on the router and the stream.
  REQUIRE(m.peer.write(raw_frame(wire_type::call_reply, 0, 42, "forged")));
  REQUIRE(log.wait(rt::event_kind::violation, 1));
  CHECK(log.of(rt::event_kind::violation)[0].id == 42);
  m.sync();
  auto st = m.r.stats();
  CHECK(st.violations == before.violations + 1);
  CHECK(st.frames_in == before.frames_in + 4);
  CHECK(st.bytes_in > before.bytes_in);
  CHECK(st.routes == 1); // the child itself
  auto c = m.r.connection(m.sid);
  REQUIRE(c);
  CHECK(c->peer == child);
  CHECK(c->frames_in == 4);
  CHECK(c->violations == 1);
  CHECK(c->open);
  auto routes = m.r.routes();
  REQUIRE(routes.size() == 1);
  CHECK(routes[0].id == child);
  CHECK(routes[0].direct);

  { auto gone = m.peer.take_own_end(); } // the child's end closes
  REQUIRE(log.wait(rt::event_kind::stream_lost, 1));
  auto lost = log.of(rt::event_kind::stream_lost)[0];
  CHECK(lost.stream == m.sid);
  CHECK(lost.id == child);
  REQUIRE(log.wait(rt::event_kind::route_lost, 2));
  CHECK(log.of(rt::event_kind::route_lost)[1].id == child);
  CHECK_FALSE(m.r.connection(m.sid));

  // An empty hook stops the events.
  m.r.set_event_hook({});
}

TEST_CASE("router events: frames sent on a stream are counted out", "[router][events]") {
  master_with_child m;
  auto before = m.r.connection(m.sid);
  REQUIRE(before);
  for (int i = 0; i < 3; ++i)
    CHECK(m.r.send(child, raw_frame(wire_type::call_reply, child, 0, "out")) == mitosis::errc::none);
  auto after = m.r.connection(m.sid);
  REQUIRE(after);
  CHECK(after->frames_out == before->frames_out + 3);
  CHECK(after->bytes_out == before->bytes_out + 3 * (mitosis::serialization::frame_header::size + 3));
}
