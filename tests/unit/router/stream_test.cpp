// Unit tests of one stream's partial reads and writes: frames split and
// joined arbitrarily by the peer arrive whole and in order, a large frame
// waits in the queue for a slow peer, and bad framing closes the stream.
#include "mitosis/router/stream.hpp"

#include <fcntl.h>
#include <numeric>
#include <thread>

#include <catch2/catch.hpp>

#include "../errc_string_maker.hpp"
#include "socketpair_peer.hpp"

using Catch::Matchers::Contains;
using namespace mitosis::test;
using mitosis::errc;
namespace rt = mitosis::router;
using send_result = rt::stream::send_result;

namespace {

// A frame from the child to the master.
buffer from_child(std::string_view body) {
  return raw_frame(wire_type::call_reply, rt::master_id, child, body);
}

// `n` bytes of a pattern that shows misplaced or repeated chunks.
std::string pattern(std::size_t n, unsigned seed = 0) {
  std::string s(n, '\0');
  for (std::size_t i = 0; i < n; ++i)
    s[i] = static_cast<char>((i * 131 + i / 4093 + seed) & 0xff);
  return s;
}

// The bodies of every delivered frame, in order.
std::vector<std::string> bodies(const recording_delivery& out) {
  std::vector<std::string> v;
  for (auto& f : out.frames())
    v.push_back(f.body());
  return v;
}

// Writes `bytes` in pieces of the given sizes (the last one repeats),
// waiting after each piece until the router has read it.
void write_in_pieces(master_with_child& m, const buffer& bytes,
                     std::initializer_list<std::size_t> sizes) {
  std::size_t off = 0;
  auto size = sizes.begin();
  while (off < bytes.size()) {
    auto n = std::min(*size, bytes.size() - off);
    REQUIRE(m.peer.write(bytes.data() + off, n));
    REQUIRE(m.peer.router_drained());
    off += n;
    if (size + 1 != sizes.end())
      ++size;
  }
}

} // namespace

TEST_CASE("stream: a frame written one byte at a time is delivered whole", "[stream]") {
  master_with_child m{master_config(), true};
  const auto bytes = from_child("one byte at a time");
  for (std::size_t i = 0; i < bytes.size(); ++i) {
    REQUIRE(m.peer.write(bytes.data() + i, 1));
    REQUIRE(m.peer.router_drained());
    if (i + 1 < bytes.size())
      REQUIRE(m.out.frame_count() == 0);
  }
  REQUIRE(m.out.wait_frames(1));
  m.sync();
  CHECK(bodies(m.out) == std::vector<std::string>{"one byte at a time", "sync"});
  CHECK(m.out.frames()[0].f.hdr.src == child);
}

TEST_CASE("stream: a header split from its payload is delivered whole", "[stream]") {
  master_with_child m{master_config(), true};
  const auto bytes = from_child("the payload");
  SECTION("header, then payload") {
    write_in_pieces(m, bytes, {frame_header::size});
  }
  SECTION("half a header, the rest of it with half the payload, the rest") {
    write_in_pieces(m, bytes, {frame_header::size / 2, frame_header::size / 2 + 5});
  }
  REQUIRE(m.out.wait_frames(1));
  m.sync();
  CHECK(bodies(m.out) == std::vector<std::string>{"the payload", "sync"});
}

TEST_CASE("stream: frames joined in one write are delivered in order", "[stream]") {
  master_with_child m{master_config(), true};
  buffer bytes;
  for (auto body : {"first", "second", "third"}) {
    auto f = from_child(body);
    bytes.insert(bytes.end(), f.begin(), f.end());
  }
  SECTION("all in one write") {
    REQUIRE(m.peer.write(bytes));
  }
  SECTION("a frame and a half, then the rest") {
    write_in_pieces(m, bytes, {frame_header::size + 5 + frame_header::size + 3, 1000});
  }
  REQUIRE(m.out.wait_frames(3));
  m.sync();
  CHECK(bodies(m.out) == std::vector<std::string>{"first", "second", "third", "sync"});
}

TEST_CASE("stream: a frame larger than the read buffer, written in odd pieces, arrives intact",
          "[stream]") {
  master_with_child m{master_config(), true};
  const auto body = pattern(300 * 1024 + 7);
  const auto bytes = from_child(body);
  write_in_pieces(m, bytes, {frame_header::size - 3, 4099, 65536 + 11, 7001});
  REQUIRE(m.out.wait_frames(1));
  m.sync();
  auto frames = m.out.frames();
  REQUIRE(frames.size() == 2);
  CHECK(frames[0].f.hdr.length == body.size());
  CHECK(frames[0].body() == body);
  CHECK(frames[1].body() == "sync");
}

