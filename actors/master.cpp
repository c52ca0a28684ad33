#include "mitosis/actors/master.hpp"

#include <atomic>
#include <cstdlib>
#include <fcntl.h>
#include <spdlog/spdlog.h>
#include <unistd.h>

#include "mitosis/actors/runtime.hpp"
#include "mitosis/bootstrap/agent_boot.hpp"
#include "mitosis/serialization/log.hpp"

namespace mitosis {

namespace detail {

const std::string& remote_name(actors::fn_key key) {
  auto* n = actors::function_registry::instance().name_of(key);
  if (!n)
    throw error(errc::unknown_function, "",
                "function is not registered: add MITOSIS_REMOTE(fn) next to its definition");
  return *n;
}

namespace {

// Decodes the payload of reply `f` into `x`; an undecodable reply is an
// error naming the context.
template <class T>
void decode_reply(const serialization::frame& f, const std::string& context, T& x) {
  try {
    serialization::decode_exact(f.payload.data(), f.payload.size(), x);
  } catch (const serialization::decode_error& e) {
    throw error(e.code(), context,
                "undecodable " + std::string{serialization::type_registry::name(f.hdr.type)}
                  + " from '" + context + "': " + e.what());
  }
}

} // namespace

[[noreturn]] void throw_reply(const serialization::frame& f, const std::string& context) {
  using serialization::wire_type;
  if (f.hdr.type == serialization::to_u32(wire_type::call_error)) {
    serialization::call_error_info ce;
    decode_reply(f, context, ce);
    throw call_error(ce.context.empty() ? context : ce.context, ce.type, ce.message);
  }
  if (f.hdr.type == serialization::to_u32(wire_type::dead)) {
    serialization::dead_info d;
    decode_reply(f, context, d);
    auto code = static_cast<errc>(d.code);
    switch (code) {
      case errc::context_lost:
      case errc::shutting_down:
        throw context_lost(context, d.reason);
      case errc::module_denied:
        throw module_denied(context, d.reason);
      case errc::call_not_allowed:
      case errc::routing_not_allowed:
      case errc::file_not_allowed:
      case errc::type_not_allowed:
      case errc::source_mismatch:
        throw policy_error(code, context, d.reason);
      default:
        throw error(code, context, "call to '" + context + "' failed: " + d.reason);
    }
  }
  throw error(errc::protocol_error, context,
              "unexpected " + std::string{serialization::type_registry::name(f.hdr.type)}
                + " reply from '" + context + "'");
}

serialization::frame_header call_header(actors::runtime& rt, router::context_id dst) {
  return serialization::make_header(serialization::wire_type::call_request, dst, rt.self(), 0,
                                    rt.pending().next_handle());
}

std::future<serialization::frame> send_call(actors::runtime& rt, router::context_id dst,
                                            serialization::frame_builder&& fb) {
  auto handle = fb.header().reply_to;
  return rt.request(dst, handle, fb.finish_outgoing());
}

void send_no_reply(actors::runtime& rt, router::context_id dst, const std::string& context,
                   serialization::frame_builder&& fb) {
  if (auto reason = rt.lost_reason(dst))
    throw context_lost(context, *reason);
  if (auto err = rt.routes().send(dst, fb.finish_outgoing()); err != errc::none)
    throw_reply(actors::make_dead(err, to_string(err)), context);
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

} // namespace detail

namespace {

// The agent: serve the parent on fds 0/1 until it goes or says stop.
[[noreturn]] void run_agent() {
  auto boot = bootstrap::read_boot(0, 1, std::chrono::seconds{30});
  if (!boot.ok) {
    ::dprintf(2, "mitosis agent: %s\n", boot.error.c_str());
    ::_exit(3);
  }
  // Keep the protocol off fds 0/1 so that a user function printing to
  // stdout cannot corrupt the stream: stdout goes to stderr, stdin is empty.
  router::unique_fd in{::fcntl(0, F_DUPFD_CLOEXEC, 3)};
  router::unique_fd out{::fcntl(1, F_DUPFD_CLOEXEC, 3)};
  int devnull = ::open("/dev/null", O_RDONLY | O_CLOEXEC);
  if (devnull >= 0) {
    ::dup2(devnull, 0);
    ::close(devnull);
  }
  ::dup2(2, 1);
  {
    actors::runtime_options opts;
    actors::runtime rt{opts, boot.info, std::move(in), std::move(out)};
    rt.wait_for_shutdown();
    rt.shutdown();
  }
  spdlog::shutdown();
  ::_exit(0);
}

} // namespace

context parent() {
  auto* rt = actors::runtime::agent();
  if (!rt)
    throw error(errc::no_route, "master", "the master has no parent");
  return context{rt, rt->routes().config().parent_id, "parent"};
}

bool detail::send_raw_to_parent(const char* data, std::size_t size) {
  auto* rt = actors::runtime::agent();
  if (!rt)
    return false;
  return rt->routes().send_on(router::parent_stream, serialization::buffer(data, data + size));
}

void serve_if_agent(int, char**) {
  if (bootstrap::is_agent_process())
    run_agent();
}

master::master(int argc, char** argv, master_options opts) {
  serve_if_agent(argc, argv);
  actors::runtime_options ro;
  ro.name = opts.name;
  ro.pool_threads = opts.pool_threads;
  ro.log_level = opts.log_level;
  ro.connect_timeout = opts.connect_timeout;
  ro.max_frame = opts.max_frame;
  ro.max_routes_per_child = opts.max_routes_per_child;
  ro.max_violations = opts.max_violations;
  rt_ = std::make_unique<actors::runtime>(ro);
}

master::~master() {
  rt_->shutdown();
}

context master::local(local_options opts) {
  bootstrap::method_spec spec;
  spec.name = opts.name;
  spec.pipes = opts.pipes;
  return connect(spec, opts.via, opts.connect_timeout);
}

context master::connect(const bootstrap::method_spec& spec, const std::optional<context>& via,
                        std::chrono::milliseconds connect_timeout) {
  auto timeout = connect_timeout.count() ? connect_timeout : rt_->options().connect_timeout;
  actors::child_info c;
  if (via && via->id() != rt_->self())
    c = rt_->start_via(via->id(), via->name(), spec, timeout);
  else
    c = rt_->start(spec, timeout);
  if (c.pid) {
    std::lock_guard<std::mutex> guard{mtx_};
    pids_.emplace_back(c.id, c.pid);
  }
  return context{rt_.get(), c.id, c.name};
}

std::future<context> master::connect_async(bootstrap::method_spec spec,
                                           std::optional<context> via,
                                           std::chrono::milliseconds connect_timeout) {
  return std::async(std::launch::async, [this, spec = std::move(spec), via = std::move(via),
                                         connect_timeout] {
    return connect(spec, via, connect_timeout);
  });
}

bootstrap::method_spec master::spec_for(bootstrap::method_kind k, const hop_options& h) {
  bootstrap::method_spec s;
  s.kind = k;
  s.name = h.name;
  s.cache_dir = h.cache_dir;
  return s;
}

context master::ssh(ssh_options o, hop_options h) {
  return start_with(bootstrap::method_kind::ssh, &bootstrap::method_spec::ssh, std::move(o), h);
}

context master::become(bootstrap::method_kind k, become_options o, hop_options h) {
  return start_with(k, &bootstrap::method_spec::become, std::move(o), h);
}

context master::chroot(const std::string& path, hop_options h) {
  return start_with(bootstrap::method_kind::chroot, &bootstrap::method_spec::chroot_path, path, h);
}

context master::setns(setns_options o, hop_options h) {
  return start_with(bootstrap::method_kind::setns, &bootstrap::method_spec::ns, std::move(o), h);
}

context master::container(bootstrap::method_kind k, container_options o, hop_options h) {
  return start_with(k, &bootstrap::method_spec::container, std::move(o), h);
}

context master::shell(hop_options h) {
  return connect(spec_for(bootstrap::method_kind::shell, h), h.via, h.connect_timeout);
}

std::future<context> master::local_async(local_options opts) {
  return std::async(std::launch::async, [this, opts = std::move(opts)] { return local(opts); });
}

context master::self() {
  return context{rt_.get(), rt_->self(), rt_->name()};
}

void master::set_policy(const policy::rules& r) {
  rt_->set_rules(r);
}

void master::add_plugin(const std::string& name, const std::string& path) {
  rt_->add_module(name, path);
}

void master::preload_plugin(const context& c, const std::string& name) {
  rt_->push_module(c.id(), name);
}

void master::serve_files(const std::string& path) {
  rt_->files().serve(path);
}

void context::fetch_file(const std::string& remote_path, const std::string& local_path) const {
  rt_->fetch_file(id_, name_, remote_path, local_path);
}

void master::set_subtree_policy(const policy::rules& r) {
  rt_->set_subtree_rules(r);
}

int master::pid_of(const context& c) const {
  std::lock_guard<std::mutex> guard{mtx_};
  for (auto& [id, pid] : pids_)
    if (id == c.id())
      return pid;
  return 0;
}

} // namespace mitosis
