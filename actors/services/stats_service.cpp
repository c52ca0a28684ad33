#include "stats_service.hpp"

#include <cstdio>
#include <unistd.h>

namespace mitosis::actors::services {

using serialization::wire_type;

namespace {

std::uint64_t resident_bytes() {
  std::FILE* f = std::fopen("/proc/self/statm", "r");
  if (!f)
    return 0;
  unsigned long long size = 0, resident = 0;
  const int n = std::fscanf(f, "%llu %llu", &size, &resident);
  std::fclose(f);
  return n == 2 ? resident * static_cast<std::uint64_t>(::sysconf(_SC_PAGESIZE)) : 0;
}

} // namespace

stats_service::stats_service(core& c, const call_service& calls) : core_(c), calls_(calls) {
  c.routes().handlers().add(
    wire_type::stats_request, [this](serialization::frame&& f, policy::direction, router::stream_id) {
      if (f.hdr.reply_to == 0)
        return;
      serialization::buffer out(serialization::frame_header::size);
      serialization::encode_into(out, snapshot());
      core_.routes().reply(f.hdr, wire_type::stats_reply, std::move(out));
    });
}

serialization::stats_info stats_service::snapshot() const {
  auto& r = core_.routes();
  serialization::stats_info s;
  s.id = core_.self();
  s.name = core_.name();
  s.pid = static_cast<std::int32_t>(::getpid());
  s.uptime_ms = std::chrono::duration_cast<std::chrono::milliseconds>(clock::now() - started_)
                  .count();
  s.rss_bytes = resident_bytes();
  s.calls_served = calls_.served();
  s.calls_running = calls_.running();
  s.calls_waiting = static_cast<std::uint32_t>(core_.pending().size());
  auto totals = r.stats();
  s.frames_routed = totals.frames_routed;
  s.bytes_routed = totals.bytes_routed;
  auto ids = r.child_streams();
  if (r.config().has_parent)
    ids.insert(ids.begin(), router::parent_stream);
  for (auto id : ids) {
    auto c = r.connection(id);
    if (!c)
      continue;
    s.streams.push_back({c->stream, c->peer, c->is_parent ? "parent" : c->peer_name, c->is_parent,
                         c->frames_in, c->bytes_in, c->frames_out, c->bytes_out});
  }
  return s;
}

expected<serialization::stats_info> stats_service::of(router::context_id dst,
                                                      clock::time_point deadline) {
  if (dst == core_.self())
    return snapshot();
  return core_.ask<serialization::stats_info>(dst, wire_type::stats_request,
                                              wire_type::stats_reply, deadline);
}

} // namespace mitosis::actors::services
