// Calls: runs the registered function a call_request names (MITOSIS_REMOTE)
// on the worker pool, under the call rights, and answers with its result or
// the exception it threw. A plugin function this context lacks is fetched
// with its module first. Chained calls (call_chain) go through call_chains.
#pragma once

#include <atomic>

#include "call_chains.hpp"
#include "core.hpp"
#include "module_service.hpp"

namespace mitosis::actors::services {

class call_service {
public:
  call_service(core& c, module_service& modules);

  /// Calls that ran here to the end (answered or failed), since the start.
  std::uint64_t served() const noexcept {
    return served_.load(std::memory_order_relaxed);
  }
  /// Calls running here now.
  std::uint32_t running() const noexcept {
    return running_.load(std::memory_order_relaxed);
  }

private:
  /// Runs the call and answers it; returns the exception it ended with (a
  /// refusal or an unknown function counts as one), for call chains.
  /// The error a chained call refused over max_pending_calls leaves on its chain.
  serialization::call_error_info over_limit() const;
  std::optional<serialization::call_error_info> run(serialization::frame&& f, policy::direction d,
                                                    router::stream_id from);

  core& core_;
  module_service& modules_;
  call_chains chains_;
  std::atomic<std::uint64_t> served_{0};
  std::atomic<std::uint32_t> running_{0};
};

} // namespace mitosis::actors::services
