#include "lifecycle_service.hpp"

#include <algorithm>
#include <fcntl.h>
#include <future>
#include <spdlog/spdlog.h>
#include <sys/prctl.h>
#include <unistd.h>

namespace mitosis::actors::services {

using serialization::frame;
using serialization::wire_type;

lifecycle_service::lifecycle_service(core& c, start_service& starts, std::function<void()> stop,
                                     std::function<void()> main_thread_detach)
  : core_(c), starts_(starts), stop_(std::move(stop)),
    main_thread_detach_(std::move(main_thread_detach)) {
  auto& h = c.routes().handlers();
  h.add(wire_type::shutdown, [this](frame&& f, policy::direction d, router::stream_id) {
    // Only an ancestor may stop us; the source check has verified that src
    // lies in the parent's direction.
    if (d == policy::direction::from_parent && from_ancestor(f.hdr.src))
      stop_();
    else
      lg()->warn("[{}] ignored a shutdown from context {}: not an ancestor", core_.name(),
                 f.hdr.src);
  });
  h.add(wire_type::detaching, [this](frame&& f, policy::direction d, router::stream_id s) {
    auto info = core_.routes().stream_info(s);
    if (d != policy::direction::from_child || !info || info->peer_id != f.hdr.src) {
      lg()->warn("[{}] ignored a detaching from context {}: not a direct child", core_.name(),
                 f.hdr.src);
      return;
    }
    lg()->debug("[{}] context '{}' detached", core_.name(), info->peer_name);
    starts_.detached(f.hdr.src);
  });
}

bool lifecycle_service::from_ancestor(router::context_id src) const {
  const auto& cfg = core_.routes().config();
  if (!cfg.has_parent)
    return false;
  return src == cfg.parent_id
         || std::find(cfg.ancestors.begin(), cfg.ancestors.end(), src) != cfg.ancestors.end();
}

expected<void> lifecycle_service::shutdown(router::context_id id, const std::string& name,
                                           std::optional<clock::time_point> until) {
  if (id == core_.self()) {
    if (!core_.routes().config().has_parent)
      return fail(errc::protocol_error, "the master stops with master::shutdown()");
    stop_();
    return {};
  }
  if (core_.lost_reason(id))
    return {};
  core_.expect_loss(id, "context '" + name + "' was shut down by '" + core_.name() + "'");
  auto h = serialization::make_header(wire_type::shutdown, id, core_.self());
  auto err = core_.routes().send(id, serialization::frame_builder{h}.finish());
  if (err != errc::none) {
    if (core_.knows(id) && err == errc::no_route)
      return {}; // gone; its loss is on its way
    return fail(err, "cannot send shutdown to '" + name + "': " + to_string(err));
  }
  if (!until)
    return {};
  auto gone = std::make_shared<std::promise<void>>();
  auto done = gone->get_future();
  core_.on_lost(id, [gone](const std::string&) { gone->set_value(); });
  if (done.wait_until(*until) != std::future_status::ready)
    return fail(errc::timeout, "'" + name + "' did not stop in time after shutdown");
  return {};
}

expected<void> lifecycle_service::disconnect(router::context_id id, const std::string& name) {
  auto& r = core_.routes();
  auto hop = r.next_hop(id);
  auto info = hop ? r.stream_info(*hop) : std::nullopt;
  if (!info || info->peer_id != id) {
    if (core_.lost_reason(id) || (!hop && core_.knows(id)))
      return {}; // already gone
    return fail(errc::no_route, "'" + name + "' is not a direct child of '" + core_.name()
                                  + "': only the stream to a direct child can be closed"
                                    " (use shutdown)");
  }
  core_.expect_loss(id, "context '" + name + "' was disconnected by '" + core_.name() + "'");
  r.close_stream(*hop, "disconnected by '" + core_.name() + "'");
  return {};
}

expected<void> lifecycle_service::detach() {
  const auto& cfg = core_.routes().config();
  if (!cfg.has_parent)
    return fail(errc::protocol_error, "the master has no parent to detach from");
  if (detached_.exchange(true))
    return {};
  ::prctl(PR_SET_PDEATHSIG, 0);
  main_thread_detach_(); // the main thread armed it at boot
  ::setsid(); // fails only for a group leader, which a started copy is not
  if (int null = ::open("/dev/null", O_RDWR | O_CLOEXEC); null >= 0) {
    for (int fd = 0; fd <= 2; ++fd)
      ::dup2(null, fd);
    ::close(null);
  }
  auto h = serialization::make_header(wire_type::detaching, cfg.parent_id, core_.self());
  if (!core_.routes().send_on(router::parent_stream, serialization::frame_builder{h}.finish()))
    return fail(errc::context_lost, "the parent stream is gone");
  lg()->debug("[{}] detached from its parent", core_.name());
  return {};
}

} // namespace mitosis::actors::services
