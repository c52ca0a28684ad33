#include "master.hpp"

#include <atomic>
#include <cstdlib>
#include <fcntl.h>
#include <spdlog/spdlog.h>
#include <unistd.h>

#include "here.hpp"
#include "runtime.hpp"
#include "throw_trace.hpp"
#include "../bootstrap/agent_boot.hpp"
#include "../bootstrap/fork_server.hpp"
#include "../bootstrap/local_method.hpp"
#include "../serialization/log.hpp"

namespace mitosis {


namespace {

// The agent: serve the parent on fds 0/1 until it goes or says stop.
[[noreturn]] void run_agent() {
  auto boot = bootstrap::read_boot(0, 1, std::chrono::seconds{30});
  if (!boot) {
    ::dprintf(2, "mitosis agent: %s\n", boot.error().reason.c_str());
    ::_exit(3);
  }
  // Keep the protocol off fds 0/1 so that a user function printing to
  // stdout cannot corrupt the stream: stdin is empty, and stdout goes to
  // stderr until the runtime captures both, before it serves the parent
  // (their lines go to the master's log, tagged with this context).
  router::unique_fd in{::fcntl(0, F_DUPFD_CLOEXEC, 3)};
  router::unique_fd out{::fcntl(1, F_DUPFD_CLOEXEC, 3)};
  int devnull = ::open("/dev/null", O_RDONLY | O_CLOEXEC);
  if (devnull >= 0) {
    ::dup2(devnull, 0);
    ::close(devnull);
  }
  ::dup2(2, 1);
  // No fork server yet: most contexts never start a child. The first local
  // start execs one (bootstrap/fork_server.hpp).
  {
    actors::runtime rt{router::options{}, *boot, std::move(in), std::move(out)};
    rt.wait_for_shutdown();
    rt.shutdown();
  }
  bootstrap::fork_server::stop();
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
  // A copy exec'd to be a fork server serves, and never returns.
  if (std::getenv(bootstrap::fork_server::serve_env))
    actors::throw_trace::warm(); // once here, not in each child it forks
  bootstrap::fork_server::serve_if_asked(&run_agent);
  if (bootstrap::is_agent_process())
    run_agent();
}

master::master(int argc, char** argv, master_options opts) {
  serve_if_agent(argc, argv);
  // The program loads in the server while the runtime starts here.
  bootstrap::start_fork_server();
  rt_ = std::make_unique<actors::runtime>(std::move(opts));
}

caf::actor_system& master::system() noexcept {
  return rt_->system();
}

master::~master() {
  join();
}

void master::shutdown() {
  {
    std::lock_guard<std::mutex> guard{stop_mtx_};
    if (stop_state_ != running)
      return;
    stop_state_ = stopping;
  }
  // On this thread: the actor system must not be destroyed on a thread of
  // our own while the program's threads still hold on to it (seen to block
  // ~actor_system).
  rt_->shutdown();
  {
    std::lock_guard<std::mutex> guard{stop_mtx_};
    stop_state_ = stopped;
  }
  stop_cv_.notify_all();
}

void master::join() {
  shutdown(); // nothing when it has begun elsewhere
  std::unique_lock<std::mutex> guard{stop_mtx_};
  stop_cv_.wait(guard, [this] { return stop_state_ == stopped; });
}

context master::local(local_options opts) {
  bootstrap::method_spec spec;
  spec.name = opts.name;
  spec.pipes = opts.pipes;
  return connect(spec, opts.via, opts.connect_timeout, opts.new_context);
}

context master::connect(const bootstrap::method_spec& spec, const std::optional<context>& via,
                        std::chrono::milliseconds connect_timeout, bool new_context) {
  int pid = 0;
  auto c = detail::connect(*rt_, spec, via, connect_timeout, &pid, new_context);
  if (pid) {
    std::lock_guard<std::mutex> guard{mtx_};
    pids_.emplace_back(c.id(), pid);
  }
  return c;
}

std::future<context> master::connect_async(bootstrap::method_spec spec,
                                           std::optional<context> via,
                                           std::chrono::milliseconds connect_timeout,
                                           bool new_context) {
  return std::async(std::launch::async, [this, spec = std::move(spec), via = std::move(via),
                                         connect_timeout, new_context] {
    return connect(spec, via, connect_timeout, new_context);
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
  return connect(spec_for(bootstrap::method_kind::shell, h), h.via, h.connect_timeout,
                 h.new_context);
}

std::future<context> master::local_async(local_options opts) {
  return std::async(std::launch::async, [this, opts = std::move(opts)] { return local(opts); });
}

router::router_actor master::router_actor() const {
  return rt_->router_actor();
}

context master::self() {
  return context{rt_.get(), rt_->self(), rt_->name()};
}

void master::set_policy(const policy::rules& r) {
  if (auto done = rt_->rules().set(r); !done)
    throw_failure(std::move(done).error(), rt_->name());
}

void master::add_plugin(const std::string& name, const std::string& path) {
  if (auto done = rt_->modules().add(name, path); !done)
    throw_failure(std::move(done).error(), rt_->name());
}

void master::preload_plugin(const context& c, const std::string& name) {
  if (auto done = rt_->modules().push(c.id(), name); !done)
    throw_failure(std::move(done).error(), c.name());
}

void master::serve_files(const std::string& path, const std::vector<context>& peers) {
  detail::serve_files(*rt_, path, peers);
}

std::vector<std::future<push_result>> master::push(const std::vector<context>& targets,
                                                   const std::string& local_path,
                                                   const std::string& remote_path,
                                                   const push_options& opts) {
  return detail::push(*rt_, targets, local_path, remote_path, opts);
}

void master::set_subtree_policy(const policy::rules& r) {
  if (auto done = rt_->rules().set_subtree(r); !done)
    throw_failure(std::move(done).error(), rt_->name());
}

int master::pid_of(const context& c) const {
  std::lock_guard<std::mutex> guard{mtx_};
  for (auto& [id, pid] : pids_)
    if (id == c.id())
      return pid;
  return 0;
}

} // namespace mitosis
