#include "async_spawner.hpp"

#include <atomic>
#include <caf/actor.hpp>
#include <caf/actor_system.hpp>
#include <caf/atom.hpp>
#include <caf/event_based_actor.hpp>
#include <caf/send.hpp>
#include <caf/stateful_actor.hpp>
#include <unordered_map>
#include <variant>

#include "actor_registry.hpp"
#include "async_atoms.hpp"
#include "errors.hpp"

namespace mitosis::actors {

namespace {

using spawn_done_atom = caf::atom_constant<caf::atom("mxspdone")>;

// What the helper knows of one spawn: its outcome, or the requester waiting.
struct helper_state {
  struct outcome {
    caf::message value;
    caf::error err;
  };
  std::unordered_map<std::uint64_t, std::variant<outcome, caf::response_promise>> spawns;
};

void deliver(caf::response_promise& rp, helper_state::outcome& o) {
  if (o.err)
    rp.deliver(std::move(o.err));
  else
    rp.deliver(std::move(o.value));
}

caf::behavior helper_actor(caf::stateful_actor<helper_state>* self) {
  return {
    [self](await_spawn_atom, std::uint64_t id) -> caf::result<caf::message> {
      auto rp = self->make_response_promise();
      auto& m = self->state.spawns;
      if (auto i = m.find(id); i != m.end()) {
        if (auto* o = std::get_if<helper_state::outcome>(&i->second))
          deliver(rp, *o);
        else
          rp.deliver(caf::make_error(caf::sec::invalid_argument,
                                     "spawn " + std::to_string(id) + " awaited twice"));
        m.erase(i);
      } else {
        m.emplace(id, rp);
      }
      return rp;
    },
    [self](spawn_done_atom, std::uint64_t id, caf::message& a, caf::error& e) {
      auto& m = self->state.spawns;
      helper_state::outcome o{std::move(a), std::move(e)};
      if (auto i = m.find(id); i != m.end()) {
        if (auto* rp = std::get_if<caf::response_promise>(&i->second))
          deliver(*rp, o);
        m.erase(i);
      } else {
        m.emplace(id, std::move(o));
      }
    },
  };
}

caf::error to_caf_error(std::exception_ptr ep) {
  try {
    std::rethrow_exception(ep);
  } catch (const error& e) {
    return make_error(e.code(), e.what());
  } catch (const std::exception& e) {
    return caf::make_error(caf::sec::runtime_error, e.what());
  } catch (...) {
    return caf::make_error(caf::sec::runtime_error, "unknown exception");
  }
}

} // namespace

struct async_spawner::impl {
  dispatcher pool{2};
  caf::actor helper;
  std::atomic<std::uint64_t> next{1};
};

async_spawner::async_spawner(caf::actor_system& sys) : sys_(sys) {}

async_spawner::~async_spawner() {
  stop();
}

async_spawner::impl* async_spawner::get() {
  std::lock_guard<std::mutex> guard{mtx_};
  if (stopped_)
    return nullptr;
  if (!impl_) {
    impl_ = std::make_unique<impl>();
    impl_->helper = sys_.spawn(helper_actor);
  }
  return impl_.get();
}

bool async_spawner::run(std::function<void()> fn) {
  auto* i = get();
  return i && i->pool.submit(std::move(fn));
}

std::uint64_t async_spawner::start(job j) {
  auto* i = get();
  if (!i)
    return 0;
  auto id = i->next++;
  auto done = [id, helper = i->helper, j = std::move(j)] {
    caf::message a;
    caf::error e;
    try {
      a = j();
    } catch (...) {
      e = to_caf_error(std::current_exception());
    }
    caf::anon_send(helper, spawn_done_atom::value, id, std::move(a), std::move(e));
  };
  return i->pool.submit(std::move(done)) ? id : 0;
}

caf::actor async_spawner::helper() {
  auto* i = get();
  return i ? i->helper : caf::actor{};
}

void async_spawner::stop() {
  std::unique_ptr<impl> i;
  {
    std::lock_guard<std::mutex> guard{mtx_};
    stopped_ = true;
    i = std::move(impl_);
  }
  if (!i)
    return;
  i->pool.stop();
  caf::anon_send_exit(i->helper, caf::exit_reason::user_shutdown);
  i->helper = nullptr;
}

} // namespace mitosis::actors
