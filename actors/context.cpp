#include "context.hpp"

#include "remote_actor.hpp"
#include "runtime.hpp"

namespace mitosis {

namespace detail {

actors::runtime* runtime_here() noexcept {
  return actors::runtime::current();
}

const std::string& remote_name(actors::fn_key key) {
  auto* n = actors::function_registry::instance().name_of(key);
  if (!n)
    throw error(errc::unknown_function, "",
                "function is not registered: add MITOSIS_REMOTE(fn) next to its definition");
  return *n;
}

serialization::frame_header call_header(actors::runtime& rt, router::context_id dst) {
  return serialization::make_header(serialization::wire_type::call_request, dst, rt.self(), 0,
                                    rt.pending().next_handle());
}

std::future<serialization::frame> send_call(actors::runtime& rt, router::context_id dst,
                                            serialization::frame_builder&& fb) {
  auto handle = fb.header().reply_to;
  return rt.core().request(dst, handle, fb.finish_outgoing());
}

void send_no_reply(actors::runtime& rt, router::context_id dst, const std::string& context,
                   serialization::frame_builder&& fb) {
  if (auto reason = rt.core().lost_reason(dst))
    throw context_lost(context, *reason);
  if (auto err = rt.routes().send(dst, fb.finish_outgoing()); err != errc::none) {
    if (err == errc::no_route && rt.core().knows(dst)) // lost; the loss not recorded yet
      throw context_lost(context, "context '" + context + "' has no route: lost");
    throw_reply(actors::make_dead(err, to_string(err)), context);
  }
}

void forget_call(actors::runtime& rt, std::uint32_t handle) {
  rt.pending().forget(handle);
}

void await_reply(actors::runtime& rt, router::context_id dst,
                 std::future<serialization::frame>& f,
                 std::chrono::steady_clock::time_point until) {
  auto ready = [&f] { return f.wait_for(std::chrono::seconds{0}) == std::future_status::ready; };
  if (ready())
    return;
  if (auto hop = rt.routes().next_hop(dst))
    rt.routes().read_until(*hop, ready, -1, until);
}

caf::strong_actor_ptr spawn_actor(actors::runtime& rt, router::context_id dst,
                                  const std::string& context, const std::string& type,
                                  const caf::message& args,
                                  const std::set<std::string>& interface,
                                  const spawn_options& opts) {
  auto r = rt.actors().spawn(dst, type, args, interface,
                             caf::actor_cast<caf::strong_actor_ptr>(opts.owner), opts.detached);
  if (r)
    return std::move(r).value();
  auto f = std::move(r).error();
  switch (f.code) {
    case errc::unknown_actor:
    case errc::actor_interface_mismatch:
    case errc::bad_actor_arguments:
    case errc::spawn_not_allowed:
      throw spawn_error(f.code, context, type, f.reason);
    default:
      throw_failure(std::move(f), context);
  }
}

caf::actor_system& system_of(actors::runtime& rt) {
  return rt.system();
}

bool run_async(actors::runtime& rt, std::function<void()> fn) {
  return rt.async_spawns().run(std::move(fn));
}

std::uint64_t start_async_spawn(actors::runtime& rt, std::function<caf::message()> j) {
  return rt.async_spawns().start(std::move(j));
}

caf::actor async_helper(actors::runtime& rt) {
  return rt.async_spawns().helper();
}

void throw_async_stopped(const std::string& context) {
  throw error(errc::shutting_down, context, "spawn in '" + context + "': this process is shutting down");
}

} // namespace detail

actors::context_actor context::actor() const {
  return rt_->context_actor_of(id_, name_);
}

void context::fetch_file(const std::string& remote_path, const std::string& local_path) const {
  rt_->files().fetch(id_, name_, remote_path, local_path);
}

} // namespace mitosis
