#include "context.hpp"

#include <atomic>

#include "../router/stream.hpp"
#include "call_chain.hpp"

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

void on_reply_done(actors::runtime& rt, std::uint32_t handle, std::function<void()> done) {
  if (!rt.pending().on_done(handle, done))
    done();
}

void await_reply(actors::runtime& rt, router::context_id dst,
                 std::future<serialization::frame>& f,
                 std::chrono::steady_clock::time_point until) {
  rt.core().read_for(dst, f, until);
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
    case errc::limit_exceeded:
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

std::uint32_t next_chain_id() noexcept {
  static std::atomic<std::uint32_t> next{0};
  return ++next;
}

} // namespace detail

call_chain::~call_chain() {
  try {
    reset();
  } catch (const std::exception&) {
    // The context is gone: nothing to forget there.
  }
}

void call_chain::reset() {
  serialization::frame_builder fb{detail::call_header(*ctx_.rt_, ctx_.id_)};
  fb.header().reply_to = 0;
  fb.header().flags |= serialization::frame_flags::no_reply | serialization::frame_flags::chain_reset;
  send_no_reply(std::move(fb));
}

void call_chain::send_no_reply(serialization::frame_builder&& fb) const {
  mark(fb);
  // Pipelined: over ssh the chain's next call pushes this one on with it
  // (or the ssh pump does, within its park time), so that a burst of
  // no-reply calls leaves in one packet.
  router::stream::deferring_push(
    [&] { detail::send_no_reply(*ctx_.rt_, ctx_.id_, ctx_.name_, std::move(fb)); });
}

actors::context_actor context::actor() const {
  return rt_->context_actor_of(id_, name_);
}

context_stats context::stats() const {
  auto got = rt_->stats().of(id_, rt_->core().request_deadline());
  if (!got)
    throw_failure(std::move(got).error(), name_);
  return std::move(got).value();
}

void context::fetch_file(const std::string& remote_path, const std::string& local_path) const {
  rt_->files().fetch(id_, name_, remote_path, local_path);
}

} // namespace mitosis
