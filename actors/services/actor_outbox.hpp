// The actor service's outbox: actor frames (messages, downs, link reports)
// leave a process in the order they were made, and a CAF worker's frames
// leave together when its current job ends, in one write per destination
// (docs/architecture.md, "Remote actors": "Batched writes").
#pragma once

#include <atomic>
#include <cstddef>
#include <functional>
#include <memory>
#include <mutex>
#include <utility>
#include <vector>

#include "../../router/fwd.hpp"
#include "../../router/routing_table.hpp"
#include "../../serialization/frame.hpp"

namespace caf {
class execution_unit;
} // namespace caf

namespace mitosis::actors::services {

class actor_outbox : public std::enable_shared_from_this<actor_outbox> {
public:
  /// `unroutable(ctx, why)` is told when frames for `ctx` could not leave
  /// (the context is gone): whoever waits on them must be answered.
  actor_outbox(router::router& r, std::function<void(router::context_id, errc)> unroutable);

  /// Queues a copy of the whole frame at `frame` for context `to`. From a CAF worker
  /// or an inline_unit (`host`) the frame leaves when the current job
  /// ends, or as soon as the queue holds `batch_bytes`; from any other
  /// thread, now. Frames leave in the order they were posted. A `request`
  /// (its sender waits for the reply) makes the thread that sends it wait
  /// briefly for the reply itself (see flush).
  void post(router::context_id to, const char* frame, std::size_t size, caf::execution_unit* host,
            bool request = false);
  void post(router::context_id to, const serialization::buffer& frame, caf::execution_unit* host) {
    post(to, frame.data(), frame.size(), host);
  }

  /// Sends everything queued, in order, from the calling thread, which runs
  /// `host` (null: no execution unit). A sender that is not a reader then
  /// waits while the peer leaves more than half of max_queued_bytes unread
  /// and keeps taking them (backpressure: a fast sender does not get a slow
  /// peer cut; a peer that takes nothing for a second is left to the limit). When a request was among the frames,
  /// the thread then reads the stream it left on for up to the router's
  /// spin time, unless it reads a stream already: a reply read there wakes
  /// its actor on `host` (after this job) or, without one, where the actor
  /// lives, and no other thread has to be woken for it.
  void flush(caf::execution_unit* host = nullptr);

  /// What a batch may hold before it leaves without waiting for the job's end.
  static constexpr std::size_t batch_bytes = 64 * 1024;
  /// How many sent batches' buffers are kept for the next ones.
  static constexpr std::size_t max_spares = 4;

private:
  void await_reply(router::context_id to, caf::execution_unit* host);
  /// Makes a thread that is not a reader wait while more than half of
  /// max_queued_bytes wait unread for the stream to `to` (see flush).
  void hold_back(router::context_id to);

  struct batch {
    router::context_id to;
    serialization::buffer bytes;
  };

  router::router& r_;
  std::function<void(router::context_id, errc)> unroutable_;
  std::mutex mtx_;           // guards queue_, spare_, queued_bytes_ and scheduled_
  std::vector<batch> queue_; // one per destination, in order of first post
  std::vector<serialization::buffer> spare_; // emptied buffers of sent batches
  std::size_t queued_bytes_ = 0;
  bool scheduled_ = false;   // a flush job is on a worker's queue
  router::context_id request_to_ = 0; // the last request's destination, 0: none
  std::mutex flush_mtx_;     // one flush at a time: batches leave in order
};

} // namespace mitosis::actors::services