TEST_CASE("stream: the hello is read first, also when split, then the frames behind it",
          "[stream][hello]") {
  master_with_child m{master_config(), true, true};
  std::byte hello[mitosis::serialization::hello::size];
  encode(mitosis::serialization::local_hello(), hello);
  REQUIRE(m.peer.write(hello, 10));
  REQUIRE(m.peer.router_drained());
  CHECK(m.out.handshakes().empty());
  // The rest of the hello and a frame in one write.
  auto f = from_child("after hello");
  buffer rest(reinterpret_cast<const char*>(hello) + 10,
              reinterpret_cast<const char*>(hello) + sizeof(hello));
  rest.insert(rest.end(), f.begin(), f.end());
  REQUIRE(m.peer.write(rest));
  REQUIRE(m.out.wait_frames(1));
  auto hs = m.out.handshakes();
  REQUIRE(hs.size() == 1);
  CHECK(hs[0].s == m.sid);
  CHECK(hs[0].peer == child);
  CHECK(hs[0].error.empty());
  CHECK(m.out.frames()[0].body() == "after hello");
}

TEST_CASE("stream: a wrong hello is refused and closes the stream", "[stream][hello]") {
  master_with_child m{master_config(), false, true};
  std::byte hello[mitosis::serialization::hello::size];
  encode(mitosis::serialization::local_hello(), hello);
  hello[0] = std::byte{'X'};
  REQUIRE(m.peer.write(hello, sizeof(hello)));
  // May fail: the router can have closed its end already.
  (void)m.peer.write(from_child("never"));
  CHECK(m.peer.wait_eof());
  REQUIRE(m.out.wait_losses(1));
  auto hs = m.out.handshakes();
  REQUIRE_FALSE(hs.empty());
  for (auto& h : hs) {
    CHECK(h.s == m.sid);
    CHECK_FALSE(h.error.empty());
  }
  CHECK(m.out.lost_ids() == std::vector<context_id>{child});
  CHECK(m.out.frame_count() == 0);
}

TEST_CASE("stream: bad framing is a violation that closes the stream", "[stream]") {
  auto cfg = master_config();
  cfg.max_frame = 1024;
  master_with_child m{cfg};
  SECTION("a frame longer than max_frame") {
    REQUIRE(m.peer.write(from_child(std::string(1025, 'x'))));
  }
  SECTION("a header without the magic") {
    auto bytes = from_child("x");
    bytes[0] = 'Z';
    REQUIRE(m.peer.write(bytes));
  }
  CHECK(m.peer.wait_eof());
  REQUIRE(m.out.wait_losses(1));
  CHECK(m.out.lost_ids() == std::vector<context_id>{child});
  CHECK_THAT(m.out.losses()[0].reason, Contains("malformed frame"));
  CHECK(m.out.frame_count() == 0);
  CHECK(m.r.child_streams().empty());
}

TEST_CASE("stream: a frame of max_frame bytes exactly is accepted", "[stream]") {
  auto cfg = master_config();
  cfg.max_frame = 1024;
  master_with_child m{cfg};
  m.write_reply(std::string(1024, 'x'));
  REQUIRE(m.out.wait_frames(1));
  CHECK(m.out.frames()[0].f.payload.size() == 1024);
}

