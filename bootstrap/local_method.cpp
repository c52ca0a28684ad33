#include "local_method.hpp"

#include <cerrno>
#include <climits>
#include <cstring>
#include <fcntl.h>
#include <spawn.h>
#include <sys/socket.h>
#include <system_error>
#include <unistd.h>
#include <initializer_list>
#include <utility>
#include <vector>

#include "bundle.hpp"
#include "fork_server.hpp"
#include "transport.hpp"
#include "../router/router.hpp"
#include "../serialization/frame.hpp"
#include "../serialization/handshake.hpp"

extern char** environ;

namespace mitosis::bootstrap {

namespace {

// Starts this executable (posix_spawn) with each `dups` entry's first fd
// as its second, the environment `env` and argv[0] `arg0`. `quiet`: its
// stdin is /dev/null and its stdout our stderr.
pid_t exec_self(std::initializer_list<std::pair<int, int>> dups,
                const std::vector<std::string>& env, const std::string& arg0,
                bool quiet = false);

constexpr int pipe_buffer = 1 << 20;

// The environment of a local child: ours, in agent mode, with our pid.
std::vector<std::string> child_environment() {
  std::vector<std::string> env_store;
  for (char** e = environ; e && *e; ++e) {
    if (std::strncmp(*e, "MITOSIS_AGENT=", 14) == 0
        || std::strncmp(*e, "MITOSIS_PARENT_PID=", 19) == 0
        || std::strncmp(*e, "MITOSIS_BUNDLE=", 15) == 0)
      continue;
    env_store.emplace_back(*e);
  }
  env_store.push_back(std::string{agent_env}.append("=1"));
  env_store.push_back(std::string{parent_pid_env}.append("=").append(std::to_string(::getpid())));
  // A copy running from an installed bundle starts its children the same
  // way: through the bundle's loader (there may be no /proc here).
  if (!installed_bundle_dir().empty())
    env_store.push_back(std::string{bundle_env}.append("=").append(installed_bundle_dir()));
  return env_store;
}

// Execs the program as our fork server (fork_server::exec_launcher). What
// main() does before the master it does there too: it must not read our
// stdin or print on our stdout (children get theirs with each request).
// argv[0] is the program's path, as the children it forks keep it (glibc's
// backtrace_symbols names the program by it); it names itself mitosis-fork.
pid_t exec_server(int server_fd, int fd_in_child, const std::vector<std::string>& env) {
  return exec_self({{server_fd, fd_in_child}}, env, self_exe(), true);
}

void write_all(int fd, const char* p, std::size_t n) {
  if (!router::write_fully(fd, p, n))
    throw std::system_error(errno, std::generic_category(), "writing to new child");
}

} // namespace

void start_fork_server() {
  fork_server::start(&exec_server, child_environment());
}

started_child start_local(const serialization::boot_info& boot, local_transport transport) {
  // ours_r/ours_w: our ends; child_in/child_out: the child's fds 0 and 1.
  router::unique_fd ours_r, ours_w, child_in, child_out;
  if (transport == local_transport::socketpair) {
    int sv[2];
    if (::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) != 0)
      throw std::system_error(errno, std::generic_category(), "socketpair");
    ours_r.reset(sv[0]);
    child_in.reset(sv[1]);
    // Socket buffers stay at the kernel's default (~208 KiB): measured, a
    // large frame moves faster through a small buffer that stays in cache
    // (the writer waits for the reader, see stream::send) than through a
    // 4 MiB one.
  } else {
    int down[2], up[2];
    if (::pipe2(down, O_CLOEXEC) != 0)
      throw std::system_error(errno, std::generic_category(), "pipe");
    child_in.reset(down[0]);
    ours_w.reset(down[1]);
    if (::pipe2(up, O_CLOEXEC) != 0)
      throw std::system_error(errno, std::generic_category(), "pipe");
    ours_r.reset(up[0]);
    child_out.reset(up[1]);
    for (int fd : {down[1], up[1]})
      ::fcntl(fd, F_SETPIPE_SZ, pipe_buffer);
  }
  int out_fd = child_out.get() >= 0 ? child_out.get() : child_in.get();
  int write_fd = ours_w.get() >= 0 ? ours_w.get() : ours_r.get();

  auto env_store = child_environment();
  pid_t pid = 0;
  // Forked from this process's fork server (an agent execs its own on its
  // first local start): no exec per child.
  if (auto forked = fork_server::spawn(child_in.get(), out_fd, env_store, "mitosis:" + boot.name,
                                       exec_server)) {
    pid = *forked;
  } else {
    pid = exec_self({{child_in.get(), 0}, {out_fd, 1}}, env_store, "mitosis:" + boot.name);
  }
  child_in.reset();
  child_out.reset();
  try {
    send_boot(write_fd, boot);
  } catch (...) {
    // The child is gone already (it closed its end before our hello): the
    // start fails here, before anyone else knows its pid, so it is reaped
    // here (seen under load: zombies left until the master exited).
    stop_program(pid);
    throw;
  }
  return started_child{pid, std::move(ours_r), std::move(ours_w)};
}

namespace {

pid_t exec_self(std::initializer_list<std::pair<int, int>> dups,
                const std::vector<std::string>& env, const std::string& arg0_in, bool quiet) {
  posix_spawn_file_actions_t fa;
  posix_spawn_file_actions_init(&fa);
  for (auto [from, to] : dups)
    posix_spawn_file_actions_adddup2(&fa, from, to);
  if (quiet) {
    posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
    posix_spawn_file_actions_adddup2(&fa, 2, 1);
  }
  std::vector<std::string> env_store = env;
  std::vector<char*> envp;
  for (auto& s : env_store)
    envp.push_back(s.data());
  envp.push_back(nullptr);
  auto cmd = self_command(arg0_in);
  std::string arg0 = arg0_in;
  std::vector<char*> argv;
  argv.push_back(cmd.size() == 1 ? arg0.data() : cmd[0].data());
  for (std::size_t i = 1; i < cmd.size(); ++i)
    argv.push_back(cmd[i].data());
  argv.push_back(nullptr);
  pid_t pid = 0;
  int rc = ::posix_spawn(&pid, cmd[0].c_str(), &fa, nullptr, argv.data(), envp.data());
  posix_spawn_file_actions_destroy(&fa);
  if (rc != 0)
    throw std::system_error(rc, std::generic_category(), "posix_spawn " + cmd[0]);
  return pid;
}

} // namespace

std::uint32_t attach_child(router::router& r, const serialization::boot_info& boot, int pid,
                           router::unique_fd rfd, router::unique_fd wfd,
                           std::shared_ptr<router::stream_driver> driver) {
  r.announce_route(boot.id, boot.name, true);
  router::stream_options opts;
  opts.peer_name = boot.name;
  opts.peer_id = boot.id;
  opts.pid = pid;
  opts.driver = std::move(driver);
  return r.add_stream(std::move(rfd), std::move(wfd), std::move(opts));
}

void send_boot(int write_fd, const serialization::boot_info& boot) {
  // Our hello and the boot frame go first; the socket buffer holds them
  // until the child reads, so this never waits on the child.
  std::byte hello[serialization::hello::size];
  serialization::encode(serialization::local_hello(), hello);
  write_all(write_fd, reinterpret_cast<const char*>(hello), sizeof(hello));
  auto wire = serialization::frame_builder{
                serialization::make_header(serialization::wire_type::boot, boot.id,
                                           boot.parent_id)}
                .add(boot)
                .finish();
  write_all(write_fd, wire.data(), wire.size());
}

} // namespace mitosis::bootstrap
