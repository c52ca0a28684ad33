// The actor service's outbox (see actor_outbox.hpp).
#include "actor_outbox.hpp"

#include <algorithm>
#include <chrono>
#include <thread>
#include <utility>

#include <caf/execution_unit.hpp>
#include <caf/policy/work_stealing.hpp>
#include <caf/ref_counted.hpp>
#include <caf/resumable.hpp>
#include <caf/scheduler/worker.hpp>

#include "../../router/router.hpp"
#include "inline_unit.hpp"

namespace mitosis::actors::services {

namespace {

/// Runs after the current job of the worker it was given to (exec_later
/// puts it first in that worker's own queue): flushes the outbox.
class flush_job final : public caf::resumable, public caf::ref_counted {
public:
  explicit flush_job(std::weak_ptr<actor_outbox> box) : box_(std::move(box)) {}

  subtype_t subtype() const override {
    return function_object;
  }

  resume_result resume(caf::execution_unit* host, std::size_t) override {
    if (auto b = box_.lock())
      b->flush(host);
    return done;
  }

  void intrusive_ptr_add_ref_impl() override {
    ref();
  }

  void intrusive_ptr_release_impl() override {
    deref();
  }

private:
  std::weak_ptr<actor_outbox> box_;
};

using worker = caf::scheduler::worker<caf::policy::work_stealing>;

} // namespace

actor_outbox::actor_outbox(router::router& r,
                           std::function<void(router::context_id, errc)> unroutable)
  : r_(r), unroutable_(std::move(unroutable)) {}

void actor_outbox::post(router::context_id to, const char* frame, std::size_t size,
                        caf::execution_unit* host, bool request) {
  // Only a scheduler worker or an inline unit runs our job right after its
  // current one; any other thread (a scoped actor, the I/O thread, a
  // detached actor) sends now.
  if (host && !dynamic_cast<worker*>(host) && !dynamic_cast<inline_unit*>(host))
    host = nullptr;
  bool schedule = false;
  bool now = host == nullptr;
  {
    std::lock_guard<std::mutex> guard{mtx_};
    batch* b = nullptr;
    for (auto& x : queue_)
      if (x.to == to) {
        b = &x;
        break;
      }
    if (!b) {
      // A buffer of an earlier batch: it has grown already (a flood's
      // batches would otherwise grow and free ~100 KiB each time, and
      // glibc give the pages back to the kernel and fault them in again).
      queue_.push_back({to, {}});
      b = &queue_.back();
      if (!spare_.empty()) {
        b->bytes = std::move(spare_.back());
        spare_.pop_back();
      }
    }
    if (b->bytes.capacity() == 0)
      b->bytes.reserve(std::min(batch_bytes, std::max<std::size_t>(size, 4096)));
    b->bytes.insert(b->bytes.end(), frame, frame + size);
    queued_bytes_ += size;
    if (request)
      request_to_ = to;
    if (queued_bytes_ >= batch_bytes)
      now = true;
    if (!now && !scheduled_)
      schedule = scheduled_ = true;
  }
  if (schedule)
    host->exec_later(new flush_job(weak_from_this())); // the unit takes our reference
  if (now)
    flush(host);
}

void actor_outbox::flush(caf::execution_unit* host) {
  router::context_id request_to = 0;
  std::vector<batch> todo;
  {
    std::lock_guard<std::mutex> flushing{flush_mtx_};
    {
      std::lock_guard<std::mutex> guard{mtx_};
      todo.swap(queue_);
      queued_bytes_ = 0;
      scheduled_ = false;
      request_to = std::exchange(request_to_, 0);
    }
    for (auto& b : todo) {
      auto err = r_.send_frames(b.to, b.bytes.data(), b.bytes.size());
      if (err != errc::none && unroutable_)
        unroutable_(b.to, err);
    }
    {
      std::lock_guard<std::mutex> guard{mtx_};
      for (auto& b : todo)
        if (spare_.size() < max_spares && b.bytes.capacity() <= 2 * batch_bytes) {
          b.bytes.clear();
          spare_.push_back(std::move(b.bytes));
        }
    }
  }
  // After flush_mtx_ is let go: the frames are the stream's now (their
  // order is kept), and a thread that must not wait (the I/O thread, a
  // parked reader) may flush meanwhile. Whoever sends to the same peer
  // after us waits here too.
  for (auto& b : todo)
    hold_back(b.to);
  if (request_to != 0)
    await_reply(request_to, host);
}

void actor_outbox::hold_back(router::context_id to) {
  // Never a thread that reads: it may be what the peer waits for (two
  // contexts flooding each other would stop both), and the I/O thread
  // serves everyone.
  if (reading().active || router::router::on_io_thread())
    return;
  auto sid = r_.next_hop(to);
  if (!sid)
    return;
  const auto high = r_.opts().max_queued_bytes / 2;
  auto queued = r_.queued_bytes(*sid);
  if (queued <= high)
    return;
  // As Erlang suspends a process that sends on a busy distribution port:
  // the sender waits while the peer takes its frames, down to a quarter of
  // the limit. A peer that takes nothing for `stalled` is left to the
  // stream's own limit (it is cut when the queue passes it) and to the
  // heartbeats.
  using clock = std::chrono::steady_clock;
  constexpr auto stalled = std::chrono::seconds{1};
  auto progress = clock::now();
  while (queued > high / 2) {
    std::this_thread::sleep_for(std::chrono::microseconds{200});
    auto now_queued = r_.queued_bytes(*sid);
    if (now_queued < queued)
      progress = clock::now();
    else if (clock::now() - progress > stalled)
      return;
    queued = now_queued;
  }
}

void actor_outbox::await_reply(router::context_id to, caf::execution_unit* host) {
  // Not on a thread that reads already (the I/O thread, a pool worker
  // while it is parked on a stream): it has its own loop to return to.
  // A pool job that runs actors may: the stream is free while it runs.
  if (reading().active || router::router::on_io_thread())
    return;
  auto sid = r_.next_hop(to);
  if (!sid)
    return;
  reading_scope scope{host};
  r_.read_when_free(*sid, [] { return reading().woken > 0; }, -1,
                    std::chrono::steady_clock::now() + r_.reply_wait(), true);
}

} // namespace mitosis::actors::services
