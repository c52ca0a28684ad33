#include "here.hpp"

#include "remote_actor.hpp"
#include "../bootstrap/ssh_config.hpp"
#include "runtime.hpp"

namespace mitosis {

actors::runtime& detail::current_runtime() {
  auto* rt = actors::runtime::current();
  if (!rt)
    throw error(errc::no_route, "",
                "no mitosis runtime in this process: construct a mitosis::master first");
  return *rt;
}

context detail::connect(actors::runtime& rt, const bootstrap::method_spec& spec,
                        const std::optional<context>& via,
                        std::chrono::milliseconds connect_timeout, int* pid, bool new_context) {
  auto timeout = connect_timeout.count() ? connect_timeout : rt.options().connect_timeout;
  const bool remote = via && via->id() != rt.self();
  // ProxyJump: each jump host becomes an ssh context the next hop starts
  // from (reused like any other), planned by this process's ssh config.
  // A hop through a remote `via` follows only an explicit proxy_jump.
  if (spec.kind == bootstrap::method_kind::ssh && (!remote || !spec.ssh.proxy_jump.empty())) {
    std::vector<bootstrap::method_spec> hops;
    try {
      hops = bootstrap::ssh_jump_plan(spec);
    } catch (const bootstrap::method_error& e) {
      throw_connect_error(e.code(), spec.name.empty() ? bootstrap::describe(spec) : spec.name,
                          e.what());
    }
    if (hops.size() > 1) {
      // The first jump's own ProxyJump is planned by the call below: a
      // config whose jumps loop ends here.
      thread_local int depth = 0;
      struct nest {
        nest() {
          ++depth;
        }
        ~nest() {
          --depth;
        }
      } level;
      if (depth > 8)
        throw_connect_error(errc::spawn_failed, spec.name.empty() ? bootstrap::describe(spec) : spec.name,
                            "ssh to " + spec.ssh.host + ": ProxyJump chain deeper than 8 hops (a loop?)");
      using clock = std::chrono::steady_clock;
      const auto deadline = clock::now() + timeout;
      auto left = [&] {
        return std::max(std::chrono::milliseconds{1},
                        std::chrono::duration_cast<std::chrono::milliseconds>(deadline - clock::now()));
      };
      std::optional<context> from = via;
      for (std::size_t i = 0; i + 1 < hops.size(); ++i)
        from = detail::connect(rt, hops[i], from, left());
      return detail::connect(rt, hops.back(), from, left(), pid, new_context);
    }
  }
  auto start = [&] {
    return remote ? rt.starts().start_via(via->id(), via->name(), spec, timeout)
                  : rt.starts().start(spec, timeout);
  };
  auto key = new_context ? std::string{}
                         : actors::services::start_service::reuse_key(spec, remote ? via->id() : 0);
  auto started = rt.starts().reuse(key, start);
  if (!started)
    throw_connect_error(started.error().code, started.error().context, started.error().reason);
  if (pid)
    *pid = started->pid;
  return context{&rt, started->id, started->name};
}

context this_context() {
  auto& rt = detail::current_runtime();
  return context{&rt, rt.self(), rt.name()};
}

std::vector<context> children() {
  auto& rt = detail::current_runtime();
  std::vector<context> out;
  for (auto& c : rt.starts().children())
    out.emplace_back(&rt, c.id, c.name);
  return out;
}

context start_local(local_options opts) {
  bootstrap::method_spec spec;
  spec.name = opts.name;
  spec.pipes = opts.pipes;
  return detail::connect(detail::current_runtime(), spec, opts.via, opts.connect_timeout, nullptr,
                         opts.new_context);
}

std::future<context> start_local_async(local_options opts) {
  auto* rt = &detail::current_runtime();
  return std::async(std::launch::async, [rt, opts = std::move(opts)] {
    bootstrap::method_spec spec;
    spec.name = opts.name;
    spec.pipes = opts.pipes;
    return detail::connect(*rt, spec, opts.via, opts.connect_timeout, nullptr, opts.new_context);
  });
}

int pid_of(const context& c) {
  for (auto& child : detail::current_runtime().starts().children())
    if (child.id == c.id())
      return child.pid;
  return 0;
}

caf::actor_system& system() {
  return detail::current_runtime().system();
}

} // namespace mitosis
