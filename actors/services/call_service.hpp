// Calls: runs the registered function a call_request names (MITOSIS_REMOTE)
// on the worker pool, under the call rights, and answers with its result or
// the exception it threw. A plugin function this context lacks is fetched
// with its module first.
#pragma once

#include "core.hpp"
#include "module_service.hpp"

namespace mitosis::actors::services {

class call_service {
public:
  call_service(core& c, module_service& modules);

private:
  void run(serialization::frame&& f, policy::direction d, router::stream_id from);

  core& core_;
  module_service& modules_;
};

} // namespace mitosis::actors::services
