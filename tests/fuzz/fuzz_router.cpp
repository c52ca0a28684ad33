// libFuzzer target: a real router (routing table, id grants, rules,
// violations and cuts) driven by sequences of frames from fake peers, one
// at a time through socketpairs, and checked after each step:
// - every route behind a child stream is an id granted to that stream
//   (its own id, or a block the master handed out through it);
// - no frame from a child reaches a handler here, or is forwarded, unless
//   its source was granted to that child's stream and the rules in force
//   let that source, and that child, send its type (siblings: only with
//   sibling_routing);
// - nothing stays queued: after the peers read, every byte the router
//   accepted for a stream has reached its peer;
// - no more routes behind a stream than max_routes_per_child.
// The router is never started: each step pumps the stream the fuzzer wrote
// to on this thread (router::pump), as the I/O thread would.
//
// The input is a sequence of steps; the first byte picks a master (no
// parent: it hands out id blocks) or an intermediate (a parent stream that
// sends id grants and calls down).
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <fuzzer/FuzzedDataProvider.h>
#include <memory>
#include <sys/socket.h>
#include <unistd.h>
#include <vector>

#include "mitosis/router/id_allocator.hpp"
#include "mitosis/router/router.hpp"
#include "mitosis/serialization/log.hpp"
#include "mitosis/serialization/messages.hpp"

using namespace mitosis;
using namespace mitosis::router;
using serialization::frame_header;
using serialization::wire_type;

namespace {

[[noreturn]] void fail(const char* what) {
  std::fprintf(stderr, "fuzz_router invariant broken: %s\n", what);
  std::abort();
}

struct null_delivery : delivery {
  void lost(const std::vector<context_id>&, const std::string&) override {}
  void parent_lost(const std::string&) override {}
  void handshake_done(stream_id, context_id, const std::string&) override {}
};

// One fake neighbour: our end of its socketpair, and what it has read.
struct peer {
  stream_id sid = 0;
  context_id id = 0;
  int fd = -1;
  bool alive = false;
  std::uint64_t drained = 0;
};

// A frame handed to a handler here during the current step.
struct delivered {
  frame_header hdr;
  policy::direction dir;
  stream_id from;
};

constexpr context_id mid_self = 5;  // the intermediate's own id
constexpr std::uint32_t block = 16; // ids per block
constexpr std::uint32_t max_routes = 8;

class world {
public:
  explicit world(bool master)
    : master_(master),
      cfg_{master ? master_id : mid_self, master ? "master" : "mid", master_id, !master},
      router_(cfg_, make_opts(), out_) {
    for (std::uint32_t t = 1; t <= 26; ++t) {
      auto wt = static_cast<wire_type>(t);
      if (master_ && wt == wire_type::id_request)
        router_.handlers().add(wt, [this](serialization::frame&& f, policy::direction d,
                                          stream_id from) { on_id_request(f, d, from); });
      else
        router_.handlers().add(wt, [this](serialization::frame&& f, policy::direction d,
                                          stream_id from) { got_.push_back({f.hdr, d, from}); });
    }
    if (master_) {
      ids_.refill(*blocks_.next());
    } else {
      // The parent granted us [100, 100 + block) for our children.
      ids_.refill({100, block});
      parent_ = connect(master_id, true);
    }
    rules_ = std::make_shared<const policy::rules>(policy::rules::defaults());
    router_.set_rules(rules_);
  }

  ~world() {
    router_.stop();
    for (auto& p : children_)
      if (p.fd >= 0)
        ::close(p.fd);
    if (parent_.fd >= 0)
      ::close(parent_.fd);
  }

