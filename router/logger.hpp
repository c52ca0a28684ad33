// The router's logger ("mitosis.router"), looked up once for the program:
// one definition for every file of the folder (they also build as one
// translation unit: CMAKE_UNITY_BUILD).
#pragma once

#include <memory>

#include "../serialization/log.hpp"

namespace mitosis::router {

inline const std::shared_ptr<spdlog::logger>& lg() {
  static const auto l = log::get("router");
  return l;
}

} // namespace mitosis::router
