#include "function_registry.hpp"

namespace mitosis::actors {

function_registry& function_registry::instance() {
  static function_registry reg;
  return reg;
}

namespace {
thread_local const std::string* loading_module = nullptr;
} // namespace

void function_registry::set_loading_module(const std::string* module) noexcept {
  loading_module = module;
}

bool function_registry::add(std::string name, fn_key key, invoker inv) {
  if (loading_module)
    name = *loading_module + "|" + name;
  std::unique_lock<std::shared_mutex> guard{mtx_};
  auto [i, added] = by_name_.emplace(name, function_entry{name, inv});
  if (!added && i->second.invoke != inv)
    return false;
  by_key_.emplace(key, std::move(name));
  return true;
}

const function_entry* function_registry::find(std::string_view name) const {
  std::shared_lock<std::shared_mutex> guard{mtx_};
  auto i = by_name_.find(std::string{name});
  return i == by_name_.end() ? nullptr : &i->second;
}

const std::string* function_registry::name_of(fn_key key) const {
  std::shared_lock<std::shared_mutex> guard{mtx_};
  auto i = by_key_.find(key);
  return i == by_key_.end() ? nullptr : &i->second;
}

} // namespace mitosis::actors
