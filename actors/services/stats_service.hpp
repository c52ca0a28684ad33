// Stats: what a context reports of itself (context::stats): the counters
// of each of its streams, the calls it served and runs, the requests it
// waits for, its uptime and resident size. Answers stats_request inline
// (reading counters and /proc/self/statm does not block).
#pragma once

#include "call_service.hpp"
#include "core.hpp"

namespace mitosis::actors::services {

class stats_service {
public:
  /// Registers the stats_request handler.
  stats_service(core& c, const call_service& calls);

  /// Returns this process's counters now.
  serialization::stats_info snapshot() const;

  /// Returns the counters of context `dst` (this process's own when `dst`
  /// is self), asking it and waiting until `deadline`.
  expected<serialization::stats_info> of(router::context_id dst, clock::time_point deadline);

private:
  core& core_;
  const call_service& calls_;
  clock::time_point started_ = clock::now();
};

} // namespace mitosis::actors::services
