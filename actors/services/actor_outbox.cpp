// The actor service's outbox (see actor_outbox.hpp).
#include "actor_outbox.hpp"

#include <algorithm>

#include <caf/execution_unit.hpp>
#include <caf/policy/work_stealing.hpp>
#include <caf/ref_counted.hpp>
#include <caf/resumable.hpp>
#include <caf/scheduler/worker.hpp>

#include "../../router/router.hpp"

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

  resume_result resume(caf::execution_unit*, std::size_t) override {
    if (auto b = box_.lock())
      b->flush();
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
                        caf::execution_unit* host) {
  // Only a scheduler worker runs our job right after its current one; any
  // other thread (a scoped actor, the I/O thread, a detached actor) sends now.
  auto* w = host ? dynamic_cast<worker*>(host) : nullptr;
  bool schedule = false;
  bool now = w == nullptr;
  {
    std::lock_guard<std::mutex> guard{mtx_};
    batch* b = nullptr;
    for (auto& x : queue_)
      if (x.to == to) {
        b = &x;
        break;
      }
    if (!b) {
      queue_.push_back({to, {}});
      b = &queue_.back();
    }
    if (b->bytes.empty())
      b->bytes.reserve(std::min(batch_bytes, std::max<std::size_t>(size, 4096)));
    b->bytes.insert(b->bytes.end(), frame, frame + size);
    queued_bytes_ += size;
    if (queued_bytes_ >= batch_bytes)
      now = true;
    if (!now && !scheduled_)
      schedule = scheduled_ = true;
  }
  if (schedule)
    w->exec_later(new flush_job(weak_from_this())); // the worker takes our reference
  if (now)
    flush();
}

void actor_outbox::flush() {
  std::lock_guard<std::mutex> flushing{flush_mtx_};
  std::vector<batch> todo;
  {
    std::lock_guard<std::mutex> guard{mtx_};
    todo.swap(queue_);
    queued_bytes_ = 0;
    scheduled_ = false;
  }
  for (auto& b : todo) {
    auto err = r_.send_frames(b.to, std::move(b.bytes));
    if (err != errc::none && unroutable_)
      unroutable_(b.to, err);
  }
}

} // namespace mitosis::actors::services