  void step(FuzzedDataProvider& in) {
    got_.clear();
    sent_from_ = nullptr;
    switch (in.ConsumeIntegralInRange<int>(0, 7)) {
      case 0:
        start_child();
        break;
      case 1:
        if (auto* c = pick_child(in)) {
          bool add = in.ConsumeBool();
          auto src = in.ConsumeProbability<float>() < 0.8f ? c->id : pick_id(in);
          serialization::route_info ri{pick_id(in), "r"};
          send(*c, serialization::frame_builder{serialization::make_header(
                                                  add ? wire_type::route_add
                                                      : wire_type::route_del,
                                                  cfg_.self, src)}
                     .add(ri)
                     .finish());
        }
        break;
      case 2:
        ask_or_grant(in);
        break;
      case 3:
        if (auto* c = pick_child(in))
          send(*c, any_frame(in, in.ConsumeBool() ? c->id : pick_id(in)));
        break;
      case 4:
        if (parent_.alive)
          send(parent_, any_frame(in, in.ConsumeBool() ? master_id : pick_id(in)));
        break;
      case 5:
        update_rules(in);
        break;
      case 6:
        // Bytes that may not be a frame, then EOF: the stream closes. Fewer
        // than two headers, so that at most one frame comes out of them.
        if (auto* c = pick_child(in)) {
          auto junk = in.ConsumeBytes<char>(in.ConsumeIntegralInRange<std::size_t>(1, 63));
          send(*c, serialization::buffer(junk.begin(), junk.end()), true);
        }
        break;
      case 7:
        if (auto* c = pick_child(in)) {
          ::shutdown(c->fd, SHUT_WR); // EOF: the stream closes
          pump(*c, true);
        }
        break;
    }
    drain();
    check();
  }

private:
  static options make_opts() {
    options o;
    o.heartbeat_interval = std::chrono::milliseconds{0};
    o.max_routes_per_child = max_routes;
    o.max_frame = 4096;
    o.id_block = block;
    return o;
  }

  peer connect(context_id id, bool is_parent) {
    int sv[2];
    if (::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) != 0)
      fail("socketpair");
    stream_options so;
    so.peer_name = is_parent ? "parent" : "child";
    so.peer_id = id;
    so.is_parent = is_parent;
    so.expect_hello = false;
    peer p;
    p.id = id;
    p.fd = sv[1];
    p.alive = true;
    p.sid = router_.add_stream(unique_fd{sv[0]}, unique_fd{}, std::move(so));
    return p;
  }

  void start_child() {
    if (children_.size() >= 4)
      return;
    auto id = ids_.next();
    if (!id)
      return;
    auto p = connect(*id, false);
    grants_.push_back({*id, 1, p.sid});
    children_.push_back(p);
  }

  peer* pick_child(FuzzedDataProvider& in) {
    if (children_.empty())
      return nullptr;
    auto& c = children_[in.ConsumeIntegralInRange<std::size_t>(0, children_.size() - 1)];
    return c.alive ? &c : nullptr;
  }

  // Ids worth trying: ours, the master, a child's, one in a granted block
  // (near its start), or anything.
  context_id pick_id(FuzzedDataProvider& in) {
    switch (in.ConsumeIntegralInRange<int>(0, 4)) {
      case 0:
        return in.ConsumeBool() ? cfg_.self : master_id;
      case 1:
        return children_.empty()
                 ? 1
                 : children_[in.ConsumeIntegralInRange<std::size_t>(0, children_.size() - 1)].id;
      case 2:
        if (!grants_.empty()) {
          auto& g = grants_[in.ConsumeIntegralInRange<std::size_t>(0, grants_.size() - 1)];
          return g.first + in.ConsumeIntegralInRange<std::uint32_t>(0, g.count);
        }
        return 17;
      case 3:
        return in.ConsumeIntegralInRange<context_id>(0, 200);
      default:
        return in.ConsumeIntegral<context_id>();
    }
  }

  serialization::buffer any_frame(FuzzedDataProvider& in, context_id src) {
    static constexpr wire_type common[] = {
      wire_type::call_request, wire_type::call_reply, wire_type::log_record, wire_type::dead,
      wire_type::actor_message, wire_type::id_grant, wire_type::boot, wire_type::shutdown,
      wire_type::spawn_request, wire_type::rules_update, wire_type::heartbeat};
    std::uint32_t type = in.ConsumeBool()
                           ? serialization::to_u32(common[in.ConsumeIntegralInRange<std::size_t>(
                               0, std::size(common) - 1)])
                           : in.ConsumeIntegralInRange<std::uint32_t>(0, 30);
    auto h = serialization::make_header(static_cast<wire_type>(type), pick_id(in), src,
                                        in.ConsumeIntegralInRange<std::uint32_t>(0, 3),
                                        in.ConsumeIntegralInRange<std::uint32_t>(0, 3));
    auto body = in.ConsumeBytes<char>(in.ConsumeIntegralInRange<std::size_t>(0, 64));
    return serialization::frame_builder{h}.add_raw(body.data(), body.size()).finish();
  }

