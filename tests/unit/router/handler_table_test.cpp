// Unit tests of the handler table (wire type -> the service that owns it)
// and of the options every context gets in its boot frame.
#include "mitosis/router/handler_table.hpp"
#include "mitosis/router/options.hpp"

#include <stdexcept>

#include <catch2/catch.hpp>

#include "../errc_string_maker.hpp"

using mitosis::router::handler_table;
using mitosis::serialization::frame;
using mitosis::serialization::to_u32;
using mitosis::serialization::wire_type;

TEST_CASE("handler_table: each wire type has at most one owner", "[handler_table]") {
  handler_table t;
  int calls = 0;
  CHECK(t.find(to_u32(wire_type::call_request)) == nullptr);
  t.add(wire_type::call_request,
        [&](frame&&, mitosis::policy::direction, mitosis::router::stream_id) { ++calls; });
  auto* h = t.find(to_u32(wire_type::call_request));
  REQUIRE(h != nullptr);
  (*h)(frame{}, mitosis::policy::direction::from_parent, 0);
  CHECK(calls == 1);
  CHECK_THROWS_AS(t.add(wire_type::call_request,
                        [](frame&&, mitosis::policy::direction, mitosis::router::stream_id) {}),
                  std::logic_error);
  // Unregistered and unknown ids have no handler.
  CHECK(t.find(to_u32(wire_type::log_record)) == nullptr);
  CHECK(t.find(0) == nullptr);
  CHECK(t.find(1u << 30) == nullptr);
}

TEST_CASE("options: every field but the name survives the boot frame", "[options]") {
  mitosis::router::options o;
  o.name = "not sent";
  o.pool_threads = 7;
  o.log_level = 4;
  o.connect_timeout = std::chrono::milliseconds{1234};
  o.request_timeout = std::chrono::milliseconds{567};
  o.max_frame = 4096;
  o.max_violations = 3;
  o.max_routes_per_child = 99;
  o.id_block = 50;
  o.shutdown_grace = std::chrono::milliseconds{250};
  o.heartbeat_interval = std::chrono::milliseconds{75};
  o.trace_frames = true;
  o.max_pending_requests = 9;
  o.max_pending_calls = 33;
  o.max_pending_actor_messages = 44;
  o.max_spawned_actors = 55;
  o.max_routes = 66;
  o.max_id_blocks = 77;
  o.max_pending_bytes = std::uint64_t{5} << 30;
  o.log_lines_per_second_per_child = 88;
  auto back = mitosis::router::decode_options(mitosis::router::encode(o));
  CHECK(back.name == "master");
  CHECK(back.pool_threads == 7);
  CHECK(back.log_level == 4);
  CHECK(back.connect_timeout.count() == 1234);
  CHECK(back.request_timeout.count() == 567);
  CHECK(back.max_frame == 4096);
  CHECK(back.max_violations == 3);
  CHECK(back.max_routes_per_child == 99);
  CHECK(back.id_block == 50);
  CHECK(back.shutdown_grace.count() == 250);
  CHECK(back.heartbeat_interval.count() == 75);
  CHECK(back.trace_frames);
  CHECK(back.max_pending_requests == 9);
  CHECK(back.max_pending_calls == 33);
  CHECK(back.max_pending_actor_messages == 44);
  CHECK(back.max_spawned_actors == 55);
  CHECK(back.max_routes == 66);
  CHECK(back.max_id_blocks == 77);
  CHECK(back.max_pending_bytes == std::uint64_t{5} << 30);
  CHECK(back.log_lines_per_second_per_child == 88);
}

TEST_CASE("options: a damaged boot frame is an error, an absurd pool is bounded",
          "[options]") {
  mitosis::router::options o;
  auto bytes = mitosis::router::encode(o);
  bytes.pop_back();
  CHECK_THROWS_AS(mitosis::router::decode_options(bytes),
                  mitosis::serialization::decode_error);
  o.pool_threads = 1u << 20;
  o.max_frame = 0;
  auto back = mitosis::router::decode_options(mitosis::router::encode(o));
  CHECK(back.pool_threads == 256);
  CHECK(back.max_frame == mitosis::serialization::default_max_frame_size);
  // Heartbeats: off stays off, a busy-loop interval is raised to 10 ms.
  o.heartbeat_interval = std::chrono::milliseconds{0};
  CHECK(mitosis::router::decode_options(mitosis::router::encode(o)).heartbeat_interval.count()
        == 0);
  o.heartbeat_interval = std::chrono::milliseconds{1};
  CHECK(mitosis::router::decode_options(mitosis::router::encode(o)).heartbeat_interval.count()
        == 10);
}
