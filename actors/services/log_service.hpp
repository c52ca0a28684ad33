// Logs across the tree: an agent sends every spdlog line to the master
// (log_record frames); the master writes each on a logger named after the
// context it came from.
#pragma once

#include "core.hpp"

namespace mitosis::actors::services {

class log_service {
public:
  /// Registers the log_record handler; in an agent (a process with a
  /// parent), also sends this process's log lines, the program's own spdlog
  /// calls included, to the master.
  explicit log_service(core& c);

private:
  void on_record(const serialization::frame& f);

  core& core_;
};

} // namespace mitosis::actors::services
