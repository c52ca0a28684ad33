#include "routing_table.hpp"

namespace mitosis::router {

routing_table::routing_table(context_id self, std::optional<stream_id> parent)
  : self_(self), parent_(parent) {
}

route routing_table::lookup(context_id dst) const noexcept {
  if (dst == self_)
    return {route::local, 0};
  if (auto i = routes_.find(dst); i != routes_.end())
    return {route::stream, i->second};
  if (parent_)
    return {route::parent, *parent_};
  return {route::unroutable, 0};
}

bool routing_table::add(context_id id, stream_id via) {
  // The master (and so everything above us) is never below a child stream.
  if (id == self_ || id == master_id || (parent_ && via == *parent_))
    return false;
  if (granted_via(id) != via || isolated_.count(id) != 0)
    return false;
  auto [i, added] = routes_.emplace(id, via);
  return added || i->second == via;
}

std::optional<stream_id> routing_table::remove(context_id id) {
  auto i = routes_.find(id);
  if (i == routes_.end())
    return std::nullopt;
  auto via = i->second;
  routes_.erase(i);
  return via;
}

std::vector<std::pair<context_id, stream_id>> routing_table::entries() const {
  return {routes_.begin(), routes_.end()};
}

void routing_table::grant(context_id first, std::uint32_t count, stream_id via) {
  if (count == 0 || (parent_ && via == *parent_))
    return;
  grants_[first] = {count, via};
}

std::optional<stream_id> routing_table::granted_via(context_id id) const noexcept {
  auto i = grants_.upper_bound(id);
  if (i == grants_.begin())
    return std::nullopt;
  --i;
  if (std::uint64_t{id} - i->first >= i->second.count)
    return std::nullopt;
  return i->second.via;
}

bool routing_table::isolate(context_id id, stream_id via) {
  auto i = routes_.find(id);
  if (i == routes_.end() || i->second != via)
    return false;
  routes_.erase(i);
  isolated_.emplace(id, via);
  return true;
}

bool routing_table::isolated(context_id id, stream_id via) const noexcept {
  auto i = isolated_.find(id);
  return i != isolated_.end() && i->second == via;
}

std::vector<context_id> routing_table::drop_stream(stream_id via) {
  std::erase_if(grants_, [via](const auto& g) { return g.second.via == via; });
  std::erase_if(isolated_, [via](const auto& e) { return e.second == via; });
  std::vector<context_id> lost;
  for (auto i = routes_.begin(); i != routes_.end();) {
    if (i->second == via) {
      lost.push_back(i->first);
      i = routes_.erase(i);
    } else {
      ++i;
    }
  }
  return lost;
}

bool routing_table::source_ok(context_id src, stream_id via) const noexcept {
  auto r = lookup(src);
  return (r.kind == route::stream || r.kind == route::parent) && r.via == via;
}

} // namespace mitosis::router