  // A master hands out blocks on request; an intermediate sees the
  // master's grants pass down from its parent.
  void ask_or_grant(FuzzedDataProvider& in) {
    if (master_) {
      if (auto* c = pick_child(in))
        send(*c, serialization::frame_builder{serialization::make_header(
                                                wire_type::id_request, master_id,
                                                in.ConsumeBool() ? c->id : pick_id(in), 0, 1)}
                   .add(serialization::id_block_info{0, block})
                   .finish());
      return;
    }
    if (!parent_.alive)
      return;
    const auto dst = pick_id(in);
    const auto src = in.ConsumeProbability<float>() < 0.8f ? master_id : pick_id(in);
    serialization::id_block_info b{next_block_, block};
    next_block_ += block;
    send(parent_, serialization::frame_builder{serialization::make_header(
                                                 wire_type::id_grant, dst, src, 0, 0)}
                    .add(b)
                    .finish());
  }

  void on_id_request(const serialization::frame& f, policy::direction d, stream_id from) {
    got_.push_back({f.hdr, d, from});
    if (!sent_from_ || from != sent_from_->sid)
      fail("an id request was reported from another stream than it came on");
    auto b = blocks_.next(block);
    if (!b)
      return;
    router_.grant(b->first, b->count, from);
    grants_.push_back({b->first, b->count, from});
    serialization::buffer out(frame_header::size);
    serialization::encode_into(out, serialization::id_block_info{b->first, b->count});
    router_.reply(f.hdr, wire_type::id_grant, std::move(out));
  }

  void update_rules(FuzzedDataProvider& in) {
    auto r = policy::rules::defaults();
    r.sibling_routing = in.ConsumeBool();
    auto n = in.ConsumeIntegralInRange<int>(0, 3);
    for (int i = 0; i < n; ++i) {
      auto& set = r.types_from_context[pick_id(in)];
      auto mask = in.ConsumeIntegral<std::uint32_t>();
      for (std::uint32_t t = 1; t <= 26; ++t)
        if (mask & (1u << (t % 32)))
          set.insert(t);
    }
    rules_ = std::make_shared<const policy::rules>(std::move(r));
    router_.set_rules(rules_);
  }

  // Writes `wire` as peer `p` (then EOF when `eof`) and has the router
  // read it.
  void send(peer& p, const serialization::buffer& wire, bool eof = false) {
    sent_from_ = &p;
    sent_ = frame_header{};
    if (wire.size() >= frame_header::size) {
      sent_ = serialization::decode_header(reinterpret_cast<const std::byte*>(wire.data()));
      if (&p == &parent_)
        note_grant(wire);
    }
    if (::send(p.fd, wire.data(), wire.size(), MSG_NOSIGNAL)
        != static_cast<ssize_t>(wire.size()))
      fail("write to the router");
    if (eof)
      ::shutdown(p.fd, SHUT_WR);
    pump(p, eof);
  }

  // Has the router read what `p` wrote. A read that drains the socket ends
  // a pass (epoll would report an EOF behind it again): after an EOF, pump
  // until the stream is gone.
  void pump(peer& p, bool eof) {
    for (int i = 0; p.alive && i < (eof ? 4 : 1); ++i)
      p.alive = router_.pump(p.sid);
    if (eof && p.alive)
      fail("a stream that reached EOF was not dropped");
  }

  // An id grant from the master (src 0) on its way down belongs to the
  // subtree of the child it is routed to now; whatever else comes from the
  // parent grants nothing.
  void note_grant(const serialization::buffer& wire) {
    if (sent_.type != serialization::to_u32(wire_type::id_grant) || sent_.src != master_id
        || sent_.length != wire.size() - frame_header::size)
      return;
    auto via = router_.next_hop(sent_.dst);
    if (!via || *via == parent_.sid)
      return;
    serialization::id_block_info b;
    try {
      serialization::decode_exact(wire.data() + frame_header::size, sent_.length, b);
    } catch (const serialization::decode_error&) {
      return;
    }
    if (b.count != 0)
      grants_.push_back({b.first, b.count, *via});
  }

  // Reads what the router wrote to every peer and checks each frame.
  void drain() {
    drain(parent_);
    for (auto& c : children_)
      drain(c);
  }

