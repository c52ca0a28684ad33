// Running actors on the thread that read their messages (see inline_unit.hpp).
#include "inline_unit.hpp"

#include <memory>
#include <utility>

#include <caf/actor_system.hpp>
#include <caf/resumable.hpp>
#include <caf/scheduler/abstract_coordinator.hpp>

namespace mitosis::actors::services {

inline_unit::~inline_unit() {
  for (auto* job : jobs_)
    system().scheduler().enqueue(job);
}

void inline_unit::run() {
  auto& sys = system();
  const auto throughput = throughput_ != 0 ? throughput_ : sys.scheduler().max_throughput();
  std::size_t ran = 0;
  while (!jobs_.empty()) {
    auto* job = jobs_.front();
    jobs_.pop_front();
    if (ran++ == budget) {
      // Enough for one thread that also reads a stream: the rest to CAF.
      sys.scheduler().enqueue(job);
      continue;
    }
    switch (job->resume(this, throughput)) {
      case caf::resumable::resume_later:
        sys.scheduler().enqueue(job); // keeps our reference
        break;
      case caf::resumable::done:
      case caf::resumable::awaiting_message:
      case caf::resumable::shutdown_execution_unit:
        caf::intrusive_ptr_release(job);
        break;
    }
  }
}

namespace {

/// A resumable waiting for the pool: a job the pool drops unrun (it is
/// stopping) hands it to CAF's scheduler instead of leaking it.
struct pending_job {
  pending_job(caf::actor_system* s, caf::resumable* j) : sys(s), job(j) {}
  pending_job(const pending_job&) = delete;
  pending_job& operator=(const pending_job&) = delete;
  caf::actor_system* sys;
  caf::resumable* job;
  ~pending_job() {
    if (job)
      sys->scheduler().enqueue(job);
  }
};

} // namespace

void pool_unit::exec_later(caf::resumable* r) {
  auto p = std::make_shared<pending_job>(&system(), r);
  submit_([p] {
    auto* job = std::exchange(p->job, nullptr);
    inline_unit{*p->sys, throughput}.run(job);
  });
}

reading_state& reading() {
  thread_local reading_state state;
  return state;
}

reading_scope::reading_scope(caf::execution_unit* host) : saved_(reading()) {
  auto& r = reading();
  r.host = host;
  r.woken = 0;
  r.active = true;
}

reading_scope::~reading_scope() {
  reading() = saved_;
}

} // namespace mitosis::actors::services