TEST_CASE("stream: a large frame the router sends waits for a slow peer and arrives whole",
          "[stream][send]") {
  master_with_child m;
  const auto body = pattern(6 * 1024 * 1024, 1);
  const auto t0 = steady::now();
  REQUIRE(m.r.send(child, raw_frame(wire_type::call_request, child, 0, body, 1)) == errc::none);
  REQUIRE(m.r.send(child, raw_frame(wire_type::call_request, child, 0, "small", 2))
          == errc::none);
  CHECK(steady::now() - t0 < 1s); // queued, not written while we wait

  // Read slowly: 64 KiB pieces with a pause every 1 MiB.
  buffer got;
  const auto until = steady::now() + 5s;
  std::size_t since_pause = 0;
  const std::size_t want = 2 * frame_header::size + body.size() + 5;
  while (got.size() < want) {
    char piece[64 * 1024];
    auto n = m.peer.read_some(piece, std::min(sizeof(piece), want - got.size()), until);
    REQUIRE(n > 0);
    got.insert(got.end(), piece, piece + n);
    if ((since_pause += n) >= 1024 * 1024) {
      since_pause = 0;
      std::this_thread::sleep_for(2ms);
    }
  }
  auto h1 = mitosis::serialization::decode_header(reinterpret_cast<const std::byte*>(got.data()));
  CHECK(h1.length == body.size());
  CHECK(h1.reply_to == 1);
  CHECK(std::string(got.data() + frame_header::size, body.size()) == body);
  auto* second = got.data() + frame_header::size + body.size();
  auto h2 = mitosis::serialization::decode_header(reinterpret_cast<const std::byte*>(second));
  CHECK(h2.reply_to == 2);
  CHECK(std::string(second + frame_header::size, 5) == "small");
}

namespace {

// A stream outside any router over a socketpair, its end non-blocking as
// the router makes it.
struct bare_stream {
  bare_stream() : bare_stream(child_options(child)) {}
  explicit bare_stream(rt::stream_options o)
    : s{3, nonblocking(peer.take_router_end()), rt::unique_fd{}, std::move(o)} {}
  static rt::unique_fd nonblocking(rt::unique_fd fd) {
    ::fcntl(fd.get(), F_SETFL, ::fcntl(fd.get(), F_GETFL) | O_NONBLOCK);
    return fd;
  }
  // Reads `n` bytes on another thread while this one flushes the queue.
  buffer drain(std::size_t n) {
    buffer got(n);
    bool ok = false;
    std::thread reader{[&] { ok = peer.read_exact(got.data(), n, steady::now() + 5s); }};
    const auto until = steady::now() + 5s;
    while (!s.flush() && steady::now() < until) {
      pollfd pfd{s.write_fd(), POLLOUT, 0};
      ::poll(&pfd, 1, 10);
    }
    reader.join();
    REQUIRE(ok);
    return got;
  }
  socketpair_peer peer;
  rt::stream s;
};

} // namespace

TEST_CASE("stream: send queues what the peer cannot take and flush writes it in order",
          "[stream][send]") {
  bare_stream b;
  const auto big = raw_frame(wire_type::call_request, child, 0, pattern(4 * 1024 * 1024, 2), 1);
  const auto small = raw_frame(wire_type::call_request, child, 0, "small", 2);
  CHECK(b.s.send(buffer{small}) == send_result::sent);
  CHECK(b.s.send(buffer{big}) == send_result::queued_first);
  CHECK(b.s.send(buffer{small}) == send_result::queued);
  auto got = b.drain(small.size() + big.size() + small.size());
  buffer want = small;
  want.insert(want.end(), big.begin(), big.end());
  want.insert(want.end(), small.begin(), small.end());
  CHECK(got == want);
  CHECK(b.s.flush());
  CHECK(b.s.send(buffer{small}) == send_result::sent);
}

TEST_CASE("stream: a frame sent while more than max_queued bytes wait is refused",
          "[stream][send]") {
  auto o = child_options(child);
  o.max_queued = 1 << 20;
  bare_stream b{o};
  const auto big = raw_frame(wire_type::call_request, child, 0, pattern(4 * 1024 * 1024, 4), 1);
  const auto small = raw_frame(wire_type::call_request, child, 0, "small", 2);
  CHECK(b.s.send(buffer{small}) == send_result::sent);
  // One frame always fits, however large; the next one finds the queue full.
  CHECK(b.s.send(buffer{big}) == send_result::queued_first);
  // What is left to write: the socket took the first part of the frame.
  const auto left = b.s.queued_bytes();
  CHECK(left > 0);
  CHECK(left < big.size());
  CHECK(b.s.send(buffer{small}) == send_result::overflow);
  CHECK(b.s.queued_bytes() == left);
  auto got = b.drain(small.size() + big.size());
  CHECK(got.size() == small.size() + big.size());
  CHECK(b.s.flush());
  CHECK(b.s.queued_bytes() == 0);
  CHECK(b.s.send(buffer{small}) == send_result::sent);
}

