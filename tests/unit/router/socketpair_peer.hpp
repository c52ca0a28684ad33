// Test support for the data plane without processes: a router::delivery
// that records what the router hands out, and the far end of a socketpair
// played by the test (raw frames in, frames out).
#pragma once

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <condition_variable>
#include <csignal>
#include <cstring>
#include <functional>
#include <mutex>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include <fcntl.h>
#include <poll.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <catch2/catch.hpp>

#include "mitosis/router/router.hpp"
#include "mitosis/serialization/frame.hpp"
#include "mitosis/serialization/handshake.hpp"
#include "mitosis/serialization/messages.hpp"

namespace mitosis::test {

using namespace std::chrono_literals;
using steady = std::chrono::steady_clock;
using router::context_id;
using router::stream_id;
using serialization::buffer;
using serialization::frame;
using serialization::frame_header;
using serialization::wire_type;

/// How long a test waits for something that should happen at once: long
/// enough for a loaded 2-core machine, never reached when all is well.
inline constexpr std::chrono::milliseconds patience{2000};

/// Polls `pred` every 200 us until it holds or `timeout` passes; returns
/// its last value.
template <class Pred>
bool eventually(Pred&& pred, std::chrono::milliseconds timeout = patience) {
  const auto end = steady::now() + timeout;
  for (;;) {
    if (pred())
      return true;
    if (steady::now() >= end)
      return pred();
    std::this_thread::sleep_for(200us);
  }
}

/// One frame the router delivered, and the thread that delivered it.
struct delivered_frame {
  frame f;
  policy::direction dir;
  stream_id from;
  std::thread::id thread;

  std::string body() const {
    return {f.payload.data(), f.payload.size()};
  }
};

struct loss_event {
  std::vector<context_id> ids;
  std::string reason;
};

struct handshake_event {
  stream_id s;
  context_id peer;
  std::string error;
};

/// Records everything the router reports; every accessor is thread-safe.
class recording_delivery : public router::delivery {
public:
  /// Called (on the delivering thread) after a frame is recorded; set it
  /// before the router starts.
  std::function<void(const delivered_frame&)> on_deliver;

  /// Registers a handler for every wire type on `r` that records the frame
  /// (what the services of a process do for the types they own).
  void record_on(router::router& r) {
    for (std::uint32_t t = 1; t <= serialization::type_registry::max_id(); ++t) {
      auto type = static_cast<wire_type>(t);
      if (type == wire_type::route_add || type == wire_type::route_del)
        continue; // the router handles these itself
      r.handlers().add(type, [this](frame&& f, policy::direction d, stream_id from) {
        deliver(std::move(f), d, from);
      });
    }
  }

  void deliver(frame&& f, policy::direction d, stream_id from) {
    delivered_frame rec{std::move(f), d, from, std::this_thread::get_id()};
    if (on_deliver)
      on_deliver(rec);
    record([&] { frames_.push_back(std::move(rec)); });
  }
  void lost(const std::vector<context_id>& ids, const std::string& reason) override {
    record([&] { losses_.push_back({ids, reason}); });
  }
  void parent_lost(const std::string& reason) override {
    record([&] { parent_losses_.push_back(reason); });
  }
  void handshake_done(stream_id s, context_id peer, const std::string& error) override {
    record([&] { handshakes_.push_back({s, peer, error}); });
  }

  std::vector<delivered_frame> frames() const {
    std::lock_guard<std::mutex> guard{mtx_};
    return frames_;
  }
  std::vector<loss_event> losses() const {
    std::lock_guard<std::mutex> guard{mtx_};
    return losses_;
  }
  std::vector<std::string> parent_losses() const {
    std::lock_guard<std::mutex> guard{mtx_};
    return parent_losses_;
  }
  std::vector<handshake_event> handshakes() const {
    std::lock_guard<std::mutex> guard{mtx_};
    return handshakes_;
  }
  std::size_t frame_count() const {
    std::lock_guard<std::mutex> guard{mtx_};
    return frames_.size();
  }

