#include "pending_calls.hpp"

#include <algorithm>

#include "../serialization/messages.hpp"
#include "id_permutation.hpp"

namespace mitosis::actors {

serialization::frame make_dead(errc code, const std::string& reason) {
  serialization::frame f;
  f.hdr.type = serialization::to_u32(serialization::wire_type::dead);
  serialization::encode_into(f.payload,
                             serialization::dead_info{static_cast<std::uint8_t>(code), reason});
  f.hdr.length = static_cast<std::uint32_t>(f.payload.size());
  return f;
}

std::uint32_t pending_calls::next_handle() noexcept {
  // Counted, then permuted (id_permutation.hpp): a context on the way cannot
  // find the handle of a call it does not carry, to fail it with a forged
  // dead reply, by counting from one it does. 0 means "no reply".
  static const id_permutation<std::uint32_t> permute;
  std::lock_guard<std::mutex> guard{mtx_};
  std::uint32_t h = 0;
  do
    h = permute(++next_);
  while (h == 0 || waits_.count(h) != 0);
  return h;
}

std::future<serialization::frame> pending_calls::expect(std::uint32_t handle,
                                                        router::context_id dst) {
  std::lock_guard<std::mutex> guard{mtx_};
  auto& e = waits_[handle];
  e.dst = dst;
  e.promise = {};
  return e.promise.get_future();
}

bool pending_calls::complete(std::uint32_t handle, serialization::frame&& f) {
  std::promise<serialization::frame> p;
  std::function<void()> done;
  {
    std::lock_guard<std::mutex> guard{mtx_};
    auto i = waits_.find(handle);
    if (i == waits_.end())
      return false;
    if (f.hdr.type != serialization::to_u32(serialization::wire_type::dead)
        && f.hdr.src != i->second.dst)
      return false;
    p = std::move(i->second.promise);
    done = std::move(i->second.done);
    waits_.erase(i);
  }
  p.set_value(std::move(f));
  if (done)
    done();
  return true;
}

std::optional<router::context_id> pending_calls::destination(std::uint32_t handle) const {
  std::lock_guard<std::mutex> guard{mtx_};
  auto i = waits_.find(handle);
  if (i == waits_.end())
    return std::nullopt;
  return i->second.dst;
}

bool pending_calls::on_done(std::uint32_t handle, std::function<void()> done) {
  std::lock_guard<std::mutex> guard{mtx_};
  auto i = waits_.find(handle);
  if (i == waits_.end())
    return false;
  i->second.done = std::move(done);
  return true;
}

void pending_calls::forget(std::uint32_t handle) {
  std::function<void()> done;
  {
    std::lock_guard<std::mutex> guard{mtx_};
    auto i = waits_.find(handle);
    if (i == waits_.end())
      return;
    done = std::move(i->second.done);
    waits_.erase(i);
  }
  if (done)
    done();
}

void pending_calls::fail(const std::vector<router::context_id>& ids, const std::string& reason) {
  std::vector<entry> lost;
  {
    std::lock_guard<std::mutex> guard{mtx_};
    for (auto i = waits_.begin(); i != waits_.end();) {
      if (std::find(ids.begin(), ids.end(), i->second.dst) != ids.end()) {
        lost.push_back(std::move(i->second));
        i = waits_.erase(i);
      } else {
        ++i;
      }
    }
  }
  for (auto& e : lost) {
    e.promise.set_value(make_dead(errc::context_lost, reason));
    if (e.done)
      e.done();
  }
}

void pending_calls::fail_all(const std::string& reason) {
  std::unordered_map<std::uint32_t, entry> all;
  {
    std::lock_guard<std::mutex> guard{mtx_};
    all.swap(waits_);
  }
  for (auto& [h, e] : all) {
    e.promise.set_value(make_dead(errc::shutting_down, reason));
    if (e.done)
      e.done();
  }
}

std::vector<std::uint32_t> pending_calls::waiting_on(router::context_id dst) const {
  std::vector<std::uint32_t> out;
  std::lock_guard<std::mutex> guard{mtx_};
  for (const auto& [handle, e] : waits_)
    if (e.dst == dst)
      out.push_back(handle);
  return out;
}

std::size_t pending_calls::size() const {
  std::lock_guard<std::mutex> guard{mtx_};
  return waits_.size();
}

} // namespace mitosis::actors