TEST_CASE("stream: a borrowed blob that has to wait is copied before send returns",
          "[stream][send]") {
  bare_stream b;
  auto blob = pattern(4 * 1024 * 1024, 3);
  const auto original = blob;
  mitosis::serialization::frame_builder fb{
    mitosis::serialization::make_header(wire_type::call_request, child, 0, 0, 1)};
  fb.add_raw("name", 4).set_blob(blob.data(), blob.size());
  auto wire = fb.finish_outgoing();
  REQUIRE(wire.blob == blob.data());
  const auto size = wire.size();
  const auto t0 = steady::now();
  CHECK(b.s.send(std::move(wire)) == send_result::queued_first);
  CHECK(steady::now() - t0 < 1s); // a bounded wait, not until the peer drains
  std::fill(blob.begin(), blob.end(), 'Z'); // the caller reuses its memory
  auto got = b.drain(size);
  REQUIRE(got.size() == size);
  CHECK(std::string(got.data() + frame_header::size, original.size()) == original);
  CHECK(std::string(got.data() + frame_header::size + original.size(), 4) == "name");
}

TEST_CASE("stream: a closed stream, or one whose peer is gone, refuses to send",
          "[stream][send]") {
  bare_stream b;
  const auto small = raw_frame(wire_type::call_request, child, 0, "small", 1);
  SECTION("closed") {
    b.s.close();
  }
  SECTION("peer gone") {
    b.peer = socketpair_peer{};
  }
  CHECK(b.s.send(buffer{small}) == send_result::closed);
}

TEST_CASE("stream: a child over two pipes: frames both ways, and its closing its input is "
          "noticed after what it wrote",
          "[stream][pipes]") {
  master_with_child m{master_config(), socketpair_peer{socketpair_peer::pipes}};
  m.write_reply("in");
  REQUIRE(m.out.wait_frames(1));
  REQUIRE(m.r.send(child, raw_frame(wire_type::call_request, child, 0, "out", 1)) == errc::none);
  auto f = m.peer.read_frame();
  REQUIRE(f);
  CHECK(f->hdr.reply_to == 1);

  m.write_reply("last words");
  m.peer.close_input();
  REQUIRE(m.out.wait_losses(1));
  CHECK_THAT(m.out.losses()[0].reason, Contains("peer closed its input"));
  CHECK(m.out.lost_ids() == std::vector<context_id>{child});
  CHECK(bodies(m.out) == std::vector<std::string>{"in", "last words"});
}

TEST_CASE("stream: frames sent from several threads at once arrive whole and in order per "
          "thread",
          "[stream][send]") {
  master_with_child m;
  constexpr int threads = 4;
  constexpr int per_thread = 40;
  // Sizes from a few bytes to several times the socket buffer; every third
  // frame with a borrowed blob.
  auto size_of = [](int t, int i) -> std::size_t { return 3 + ((t * 7919 + i * 104729) % 400000); };
  auto body_of = [&](int t, int i) { return pattern(size_of(t, i), t * 1000 + i); };
  std::vector<std::thread> senders;
  std::atomic<int> failures{0};
  for (int t = 0; t < threads; ++t)
    senders.emplace_back([&, t] {
      for (int i = 0; i < per_thread; ++i) {
        auto body = body_of(t, i);
        auto tag = static_cast<std::uint32_t>(t * 1000 + i + 1);
        mitosis::serialization::frame_builder fb{
          mitosis::serialization::make_header(wire_type::call_request, child, 0, 0, tag)};
        if (i % 3 == 0)
          fb.set_blob(body.data(), body.size());
        else
          fb.add_raw(body.data(), body.size());
        if (m.r.send(child, fb.finish_outgoing()) != errc::none)
          ++failures;
      }
    });
  std::vector<int> next(threads, 0);
  int bad = 0;
  for (int n = 0; n < threads * per_thread; ++n) {
    auto f = m.peer.read_frame(5s);
    REQUIRE(f);
    const int t = static_cast<int>(f->hdr.reply_to - 1) / 1000;
    const int i = static_cast<int>(f->hdr.reply_to - 1) % 1000;
    REQUIRE(t < threads);
    if (i != next[t]++)
      ++bad;
    auto body = body_of(t, i);
    // A blob frame carries the blob first and its u64 length last.
    std::string got(f->payload.data(), f->payload.size());
    if (i % 3 == 0)
      got.resize(got.size() - sizeof(std::uint64_t));
    if (got != body)
      ++bad;
  }
  for (auto& s : senders)
    s.join();
  CHECK(failures == 0);
  CHECK(bad == 0);
}
