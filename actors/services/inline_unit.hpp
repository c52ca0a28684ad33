// Running an actor on the thread that read its message, instead of handing
// it to a CAF worker: each hand-off between threads is a wake-up, and a
// wake-up from the other vCPU costs tens of microseconds on the machines we
// measure on (docs/architecture.md, "Remote actors": "Inline resumption").
#pragma once

#include <chrono>
#include <cstddef>
#include <deque>
#include <functional>

#include <caf/execution_unit.hpp>

namespace caf {
class actor_system;
class resumable;
} // namespace caf

namespace mitosis::actors::services {

/// Runs resumables (actors, the outbox's flush job) on the calling thread:
/// `run(r)` resumes `r`, then whatever that made runnable here, in order,
/// up to `budget` jobs; the rest goes to CAF's scheduler.
class inline_unit final : public caf::execution_unit {
public:
  static constexpr std::size_t budget = 64;

  explicit inline_unit(caf::actor_system& sys) : caf::execution_unit(&sys) {}

  /// A unit that runs for about `time` at most (counted from run()): its
  /// actors handle their messages `slice` at a time, taking turns with the
  /// other jobs queued here; once `time` has passed, what is left goes to
  /// CAF's scheduler unrun.
  inline_unit(caf::actor_system& sys, std::size_t slice, std::chrono::microseconds time)
    : caf::execution_unit(&sys), slice_(slice), time_(time) {}

  /// Hands what is left to CAF's scheduler.
  ~inline_unit() override;

  void exec_later(caf::resumable* r) override {
    jobs_.push_back(r);
  }

  /// Takes the reference that CAF added for `r` (as a worker does).
  void run(caf::resumable* r) {
    jobs_.push_back(r);
    run();
  }

  /// Runs what was handed to this unit (exec_later), in order.
  void run();

private:
  std::deque<caf::resumable*> jobs_;
  std::size_t slice_ = 0; // 0: CAF's max-throughput, once
  std::chrono::microseconds time_{0};
};

/// The execution unit of an agent's pool: an actor woken by a frame that a
/// parked pool worker reads becomes a pool job, which that worker takes
/// itself when it unparks (`actors::dispatcher`): read, run and answer on
/// one thread, as a call is. The worker stops reading once its read woke
/// work (router::read_until's `stop_between_reads`), so under a flood it
/// takes turns: one read's frames, then the actors they woke. A job runs
/// for about `time` at most (`slice` messages at a time); an actor with
/// more to do goes on on CAF's scheduler, so a slow actor holds a pool
/// thread no longer than that plus one slice. Its actors' sends are held
/// back like any sender's (actor_outbox::hold_back): the parent stream is
/// not left unread meanwhile, the I/O thread takes it after the lazy
/// re-arm.
class pool_unit final : public caf::execution_unit {
public:
  static constexpr std::size_t slice = 16;
  static constexpr std::chrono::microseconds time{1000};

  /// `submit` queues a job on the pool; false when the pool is stopping.
  pool_unit(caf::actor_system& sys, std::function<bool(std::function<void()>)> submit)
    : caf::execution_unit(&sys), submit_(std::move(submit)) {}

  void exec_later(caf::resumable* r) override;

private:
  std::function<bool(std::function<void()>)> submit_;
};

/// What a thread that reads frames hands the actors they wake to. Set for
/// the time of a read (`reading_scope`); by default (null) CAF's scheduler.
struct reading_state {
  caf::execution_unit* host = nullptr;
  std::size_t woken = 0; // messages delivered to actors during the read
  bool active = false;
};

/// This thread's reading state.
reading_state& reading();

/// Makes `host` the unit of the actors woken by frames this thread reads,
/// until the scope ends.
class reading_scope {
public:
  explicit reading_scope(caf::execution_unit* host);
  ~reading_scope();
  reading_scope(const reading_scope&) = delete;
  reading_scope& operator=(const reading_scope&) = delete;

private:
  reading_state saved_;
};

} // namespace mitosis::actors::services
