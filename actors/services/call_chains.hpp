// Call chains at the callee (Mitogen's CallChain with pipelined=True): the
// calls of one chain (frame_flags::chained, the chain's id in the header's
// handle, per sending context) run one after another in arrival order. The
// first exception of a chain is kept: the chain's later calls are not run,
// and each that wants a reply fails with it, until a chain_reset frame.
#pragma once

#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <utility>

#include "core.hpp"

namespace mitosis::actors::services {

class call_chains {
public:
  /// Runs one call of a chain and returns the exception it ended with, if
  /// any (it answers the call itself).
  using runner = std::function<std::optional<serialization::call_error_info>(
    serialization::frame&&, policy::direction, router::stream_id)>;

  call_chains(core& c, runner run);

  /// Queues a chained call_request (or chain_reset) in arrival order; on
  /// the thread that read it. `admitted` (core::admit_call) is held until
  /// the call has run or is dropped.
  void submit(serialization::frame&& f, policy::direction d, router::stream_id from,
              std::shared_ptr<void> admitted);

  /// A chained call refused before it was queued (over max_pending_calls;
  /// it was answered dead already): its place in the chain fails the
  /// chain with `why`, in order, as a call that threw would, so the
  /// chain's later calls do not run. Only its header is kept.
  void refused(const serialization::frame_header& h, policy::direction d, router::stream_id from,
               serialization::call_error_info why);

private:
  using key = std::pair<router::context_id, std::uint32_t>;
  struct item {
    serialization::frame f;
    policy::direction d;
    router::stream_id from;
    std::shared_ptr<void> admitted;
    std::optional<serialization::call_error_info> refused; // set: see refused()
  };
  struct chain {
    std::deque<item> queue;
    bool running = false;
    std::optional<serialization::call_error_info> error;
  };

  void enqueue(key k, item it);
  void drain(key k);
  void lost(const std::vector<router::context_id>& ids);

  core& core_;
  runner run_;
  std::mutex mtx_;
  std::map<key, chain> chains_;
};

} // namespace mitosis::actors::services
