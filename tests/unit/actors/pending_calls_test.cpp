// Unit tests of the table of calls in flight: who may answer, and losses.
#include "mitosis/actors/pending_calls.hpp"

#include <catch2/catch.hpp>
#include <chrono>
#include <future>
#include <set>

#include "mitosis/serialization/messages.hpp"

using mitosis::actors::pending_calls;
using mitosis::serialization::frame;
using mitosis::serialization::to_u32;
using mitosis::serialization::wire_type;

namespace {

frame reply_from(std::uint32_t src, wire_type t = wire_type::call_reply) {
  frame f;
  f.hdr.type = to_u32(t);
  f.hdr.src = src;
  return f;
}

} // namespace

TEST_CASE("pending_calls: only the called context may answer", "[pending_calls]") {
  pending_calls p;
  auto h = p.next_handle();
  CHECK(h != 0);
  auto fut = p.expect(h, 5);
  CHECK_FALSE(p.complete(h, reply_from(6)));
  CHECK_FALSE(p.complete(h, reply_from(6, wire_type::call_error)));
  CHECK(p.size() == 1);
  CHECK(p.complete(h, reply_from(5)));
  CHECK(fut.get().hdr.src == 5);
  CHECK(p.size() == 0);
  CHECK_FALSE(p.complete(h, reply_from(5)));
}

TEST_CASE("pending_calls: any hop may send the dead reply", "[pending_calls]") {
  pending_calls p;
  auto h = p.next_handle();
  auto fut = p.expect(h, 5);
  CHECK(p.complete(h, reply_from(2, wire_type::dead)));
  CHECK(fut.get().hdr.type == to_u32(wire_type::dead));
}

TEST_CASE("pending_calls: losing a context fails exactly its calls", "[pending_calls]") {
  pending_calls p;
  auto h1 = p.next_handle();
  auto h2 = p.next_handle();
  auto f1 = p.expect(h1, 5);
  auto f2 = p.expect(h2, 6);
  p.fail({5, 7}, "gone");
  auto r1 = f1.get();
  CHECK(r1.hdr.type == to_u32(wire_type::dead));
  mitosis::serialization::dead_info d;
  mitosis::serialization::decode_exact(r1.payload.data(), r1.payload.size(), d);
  CHECK(static_cast<mitosis::errc>(d.code) == mitosis::errc::context_lost);
  CHECK(d.reason == "gone");
  CHECK(p.size() == 1);
  p.forget(h2);
  CHECK(p.size() == 0);
}

TEST_CASE("pending_calls: on_done runs once the wait ends, however it ends", "[pending_calls]") {
  pending_calls p;
  int answered = 0, lost = 0, dropped = 0;
  auto h1 = p.next_handle();
  auto f1 = p.expect(h1, 5);
  CHECK(p.on_done(h1, [&] {
    // The future is ready when the hook runs.
    CHECK(f1.wait_for(std::chrono::seconds{0}) == std::future_status::ready);
    ++answered;
  }));
  CHECK_FALSE(p.complete(h1, reply_from(6))); // not from the context asked: still waits
  CHECK(answered == 0);
  CHECK(p.complete(h1, reply_from(5)));
  CHECK(answered == 1);
  // Nobody waits any more: the hook is refused (the caller runs it itself).
  CHECK_FALSE(p.on_done(h1, [&] { ++answered; }));
  CHECK(answered == 1);

  auto h2 = p.next_handle();
  auto f2 = p.expect(h2, 7);
  CHECK(p.on_done(h2, [&] { ++lost; }));
  p.fail({7}, "gone");
  CHECK(lost == 1);

  auto h3 = p.next_handle();
  auto f3 = p.expect(h3, 8);
  CHECK(p.on_done(h3, [&] { ++dropped; }));
  p.forget(h3);
  CHECK(dropped == 1);
  p.fail_all("stop"); // nothing left: no hook runs twice
  CHECK(answered + lost + dropped == 3);
}

TEST_CASE("pending_calls: reply handles are unique and cannot be counted", "[pending_calls]") {
  pending_calls p;
  std::set<std::uint32_t> seen;
  std::uint32_t prev = p.next_handle();
  int next_to_previous = 0;
  for (int i = 0; i < 1000; ++i) {
    auto h = p.next_handle();
    CHECK(h != 0);
    seen.insert(h);
    if (h == prev + 1 || h + 1 == prev)
      ++next_to_previous;
    prev = h;
  }
  CHECK(seen.size() == 1000);
  CHECK(next_to_previous == 0);
}