  /// Waits until at least `n` frames were delivered.
  bool wait_frames(std::size_t n, std::chrono::milliseconds timeout = patience) const {
    return wait(timeout, [&] { return frames_.size() >= n; });
  }
  /// Waits until at least `n` losses were reported.
  bool wait_losses(std::size_t n, std::chrono::milliseconds timeout = patience) const {
    return wait(timeout, [&] { return losses_.size() >= n; });
  }
  /// Waits until at least `n` handshakes were reported.
  bool wait_handshakes(std::size_t n, std::chrono::milliseconds timeout = patience) const {
    return wait(timeout, [&] { return handshakes_.size() >= n; });
  }

  /// Returns every context id reported lost, sorted.
  std::vector<context_id> lost_ids() const {
    std::vector<context_id> out;
    for (auto& l : losses())
      out.insert(out.end(), l.ids.begin(), l.ids.end());
    std::sort(out.begin(), out.end());
    return out;
  }

private:
  template <class F>
  void record(F&& f) {
    {
      std::lock_guard<std::mutex> guard{mtx_};
      f();
    }
    cv_.notify_all();
  }
  template <class Pred>
  bool wait(std::chrono::milliseconds timeout, Pred pred) const {
    std::unique_lock<std::mutex> guard{mtx_};
    return cv_.wait_for(guard, timeout, pred);
  }

  mutable std::mutex mtx_;
  mutable std::condition_variable cv_;
  std::vector<delivered_frame> frames_;
  std::vector<loss_event> losses_;
  std::vector<std::string> parent_losses_;
  std::vector<handshake_event> handshakes_;
};

/// Wire bytes of a frame of type `t` whose payload is `body` as is.
inline buffer raw_frame(wire_type t, context_id dst, context_id src, std::string_view body,
                        std::uint32_t reply_to = 0) {
  return serialization::frame_builder{serialization::make_header(t, dst, src, 0, reply_to)}
    .add_raw(body.data(), body.size())
    .finish();
}

/// Wire bytes of a route_add (add) or route_del frame announcing `id`.
inline buffer route_frame(bool add, context_id dst, context_id src, context_id id) {
  return serialization::frame_builder{serialization::make_header(
                                        add ? wire_type::route_add : wire_type::route_del,
                                        dst, src)}
    .add(serialization::route_info{id, "ctx" + std::to_string(id)})
    .finish();
}

/// The far end of a socketpair (or of two pipes) whose other end a router
/// owns. The test writes raw bytes into it and reads what the router wrote.
class socketpair_peer {
public:
  /// With `probe`, keeps a duplicate of the router's end so that
  /// router_unread() can tell how much the router has not read yet (the
  /// duplicate keeps the socket open: no EOF reaches this end until
  /// close_probe()).
  explicit socketpair_peer(bool probe = false) {
    // A router writing to a closed peer (or we to a cut router end) must
    // get EPIPE, not die.
    std::signal(SIGPIPE, SIG_IGN);
    int sv[2];
    if (::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) != 0)
      throw std::runtime_error{std::string{"socketpair: "} + std::strerror(errno)};
    mine_.reset(sv[0]);
    theirs_.reset(sv[1]);
    if (probe)
      probe_.reset(::dup(sv[1]));
  }

  /// Asks for two pipes instead of a socketpair.
  struct pipes_t {};
  static constexpr pipes_t pipes{};

  /// Two pipes, as a child started with spawn_info::pipes: the router reads
  /// one and writes the other.
  explicit socketpair_peer(pipes_t) {
    std::signal(SIGPIPE, SIG_IGN);
    int up[2], down[2];
    if (::pipe2(up, O_CLOEXEC) != 0 || ::pipe2(down, O_CLOEXEC) != 0)
      throw std::runtime_error{std::string{"pipe2: "} + std::strerror(errno)};
    theirs_.reset(up[0]);
    mine_w_.reset(up[1]);
    mine_.reset(down[0]);
    theirs_w_.reset(down[1]);
  }

  /// Hands the router's (read) end over (once), for router::add_stream.
  router::unique_fd take_router_end() {
    return std::move(theirs_);
  }
  /// Hands this end over too (once): to link two routers directly.
  router::unique_fd take_own_end() {
    return std::move(mine_);
  }
  /// Hands the router's write end over: none (-1) for a socketpair.
  router::unique_fd take_router_write_end() {
    return std::move(theirs_w_);
  }

