// Running actors on the thread that read their messages (see inline_unit.hpp).
#include "inline_unit.hpp"

#include <chrono>
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
  using clock = std::chrono::steady_clock;
  auto& sys = system();
  const auto throughput = slice_ != 0 ? slice_ : sys.scheduler().max_throughput();
  const auto until = clock::now() + time_;
  std::size_t ran = 0;
  while (!jobs_.empty()) {
    auto* job = jobs_.front();
    jobs_.pop_front();
    // Enough for one thread that also reads a stream (64 runs, or the
    // time of a timed unit): the rest to CAF, unrun.
    if (ran++ == budget || (slice_ != 0 && clock::now() >= until)) {
      sys.scheduler().enqueue(job);
      continue;
    }
    if (job->resume(this, throughput) != caf::resumable::resume_later) {
      caf::intrusive_ptr_release(job); // done, awaiting_message, shutdown_execution_unit
      continue;
    }
    // More to do: in a timed unit another turn here after the jobs queued
    // meanwhile (its outbox's flush among them); else to CAF.
    if (slice_ != 0)
      jobs_.push_back(job); // keeps our reference
    else
      sys.scheduler().enqueue(job);
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
    inline_unit{*p->sys, slice, time}.run(job);
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
