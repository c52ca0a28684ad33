#include "actor_registry.hpp"


namespace mitosis {

caf::error make_error(errc code, std::string reason) {
  if (reason.empty())
    return caf::error{static_cast<std::uint8_t>(code), error_category};
  return caf::error{static_cast<std::uint8_t>(code), error_category,
                    caf::make_message(std::move(reason))};
}

} // namespace mitosis

namespace mitosis::actors {

void add_error_category(caf::actor_system_config& cfg) {
  cfg.add_error_category(error_category, [](std::uint8_t code, caf::atom_value,
                                            const caf::message& context) {
    std::string out = "mitosis::";
    out += to_string(static_cast<errc>(code));
    if (context.match_elements<std::string>())
      out += ": " + context.get_as<std::string>(0);
    return out;
  });
}

actor_registry& actor_registry::instance() {
  static actor_registry reg;
  return reg;
}

bool actor_registry::add(actor_entry e) {
  std::unique_lock<std::shared_mutex> guard{mtx_};
  auto name = e.name;
  auto [i, added] = by_name_.emplace(std::move(name), std::move(e));
  return added;
}

void actor_registry::add_message_type(std::string name, message_type_adder add) {
  std::unique_lock<std::shared_mutex> guard{mtx_};
  message_types_.emplace_back(std::move(name), add);
}

void actor_registry::add_handle_type(std::type_index t, std::string name,
                                     message_type_adder add, handle_reader read) {
  std::unique_lock<std::shared_mutex> guard{mtx_};
  handle_types_.try_emplace(t, handle_type{std::move(name), add, read});
}

caf::strong_actor_ptr actor_registry::handle_in(std::type_index t, const void* x) const {
  std::shared_lock<std::shared_mutex> guard{mtx_};
  auto i = handle_types_.find(t);
  return i == handle_types_.end() ? nullptr : i->second.read(x);
}

void actor_registry::configure(caf::actor_system_config& cfg) const {
  std::shared_lock<std::shared_mutex> guard{mtx_};
  for (const auto& [t, h] : handle_types_)
    h.add(cfg, h.name);
  // The user's names last: a handle type also recorded by
  // MITOSIS_ACTOR_MESSAGE_TYPE travels under the user's name.
  for (const auto& [name, add] : message_types_)
    add(cfg, name);
}

const actor_entry* actor_registry::find(const std::string& name) const {
  std::shared_lock<std::shared_mutex> guard{mtx_};
  auto i = by_name_.find(name);
  return i == by_name_.end() ? nullptr : &i->second;
}

} // namespace mitosis::actors
