// Remote actors, as a user sees them: MITOSIS_ACTOR registers an actor type
// in every copy of the program, and context::spawn starts one in a context
// and returns a CAF handle to it (send, request, monitor work on it as on a
// local actor; docs/architecture.md, "Remote actors (first slice)").
// context::spawn_async does the same without blocking its caller.
#pragma once

#include <cstdint>
#include <functional>
#include <future>
#include <memory>
#include <set>
#include <string>
#include <utility>

#include <caf/actor_addr.hpp>
#include <caf/actor.hpp>
#include <caf/actor_cast.hpp>
#include <caf/actor_system.hpp>
#include <caf/make_message.hpp>

#include "actor_registry.hpp"
#include "async_atoms.hpp"
#include "context.hpp"
#include "here.hpp"

namespace mitosis {

/// How context::spawn ties the new actor's lifetime to its spawner (like
/// Akka's remote deployment): by default it gets an exit when the spawning
/// context is lost; with `owner`, also when that actor exits (with
/// errc::spawner_exited); `detached` ties it to nothing.
struct spawn_options {
  /// An actor of the spawning process (e.g. `self->address()`); none: the
  /// spawning context.
  caf::actor_addr owner{};
  bool detached = false;
};

/// ctx.spawn<H>(mitosis::detached, "type", args...): an actor that outlives
/// its spawner.
inline const spawn_options detached{{}, true};

namespace detail {

/// Spawns actor type `type` in context `dst` (named `context`); throws what
/// context::spawn documents.
caf::strong_actor_ptr spawn_actor(actors::runtime& rt, router::context_id dst,
                                  const std::string& context, const std::string& type,
                                  const caf::message& args,
                                  const std::set<std::string>& interface,
                                  const spawn_options& opts);

/// The actor system of the process `rt` runs in.
caf::actor_system& system_of(actors::runtime& rt);

/// Runs `fn` on a thread of `rt`'s async spawner; false once it stopped.
bool run_async(actors::runtime& rt, std::function<void()> fn);

/// Runs the spawn or start `j` on a thread of `rt`'s async spawner; its
/// outcome is the answer to (await_spawn_atom, id) sent to async_helper(rt).
std::uint64_t start_async_spawn(actors::runtime& rt, std::function<caf::message()> j);

/// The runtime of this process (see this_context()); throws mitosis::error
/// when there is none.
actors::runtime& current_runtime();

/// The actor that answers (await_spawn_atom, id).
caf::actor async_helper(actors::runtime& rt);

/// The error of a spawn that could not be queued (shutting down).
[[noreturn]] void throw_async_stopped(const std::string& context);

} // namespace detail

template <class Handle>
Handle context::spawn_message(const spawn_options& opts, const std::string& type,
                              const caf::message& args) const {
  auto& sys = detail::system_of(*rt_);
  return caf::actor_cast<Handle>(
    detail::spawn_actor(*rt_, id_, name_, type, args, sys.message_types<Handle>(), opts));
}

template <class Handle, class... Ts>
Handle context::spawn(const spawn_options& opts, const std::string& type, Ts&&... args) const {
  return spawn_message<Handle>(opts, type, caf::make_message(std::forward<Ts>(args)...));
}

template <class Handle, class... Ts>
Handle context::spawn(const std::string& type, Ts&&... args) const {
  return spawn<Handle>(spawn_options{}, type, std::forward<Ts>(args)...);
}

template <class Handle, class... Ts>
std::future<Handle> context::spawn_async(const std::string& type, Ts&&... args) const {
  auto done = std::make_shared<std::promise<Handle>>();
  auto out = done->get_future();
  auto job = [self = *this, type, args = caf::make_message(std::forward<Ts>(args)...), done] {
    try {
      done->set_value(self.spawn_message<Handle>(spawn_options{}, type, args));
    } catch (...) {
      done->set_exception(std::current_exception());
    }
  };
  if (!detail::run_async(*rt_, std::move(job))) {
    try {
      detail::throw_async_stopped(name_);
    } catch (...) {
      done->set_exception(std::current_exception());
    }
  }
  return out;
}

template <class Handle, class Self>
class spawn_pending {
public:
  spawn_pending(Self* self, caf::actor helper, std::uint64_t id)
    : self_(self), helper_(std::move(helper)), id_(id) {}

  /// Runs `ok(Handle)` or `err(caf::error&)` in the actor once the spawn
  /// is done (exactly one of them). Call it once.
  template <class OnOk, class OnErr>
  void then(OnOk ok, OnErr err) {
    self_->request(helper_, caf::infinite, actors::await_spawn_atom::value, id_)
      .then([ok = std::move(ok)](caf::strong_actor_ptr& p) mutable {
              ok(caf::actor_cast<Handle>(std::move(p)));
            },
            [err = std::move(err)](caf::error& e) mutable { err(e); });
  }

private:
  Self* self_;
  caf::actor helper_;
  std::uint64_t id_;
};

template <class Handle, class Self, class... Ts>
  requires std::is_class_v<Self>
spawn_pending<Handle, Self> context::spawn_async(Self* self, const std::string& type,
                                                 Ts&&... args) const {
  auto job = [c = *this, type, args = caf::make_message(std::forward<Ts>(args)...)] {
    return caf::make_message(caf::actor_cast<caf::strong_actor_ptr>(c.spawn_message<Handle>(spawn_options{}, type, args)));
  };
  return {self, detail::async_helper(*rt_), detail::start_async_spawn(*rt_, std::move(job))};
}

/// A start on its way, for actor code (start_local_async(self, ...)).
template <class Self>
class start_pending {
public:
  start_pending(Self* self, actors::runtime* rt, caf::actor helper, std::uint64_t id)
    : self_(self), rt_(rt), helper_(std::move(helper)), id_(id) {}

  /// Runs `ok(context)` or `err(caf::error&)` in the actor once the child
  /// has started (exactly one of them). Call it once.
  template <class OnOk, class OnErr>
  void then(OnOk ok, OnErr err) {
    self_->request(helper_, caf::infinite, actors::await_spawn_atom::value, id_)
      .then([rt = rt_, ok = std::move(ok)](router::context_id id, std::string& name) mutable {
              ok(context{rt, id, std::move(name)});
            },
            [err = std::move(err)](caf::error& e) mutable { err(e); });
  }

private:
  Self* self_;
  actors::runtime* rt_;
  caf::actor helper_;
  std::uint64_t id_;
};

/// start_local() for actor code: `start_local_async(self, {.name = "x"})
/// .then([](mitosis::context c) {...}, [](caf::error& e) {...})` starts a
/// local child of this process on the async spawner's threads and runs one
/// of the handlers in the actor `self` once it is up (or failed), so the
/// actor's thread never waits for the start.
template <class Self>
  requires std::is_class_v<Self>
start_pending<Self> start_local_async(Self* self, local_options opts = {}) {
  auto& rt = detail::current_runtime();
  auto job = [opts = std::move(opts)] {
    auto c = start_local(opts);
    return caf::make_message(c.id(), c.name());
  };
  return {self, &rt, detail::async_helper(rt), detail::start_async_spawn(rt, std::move(job))};
}

} // namespace mitosis