  void drain(peer& p) {
    if (p.fd < 0)
      return;
    std::vector<char> bytes;
    char buf[4096];
    for (;;) {
      auto n = ::recv(p.fd, buf, sizeof(buf), MSG_DONTWAIT);
      if (n <= 0)
        break;
      bytes.insert(bytes.end(), buf, buf + n);
    }
    p.drained += bytes.size();
    for (std::size_t off = 0; off + frame_header::size <= bytes.size();) {
      auto h = serialization::decode_header(reinterpret_cast<const std::byte*>(bytes.data() + off));
      off += frame_header::size + h.length;
      check_out(p, h);
    }
  }

  // Whether a block holding `id` was granted to stream `via`. (Blocks that
  // overlap come only from a parent that grants the same ids twice; the
  // router may then refuse more, never accept more.)
  bool granted(context_id id, stream_id via) const {
    for (auto& g : grants_)
      if (g.via == via && id >= g.first && std::uint64_t{id} - g.first < g.count)
        return true;
    return false;
  }

  // What came in from child `c` may be handed on only when its source was
  // granted to c's stream and the rules let the source and c send it.
  void check_from_child(const peer& c, const frame_header& h) const {
    if (!granted(h.src, c.sid))
      fail("a frame from a child with a source not granted to its stream was passed on");
    if (!rules_->allows_type(policy::direction::from_child, h.src, c.id, h.type))
      fail("a frame from a child was passed on though the rules refuse its type");
  }

  void check_out(const peer& to, const frame_header& h) {
    if (h.src == cfg_.self) {
      // The router's own frames: dead replies, route announcements, grants.
      const auto t = static_cast<wire_type>(h.type);
      if (t != wire_type::dead && t != wire_type::route_add && t != wire_type::route_del
          && t != wire_type::id_grant)
        fail("a frame with this context's source that it did not write went out");
      return;
    }
    // Anything else is the frame written in this step, forwarded.
    if (!sent_from_ || h.type != sent_.type || h.src != sent_.src || h.dst != sent_.dst)
      fail("a frame went out that nobody sent");
    if (sent_from_ == &to)
      fail("a frame was sent back on the stream it came on");
    if (sent_from_ != &parent_) {
      check_from_child(*sent_from_, h);
      if (&to != &parent_ && !rules_->sibling_routing)
        fail("a frame went from one child to another without sibling_routing");
    }
  }

  void check() {
    for (auto& d : got_) {
      if (!master_ && d.from == parent_.sid)
        continue; // the parent is trusted
      if (d.from == 0 && d.hdr.src == cfg_.self)
        continue; // sent here by this process itself
      const peer* c = nullptr;
      for (auto& p : children_)
        if (p.sid == d.from)
          c = &p;
      if (!c)
        fail("a frame was delivered from an unknown stream");
      check_from_child(*c, d.hdr);
    }
    std::vector<std::uint32_t> per_stream(64, 0);
    for (auto& e : router_.routes()) {
      if (!master_ && e.via == parent_.sid)
        continue;
      if (!granted(e.id, e.via))
        fail("a route behind a child stream to an id not granted to it");
      if (e.via < per_stream.size() && ++per_stream[e.via] > max_routes + 1)
        fail("more routes behind a child than max_routes_per_child");
    }
    auto queued = [this](const peer& p) {
      if (!p.alive)
        return;
      auto c = router_.connection(p.sid);
      if (c && c->bytes_out != p.drained)
        fail("bytes stayed queued for a peer that reads everything");
    };
    queued(parent_);
    for (auto& c : children_)
      queued(c);
  }

  struct grant_rec {
    context_id first;
    std::uint32_t count;
    stream_id via;
  };

  bool master_;
  router_config cfg_;
  null_delivery out_;
  mitosis::router::router router_;
  block_source blocks_{block, 1};
  id_allocator ids_;
  peer parent_;
  std::vector<peer> children_;
  std::vector<grant_rec> grants_;
  std::vector<delivered> got_;
  std::shared_ptr<const policy::rules> rules_;
  context_id next_block_ = 1000;
  peer* sent_from_ = nullptr;
  frame_header sent_;
};

} // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  mitosis::log::set_level(6); // off: refusals are expected here
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  FuzzedDataProvider in{data, size};
  world w{in.ConsumeBool()};
  for (int i = 0; i < 64 && in.remaining_bytes() > 0; ++i)
    w.step(in);
  return 0;
}
