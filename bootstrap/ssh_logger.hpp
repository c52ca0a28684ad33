// The ssh method's logger ("mitosis.ssh"), looked up once for the program:
// one definition for its files (they also build as one translation unit:
// CMAKE_UNITY_BUILD).
#pragma once

#include <memory>

#include "../serialization/log.hpp"

namespace mitosis::bootstrap::ssh_impl {

inline const std::shared_ptr<spdlog::logger>& lg() {
  static const auto l = log::get("ssh");
  return l;
}

} // namespace mitosis::bootstrap::ssh_impl