  /// The fd this end reads (and for a socketpair also writes).
  int fd() const noexcept {
    return mine_.get();
  }
  int write_fd() const noexcept {
    return mine_w_.get() >= 0 ? mine_w_.get() : mine_.get();
  }

  /// Pipes: stops reading (the router's writes fail from now on).
  void close_input() {
    mine_.reset();
  }

  /// Bytes written to the router's end that it has not read yet.
  std::size_t router_unread() const {
    int n = 0;
    if (probe_.get() < 0 || ::ioctl(probe_.get(), FIONREAD, &n) != 0)
      throw std::logic_error{"socketpair_peer: no probe"};
    return static_cast<std::size_t>(n);
  }

  /// Waits until the router has read everything written so far.
  bool router_drained(std::chrono::milliseconds timeout = patience) const {
    return eventually([&] { return router_unread() == 0; }, timeout);
  }

  void close_probe() {
    probe_.reset();
  }

  /// Writes all `n` bytes (blocking). Returns false when the router's end
  /// is gone (SIGPIPE is ignored).
  bool write(const void* p, std::size_t n) {
    return router::write_fully(write_fd(), static_cast<const char*>(p), n);
  }
  bool write(const buffer& b) {
    return write(b.data(), b.size());
  }

  /// Writes this build's hello, as a child does before its first frame.
  bool write_hello() {
    std::byte h[serialization::hello::size];
    serialization::encode(serialization::local_hello(), h);
    return write(h, sizeof(h));
  }

  /// Reads what is there, up to `n` bytes, waiting for something until
  /// `until`. Returns the count, 0 on timeout or EOF (eof() tells which).
  std::size_t read_some(char* p, std::size_t n, steady::time_point until) {
    for (;;) {
      auto left = std::chrono::duration_cast<std::chrono::milliseconds>(until - steady::now());
      if (eof_ || left.count() < 0)
        return 0;
      pollfd pfd{fd(), POLLIN, 0};
      if (::poll(&pfd, 1, static_cast<int>(left.count()) + 1) <= 0)
        continue;
      auto r = ::read(fd(), p, n);
      if (r < 0 && (errno == EINTR || errno == EAGAIN))
        continue;
      if (r <= 0) {
        eof_ = true;
        return 0;
      }
      return static_cast<std::size_t>(r);
    }
  }

  /// Reads exactly `n` bytes by `until`. Returns false on timeout or EOF.
  bool read_exact(char* p, std::size_t n, steady::time_point until) {
    while (n > 0) {
      auto r = read_some(p, n, until);
      if (r == 0)
        return false;
      p += r;
      n -= r;
    }
    return true;
  }

  /// Reads the next whole frame the router wrote, or nothing on timeout or
  /// EOF.
  std::optional<frame> read_frame(std::chrono::milliseconds timeout = patience) {
    const auto until = steady::now() + timeout;
    char h[frame_header::size];
    if (!read_exact(h, sizeof(h), until))
      return std::nullopt;
    frame f;
    f.hdr = serialization::decode_header(reinterpret_cast<const std::byte*>(h));
    f.payload.resize(f.hdr.length);
    if (!read_exact(f.payload.data(), f.payload.size(), until))
      return std::nullopt;
    return f;
  }

  /// Reads and discards until the router closes its end. Returns whether
  /// EOF came by the timeout.
  bool wait_eof(std::chrono::milliseconds timeout = patience) {
    const auto until = steady::now() + timeout;
    char sink[4096];
    while (read_some(sink, sizeof(sink), until) > 0) {
    }
    return eof_;
  }

  bool eof() const noexcept {
    return eof_;
  }

private:
  router::unique_fd mine_;
  router::unique_fd mine_w_;
  router::unique_fd theirs_;
  router::unique_fd theirs_w_;
  router::unique_fd probe_;
  bool eof_ = false;
};

