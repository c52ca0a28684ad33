#include "call_chains.hpp"

#include <algorithm>

namespace mitosis::actors::services {

using serialization::frame;
namespace flags = serialization::frame_flags;

call_chains::call_chains(core& c, runner run) : core_(c), run_(std::move(run)) {
  c.on_lost([this](const std::vector<router::context_id>& ids, const std::string&) { lost(ids); });
}

void call_chains::submit(frame&& f, policy::direction d, router::stream_id from,
                         std::shared_ptr<void> admitted) {
  key k{f.hdr.src, f.hdr.handle};
  enqueue(k, {std::move(f), d, from, std::move(admitted), std::nullopt});
}

void call_chains::refused(const serialization::frame_header& h, policy::direction d,
                          router::stream_id from, serialization::call_error_info why) {
  frame f;
  f.hdr = h;
  enqueue({h.src, h.handle}, {std::move(f), d, from, nullptr, std::move(why)});
}

void call_chains::enqueue(key k, item it) {
  auto hdr = it.f.hdr;
  {
    std::lock_guard<std::mutex> guard{mtx_};
    auto& c = chains_[k];
    c.queue.push_back(std::move(it));
    if (c.running)
      return;
    c.running = true;
  }
  if (!core_.on_pool(hdr, [this, k] { drain(k); })) {
    std::lock_guard<std::mutex> guard{mtx_};
    chains_.erase(k);
  }
}

void call_chains::drain(key k) {
  for (;;) {
    item it;
    std::optional<serialization::call_error_info> failed;
    {
      std::lock_guard<std::mutex> guard{mtx_};
      auto i = chains_.find(k);
      if (i == chains_.end())
        return;
      auto& c = i->second;
      if (c.queue.empty()) {
        c.running = false;
        if (!c.error)
          chains_.erase(i);
        return;
      }
      it = std::move(c.queue.front());
      c.queue.pop_front();
      if (it.f.hdr.flags & flags::chain_reset) {
        c.error.reset();
        continue;
      }
      if (it.refused) {
        if (!c.error)
          c.error = std::move(it.refused);
        continue;
      }
      failed = c.error;
    }
    const auto& h = it.f.hdr;
    if (failed) {
      // An earlier call of the chain threw: this one does not run.
      if (h.reply_to != 0 && !(h.flags & flags::no_reply)) {
        serialization::buffer err(serialization::frame_header::size);
        serialization::encode_into(err, *failed);
        core_.routes().reply(h, serialization::wire_type::call_error, std::move(err));
      }
      continue;
    }
    if (auto ex = run_(std::move(it.f), it.d, it.from)) {
      std::lock_guard<std::mutex> guard{mtx_};
      auto i = chains_.find(k);
      if (i != chains_.end() && !i->second.error)
        i->second.error = std::move(ex);
    }
  }
}

void call_chains::lost(const std::vector<router::context_id>& ids) {
  std::lock_guard<std::mutex> guard{mtx_};
  for (auto i = chains_.begin(); i != chains_.end();) {
    if (!i->second.running && std::find(ids.begin(), ids.end(), i->first.first) != ids.end())
      i = chains_.erase(i);
    else
      ++i;
  }
}

} // namespace mitosis::actors::services
