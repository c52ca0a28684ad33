#include "rules_service.hpp"

#include <spdlog/spdlog.h>

#include "../../serialization/log.hpp"

namespace mitosis::actors::services {

using serialization::wire_type;

rules_service::rules_service(core& c, setter set) : core_(c), set_(std::move(set)) {
  c.routes().handlers().add(wire_type::rules_update,
                            [this](serialization::frame&& f, policy::direction d,
                                   router::stream_id) { on_update(f, d); });
}

expected<void> rules_service::set(const policy::rules& r) {
  return set_(r);
}

expected<void> rules_service::set_subtree(const policy::rules& r) {
  std::lock_guard<std::mutex> guard{subtree_mtx_};
  if (auto done = set(r); !done)
    return done;
  ++updates_;
  core_.routes().send_to_children(wire_type::rules_update, r.encode());
  return {};
}

rules_service::boot_rules rules_service::for_boot() {
  std::lock_guard<std::mutex> guard{subtree_mtx_};
  return {core_.routes().rules()->encode(), updates_};
}

void rules_service::catch_up(router::stream_id s, router::context_id id,
                             std::uint64_t updates_at_boot) {
  std::lock_guard<std::mutex> guard{subtree_mtx_};
  if (updates_ == updates_at_boot)
    return;
  auto& r = core_.routes();
  serialization::frame_builder fb{serialization::make_header(wire_type::rules_update, id,
                                                             core_.self())};
  fb.add(r.rules()->encode());
  if (r.send_on(s, fb.finish()))
    lg()->debug("[{}] sent context {} the rules set while it started", core_.name(), id);
}

void rules_service::on_update(const serialization::frame& f, policy::direction d) {
  auto& r = core_.routes();
  // Only the parent itself may give us rules, not whatever reaches us from its side.
  if (d != policy::direction::from_parent || f.hdr.src != r.config().parent_id)
    return;
  std::vector<char> encoded;
  policy::rules next;
  try {
    serialization::decode_exact(f.payload.data(), f.payload.size(), encoded);
    next = policy::rules::decode(encoded);
  } catch (const serialization::decode_error& e) {
    lg()->warn("[{}] undecodable rules_update from context {}: {}", core_.name(),
                             f.hdr.src, e.what());
    return;
  }
  // Through the policy actor, the only writer of the rules; this thread
  // (the stream's reader) waits for its publish, so the frames after this
  // one are judged by the new rules. The actor only stores a snapshot and
  // never waits on the router, so the wait is short; it is bounded by
  // request_timeout all the same.
  std::lock_guard<std::mutex> guard{subtree_mtx_};
  if (auto done = set_(next); !done)
    lg()->error("[{}] rules_update from context {} not applied: {}", core_.name(), f.hdr.src,
                done.error().reason);
  ++updates_;
  r.send_to_children(wire_type::rules_update, encoded);
}

} // namespace mitosis::actors::services