/// The stream options of a child `peer` added without a hello (unless
/// `expect_hello`).
inline router::stream_options child_options(context_id peer, bool expect_hello = false) {
  router::stream_options o;
  o.peer_name = "child" + std::to_string(peer);
  o.peer_id = peer;
  o.expect_hello = expect_hello;
  return o;
}

/// The stream options of the parent `parent_id`, added without a hello.
inline router::stream_options parent_options(context_id parent_id) {
  router::stream_options o;
  o.peer_name = "parent";
  o.peer_id = parent_id;
  o.is_parent = true;
  o.expect_hello = false;
  return o;
}

/// Who a test router is, and its options (limits), in one place.
struct test_config : router::router_config, router::options {};

/// A router whose every frame for this process is recorded by `out`.
class test_router : public router::router {
public:
  test_router(const test_config& c, recording_delivery& out)
    : router::router(static_cast<const mitosis::router::router_config&>(c),
                     static_cast<const mitosis::router::options&>(c), out) {
    out.record_on(*this);
  }
  /// The I/O thread calls this router through its vtable (the frame sink):
  /// it must be stopped before this object's type changes back to the base.
  ~test_router() { stop(); }
};

/// The master's router configuration (context 0, no parent).
/// Heartbeats are off in both (the peers the tests play never send any);
/// the heartbeat tests turn them on.
inline test_config master_config() {
  test_config c;
  c.heartbeat_interval = std::chrono::milliseconds{0};
  return c;
}

/// An agent's router configuration: context `self` below `parent`.
inline test_config agent_config(context_id self, context_id parent = 0) {
  test_config c;
  c.self = self;
  c.router_config::name = "agent" + std::to_string(self);
  c.parent_id = parent;
  c.has_parent = true;
  c.heartbeat_interval = std::chrono::milliseconds{0};
  return c;
}

/// Adds `p`'s router end(s) to `r` as a stream.
inline stream_id attach(router::router& r, socketpair_peer& p, router::stream_options o) {
  return r.add_stream(p.take_router_end(), p.take_router_write_end(), std::move(o));
}

/// Decodes the dead_info of a dead reply.
inline serialization::dead_info dead_of(const frame& f) {
  serialization::dead_info d;
  serialization::decode_exact(f.payload.data(), f.payload.size(), d);
  return d;
}

/// Decodes the route_info of a route_add or route_del frame.
inline serialization::route_info route_of(const frame& f) {
  serialization::route_info ri;
  serialization::decode_exact(f.payload.data(), f.payload.size(), ri);
  return ri;
}

/// The context id of the child in master_with_child.
inline constexpr context_id child = 6;

/// A master router with one child (context 6) played by `peer`, started
/// unless told otherwise. With `probe`, the peer can tell what the router
/// has not read yet.
struct master_with_child {
  explicit master_with_child(test_config cfg = master_config(), bool probe = false,
                             bool expect_hello = false)
    : master_with_child(std::move(cfg), socketpair_peer{probe}, expect_hello) {}
  /// The child played by `p` (e.g. over pipes).
  master_with_child(test_config cfg, socketpair_peer p, bool expect_hello = false)
    : r{std::move(cfg), out}, peer{std::move(p)} {
    sid = attach(r, peer, child_options(child, expect_hello));
    // As if the master had handed the child's subtree a block: only ids
    // granted to a stream may be announced behind it.
    r.grant(100, 16, sid);
    r.start();
  }
  recording_delivery out;
  test_router r;
  socketpair_peer peer;
  stream_id sid;

  /// Writes a call_reply from the child to the master carrying `body`.
  void write_reply(std::string_view body) {
    REQUIRE(peer.write(raw_frame(wire_type::call_reply, router::master_id, child, body)));
  }
  /// Delivers one frame through the I/O thread and returns that thread.
  std::thread::id io_thread() {
    const auto n = out.frame_count();
    write_reply("io");
    REQUIRE(out.wait_frames(n + 1));
    return out.frames()[n].thread;
  }
  /// Makes sure every frame the child wrote before is handled: frames are
  /// handled in order, so once this one is delivered, so are they.
  void sync() {
    const auto n = out.frame_count();
    write_reply("sync");
    REQUIRE(out.wait_frames(n + 1));
  }
};

} // namespace mitosis::test
