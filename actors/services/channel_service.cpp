#include "channel_service.hpp"

#include <spdlog/spdlog.h>

#include "../id_permutation.hpp"

namespace mitosis::actors::services {

using serialization::frame;
using serialization::wire_type;

channel_service::channel_service(core& c) : core_(c) {
  auto& h = c.routes().handlers();
  h.add(wire_type::channel_data, [this](frame&& f, policy::direction, router::stream_id) {
    on_data(std::move(f));
  });
  h.add(wire_type::channel_close, [this](frame&& f, policy::direction, router::stream_id) {
    on_close(f);
  });
  c.on_lost([this](const std::vector<router::context_id>& ids, const std::string& reason) {
    on_lost(ids, reason);
  });
}

std::shared_ptr<channel_state> channel_service::open(std::size_t capacity,
                                                     std::optional<router::context_id> respondent) {
  std::shared_ptr<channel_state> st;
  {
    std::lock_guard<std::mutex> guard{mtx_};
    // Counted, then permuted: not countable (id_permutation.hpp).
    static const id_permutation<std::uint32_t> permute;
    std::uint32_t handle = 0;
    do {
      handle = permute(++next_);
    } while (handle == 0 || open_.count(handle) != 0);
    st = std::make_shared<channel_state>(handle, core_.name(), capacity == 0 ? 1 : capacity,
                                         respondent);
    open_.emplace(handle, st);
  }
  if (respondent)
    if (auto gone = core_.lost_reason(*respondent))
      st->end(fail(errc::context_lost, *gone, core_.name_of(*respondent)));
  return st;
}

void channel_service::shutdown() {
  for (auto& st : all())
    st->end(fail(errc::shutting_down, "context '" + core_.name() + "' is shutting down",
                 core_.name()));
}

void channel_service::watch(std::uint32_t handle, router::context_id id) {
  auto st = find(handle);
  if (!st || id == core_.self())
    return;
  st->watch(id);
  if (auto gone = core_.lost_reason(id))
    st->end(fail(errc::context_lost, *gone, core_.name_of(id)));
}

std::shared_ptr<channel_state> channel_service::find(std::uint32_t handle) {
  std::lock_guard<std::mutex> guard{mtx_};
  auto i = open_.find(handle);
  if (i == open_.end())
    return nullptr;
  auto st = i->second.lock();
  if (!st)
    open_.erase(i);
  return st;
}

std::vector<std::shared_ptr<channel_state>> channel_service::all() {
  std::vector<std::shared_ptr<channel_state>> out;
  std::lock_guard<std::mutex> guard{mtx_};
  for (auto i = open_.begin(); i != open_.end();) {
    if (auto st = i->second.lock()) {
      out.push_back(std::move(st));
      ++i;
    } else {
      i = open_.erase(i);
    }
  }
  return out;
}

void channel_service::on_data(frame&& f) {
  auto st = find(f.hdr.handle);
  if (!st) {
    lg()->debug("[{}] value for receiver {} from context {} dropped: no such receiver", core_.name(),
                f.hdr.handle, f.hdr.src);
    return;
  }
  if (f.hdr.flags & serialization::frame_flags::channel_watch) {
    // The sender was handed on to another context: watch it too.
    std::uint32_t id = 0;
    try {
      serialization::plain_reader in{f.payload.data(), f.payload.size()};
      in.get(id);
      in.expect_end("a channel watch");
    } catch (const serialization::decode_error& e) {
      lg()->warn("[{}] undecodable channel watch from context {}: {}", core_.name(), f.hdr.src,
                 e.what());
      return;
    }
    if (!st->respondent())
      watch(f.hdr.handle, id);
    return;
  }
  if (auto r = st->respondent(); r && *r != f.hdr.src) {
    lg()->warn("[{}] value for receiver {} from context {} refused: it takes values from context "
               "{} only",
               core_.name(), f.hdr.handle, f.hdr.src, *r);
    return;
  }
  auto who = core_.name_of(f.hdr.src);
  if (!st->push(std::move(f.payload), f.hdr.src,
                fail(errc::channel_overflow,
                     "receiver " + std::to_string(st->handle()) + " in '" + core_.name()
                       + "' overflowed: a value from '" + who + "' found its queue full",
                     who)))
    lg()->debug("[{}] value for receiver {} from '{}' dropped: the receiver has ended",
                core_.name(), st->handle(), who);
}

void channel_service::on_close(const frame& f) {
  auto st = find(f.hdr.handle);
  if (!st)
    return;
  if (auto r = st->respondent(); r && *r != f.hdr.src)
    return;
  auto who = core_.name_of(f.hdr.src);
  st->end(fail(errc::channel_closed,
               "receiver " + std::to_string(st->handle()) + " in '" + core_.name()
                 + "' closed by its sender in '" + who + "'",
               who));
}

void channel_service::on_lost(const std::vector<router::context_id>& ids,
                              const std::string& reason) {
  for (auto& st : all())
    for (auto id : ids)
      if (st->ends_with_loss_of(id)) {
        st->end(fail(errc::context_lost, reason, core_.name_of(id)));
        break;
      }
}

} // namespace mitosis::actors::services
