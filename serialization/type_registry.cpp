#include "type_registry.hpp"

#include <array>

namespace mitosis::serialization {

namespace {

constexpr std::array<type_info, 34> types = {{
  {wire_type::boot, "boot", false},
  {wire_type::call_request, "call_request", false},
  {wire_type::call_reply, "call_reply", true},
  {wire_type::call_error, "call_error", true},
  {wire_type::dead, "dead", true},
  {wire_type::route_add, "route_add", false},
  {wire_type::route_del, "route_del", false},
  {wire_type::log_record, "log_record", false},
  {wire_type::id_request, "id_request", false},
  {wire_type::id_grant, "id_grant", true},
  {wire_type::spawn_request, "spawn_request", false},
  {wire_type::spawn_reply, "spawn_reply", true},
  {wire_type::shutdown, "shutdown", false},
  {wire_type::rules_update, "rules_update", false},
  {wire_type::file_request, "file_request", false},
  {wire_type::file_chunk, "file_chunk", true},
  {wire_type::module_request, "module_request", false},
  {wire_type::module_data, "module_data", true},
  {wire_type::module_push, "module_push", false},
  {wire_type::actor_spawn, "actor_spawn", false},
  {wire_type::actor_spawned, "actor_spawned", true},
  {wire_type::actor_message, "actor_message", false},
  {wire_type::actor_down, "actor_down", false},
  {wire_type::actor_link, "actor_link", false},
  {wire_type::heartbeat, "heartbeat", false},
  {wire_type::actor_lost, "actor_lost", false},
  {wire_type::channel_data, "channel_data", false},
  {wire_type::channel_close, "channel_close", false},
  {wire_type::detaching, "detaching", false},
  {wire_type::stats_request, "stats_request", false},
  {wire_type::stats_reply, "stats_reply", true},
  {wire_type::blob_request, "blob_request", false},
  {wire_type::file_push, "file_push", false},
  {wire_type::file_pushed, "file_pushed", true},
}};

static_assert([] {
  for (std::size_t i = 0; i < types.size(); ++i)
    if (to_u32(types[i].id) != i + 1)
      return false;
  return true;
}(), "wire types must be dense and in order");

} // namespace

const type_info* type_registry::find(std::uint32_t id) noexcept {
  if (id == 0 || id > types.size())
    return nullptr;
  return &types[id - 1];
}

std::string_view type_registry::name(std::uint32_t id) noexcept {
  auto* t = find(id);
  return t ? t->name : std::string_view{"unknown"};
}

std::uint32_t type_registry::max_id() noexcept {
  return static_cast<std::uint32_t>(types.size());
}

} // namespace mitosis::serialization
