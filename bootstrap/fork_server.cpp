#include "fork_server.hpp"

#include <cerrno>
#include <csignal>
#include <cstdlib>
#include <cstring>
#include <fcntl.h>
#include <fstream>
#include <mutex>
#include <poll.h>
#include <sched.h>
#include <stdio_ext.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

namespace mitosis::bootstrap::fork_server {

namespace {

// A request: the child's name, then its environment, each ending in a NUL;
// with it, as SCM_RIGHTS, its fds 0, 1 and 2 and its working directory.
// The answer: an int, the child's pid or -errno.
constexpr std::size_t max_request = 192 * 1024;
constexpr int request_fds = 4;
// The signals a terminal sends its whole foreground group: the server
// ignores them (our process decides what they mean), its children get the
// dispositions the process had.
constexpr int shielded[] = {SIGINT, SIGQUIT, SIGTSTP};

std::mutex mtx;           // one request at a time; guards the rest
int ctl = -1;             // our end of the server's socket
pid_t server_pid = -1;    // to reap it when it goes
bool tried = false;       // a server was started (once per process)
bool ready_pending = false; // started by start(): its "ready" not read yet
// The server's fd in a process exec'd to be one.
constexpr int exec_server_fd = 3;

// Whether this process has exactly one thread, the main one.
bool single_threaded_main() {
  if (::gettid() != ::getpid())
    return false;
  std::ifstream st{"/proc/self/stat"};
  std::string line;
  if (!std::getline(st, line))
    return false; // no /proc: we cannot tell
  auto close = line.rfind(')');
  if (close == std::string::npos)
    return false;
  // Fields after "pid (comm)": state is field 3, num_threads field 20.
  const char* p = line.c_str() + close + 1;
  for (int field = 3; field < 20; ++field) {
    p = std::strchr(p + 1, ' ');
    if (!p)
      return false;
  }
  return std::atoi(p + 1) == 1;
}

bool std_fds_open() {
  for (int fd = 0; fd <= 2; ++fd)
    if (::fcntl(fd, F_GETFD) < 0)
      return false;
  return true;
}

// In a new child: its fds, signals, environment and directory, then the
// agent. `req` lives as long as the child (the server's buffer, copied).
[[noreturn]] void become_child(char* req, std::size_t len, const int* fds,
                               const struct sigaction* saved, void (*entry)()) {
  // The server's copy of our state is from serve_if_asked(): this child
  // never had a server, and execs one of its own on its first local start.
  // (One thread here: nobody holds mtx.)
  tried = false;
  ready_pending = false;
  ctl = -1;
  server_pid = -1;
  // fds[] are >= 3 (0-2 are open in the server), so each dup2 makes a new
  // descriptor without close-on-exec.
  if (::dup2(fds[0], 0) < 0 || ::dup2(fds[1], 1) < 0 || ::dup2(fds[2], 2) < 0
      || ::fchdir(fds[3]) != 0)
    ::_exit(127);
  ::close_range(3, ~0U, 0);
  for (std::size_t i = 0; i < std::size(shielded); ++i)
    ::sigaction(shielded[i], &saved[i], nullptr);
  sigset_t none;
  sigemptyset(&none);
  ::sigprocmask(SIG_SETMASK, &none, nullptr);
  const char* name = req;
  char* p = req + std::strlen(req) + 1;
  ::clearenv();
  for (char* end = req + len; p < end; p += std::strlen(p) + 1)
    if (*p)
      ::putenv(p);
  char comm[16] = {};
  std::strncpy(comm, name, sizeof(comm) - 1);
  ::prctl(PR_SET_NAME, comm);
  entry();
  ::_exit(0);
}

// The server's loop: one child per request, until our end closes. It
// first says it is ready: an answer of 0.
[[noreturn]] void serve(int fd, pid_t parent, void (*entry)()) {
  ::prctl(PR_SET_PDEATHSIG, SIGKILL);
  if (::getppid() != parent)
    ::_exit(0);
  // Hold nothing of the process but 0-2 and the socket: no stream of ours
  // may stay open in here.
  if (fd > 3)
    ::close_range(3, static_cast<unsigned>(fd - 1), 0);
  ::close_range(static_cast<unsigned>(fd + 1), ~0U, 0);
  ::prctl(PR_SET_NAME, "mitosis-fork");
  // What the process had buffered in stdio is its own to write: a copy
  // would write it again when a child flushes.
  ::__fpurge(stdin);
  ::__fpurge(stdout);
  ::__fpurge(stderr);
  struct sigaction saved[std::size(shielded)];
  for (std::size_t i = 0; i < std::size(shielded); ++i) {
    struct sigaction ign {};
    ign.sa_handler = SIG_IGN;
    ::sigaction(shielded[i], &ign, &saved[i]);
  }
  // Never freed: a child keeps its copy of the request it was born with.
  auto* buf = static_cast<char*>(std::malloc(max_request + 1));
  if (!buf)
    ::_exit(1);
  const int ready = 0;
  if (::send(fd, &ready, sizeof(ready), MSG_NOSIGNAL) != sizeof(ready))
    ::_exit(0);
  for (;;) {
    iovec iov{buf, max_request};
    alignas(cmsghdr) char cbuf[CMSG_SPACE(sizeof(int) * request_fds)];
    msghdr m{};
    m.msg_iov = &iov;
    m.msg_iovlen = 1;
    m.msg_control = cbuf;
    m.msg_controllen = sizeof(cbuf);
    auto n = ::recvmsg(fd, &m, MSG_CMSG_CLOEXEC);
    if (n < 0 && errno == EINTR)
      continue;
    if (n <= 0)
      ::_exit(0); // the process is gone or let us go
    int fds[request_fds];
    int got = 0;
    for (auto* c = CMSG_FIRSTHDR(&m); c; c = CMSG_NXTHDR(&m, c))
      if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_RIGHTS) {
        auto k = static_cast<int>((c->cmsg_len - CMSG_LEN(0)) / sizeof(int));
        for (int i = 0; i < k; ++i) {
          int f;
          std::memcpy(&f, CMSG_DATA(c) + i * sizeof(int), sizeof(int));
          if (got < request_fds)
            fds[got++] = f;
          else
            ::close(f);
        }
      }
    int answer;
    if (got != request_fds || (m.msg_flags & (MSG_TRUNC | MSG_CTRUNC)) != 0) {
      answer = -EPROTO;
    } else {
      buf[n] = '\0';
      // CLONE_PARENT: the child is the process's, not ours.
      long pid = ::syscall(SYS_clone, CLONE_PARENT | SIGCHLD, nullptr, nullptr, nullptr, 0);
      if (pid == 0)
        become_child(buf, static_cast<std::size_t>(n), fds, saved, entry);
      answer = pid < 0 ? -errno : static_cast<int>(pid);
    }
    for (int i = 0; i < got; ++i)
      ::close(fds[i]);
    if (::send(fd, &answer, sizeof(answer), MSG_NOSIGNAL) != sizeof(answer))
      ::_exit(0);
  }
}

// Stops using the server and reaps it (it is ours): closing the control
// socket makes it read EOF and exit; `kill` first when it stopped answering
// or may still be loading (its main() might not reach the master).
void close_locked(bool kill) {
  kill = kill || ready_pending;
  ready_pending = false;
  if (ctl >= 0)
    ::close(ctl);
  ctl = -1;
  if (server_pid > 0) {
    if (kill)
      ::kill(server_pid, SIGKILL);
    while (::waitpid(server_pid, nullptr, 0) < 0 && errno == EINTR) {
    }
  }
  server_pid = -1;
}

// The server stopped answering.
void gone_locked() {
  close_locked(true);
}

bool turned_off() noexcept {
  auto v = std::getenv(env_switch);
  return v && std::strcmp(v, "0") == 0;
}

// Reads the exec'd server's first answer, which says it is serving: the
// program loaded and ran main() up to its master. As long as an agent's
// hello may take (30 s); a copy that exits before (no /proc, threads
// before the master) says nothing, and is reaped.
bool wait_ready_locked() {
  ready_pending = false;
  pollfd pfd{ctl, POLLIN, 0};
  int ready = -1;
  int rc;
  do {
    rc = ::poll(&pfd, 1, 30000);
  } while (rc < 0 && errno == EINTR);
  if (rc <= 0 || ::recv(ctl, &ready, sizeof(ready), 0) != sizeof(ready) || ready != 0) {
    gone_locked();
    return false;
  }
  return true;
}

// Execs the program as this process's server (LD_BIND_NOW: every symbol
// bound once, there, not again in each child it forks), once per process.
// `wait`: until it is ready; otherwise the first spawn() waits.
bool exec_locked(const exec_launcher& launch, const std::vector<std::string>& env, bool wait) {
  if (!launch || tried)
    return false;
  tried = true;
  int sv[2];
  if (::socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) != 0)
    return false;
  // The child's copy must come from another fd (a dup2 onto itself would
  // leave close-on-exec set).
  if (sv[1] == exec_server_fd) {
    int moved = ::fcntl(sv[1], F_DUPFD_CLOEXEC, exec_server_fd + 1);
    ::close(sv[1]);
    sv[1] = moved;
  }
  std::vector<std::string> server_env;
  // MITOSIS_AGENT stays: the program's main() runs up to its master as in
  // any context (serve_if_asked unsets it).
  const std::size_t serve_len = std::strlen(serve_env);
  for (auto& e : env)
    if (e.rfind("MITOSIS_PARENT_PID=", 0) != 0 && e.rfind("LD_BIND_NOW=", 0) != 0
        && !(e.compare(0, serve_len, serve_env) == 0 && e.size() > serve_len
             && e[serve_len] == '='))
      server_env.push_back(e);
  std::string serve = serve_env;
  serve += '=';
  serve += std::to_string(exec_server_fd);
  serve += ':';
  serve += std::to_string(::getpid());
  server_env.push_back(std::move(serve));
  server_env.emplace_back("LD_BIND_NOW=1");
  pid_t pid = -1;
  if (sv[1] >= 0) {
    try {
      pid = launch(sv[1], exec_server_fd, server_env);
    } catch (...) {
      pid = -1;
    }
    ::close(sv[1]);
  }
  if (pid <= 0) {
    ::close(sv[0]);
    return false;
  }
  ctl = sv[0];
  server_pid = pid;
  ready_pending = true;
  return !wait || wait_ready_locked();
}

} // namespace

void start(const exec_launcher& launch, const std::vector<std::string>& env) noexcept {
  // PR_SET_PDEATHSIG follows the thread that makes the server: only the
  // main thread does (a master made on another thread leaves its starts to
  // the spawner: exec).
  if (turned_off())
    return; // read again at each start
  std::lock_guard<std::mutex> guard{mtx};
  if (::gettid() != ::getpid() || !std_fds_open())
    tried = true; // (its copy, made on a thread too, could not serve)
  else if (ctl < 0)
    exec_locked(launch, env, false);
}

void serve_if_asked(void (*entry)()) noexcept {
  const char* v = std::getenv(serve_env);
  if (!v)
    return;
  char* end = nullptr;
  long fd = std::strtol(v, &end, 10);
  long parent = end && *end == ':' ? std::strtol(end + 1, nullptr, 10) : 0;
  if (fd < 3 || parent <= 0)
    ::_exit(2);
  // A program that starts threads before its master cannot serve: its
  // agent starts children through exec instead (the server is gone).
  if (!single_threaded_main())
    ::_exit(2);
  ::unsetenv(serve_env);
  ::unsetenv("LD_BIND_NOW");
  ::unsetenv("MITOSIS_AGENT");
  serve(static_cast<int>(fd), static_cast<pid_t>(parent), entry);
}

void stop() noexcept {
  std::lock_guard<std::mutex> guard{mtx};
  if (ctl >= 0)
    close_locked(false);
}

std::optional<int> spawn(int in_fd, int out_fd, const std::vector<std::string>& env,
                         const std::string& name, const exec_launcher& exec_server) {
  if (turned_off())
    return std::nullopt;
  std::string req = name;
  req.push_back('\0');
  for (auto& e : env) {
    req += e;
    req.push_back('\0');
  }
  if (req.size() > max_request)
    return std::nullopt; // an environment this big goes through exec
  int cwd = ::open(".", O_PATH | O_DIRECTORY | O_CLOEXEC);
  if (cwd < 0)
    return std::nullopt;
  std::lock_guard<std::mutex> guard{mtx};
  if ((ctl < 0 && !exec_locked(exec_server, env, true)) || (ready_pending && !wait_ready_locked())) {
    ::close(cwd);
    return std::nullopt;
  }
  const int fds[request_fds] = {in_fd, out_fd, 2, cwd};
  iovec iov{req.data(), req.size()};
  alignas(cmsghdr) char cbuf[CMSG_SPACE(sizeof(fds))] = {};
  msghdr m{};
  m.msg_iov = &iov;
  m.msg_iovlen = 1;
  m.msg_control = cbuf;
  m.msg_controllen = sizeof(cbuf);
  auto* c = CMSG_FIRSTHDR(&m);
  c->cmsg_level = SOL_SOCKET;
  c->cmsg_type = SCM_RIGHTS;
  c->cmsg_len = CMSG_LEN(sizeof(fds));
  std::memcpy(CMSG_DATA(c), fds, sizeof(fds));
  ssize_t sent;
  do {
    sent = ::sendmsg(ctl, &m, MSG_NOSIGNAL);
  } while (sent < 0 && errno == EINTR);
  ::close(cwd);
  if (sent != static_cast<ssize_t>(req.size())) {
    gone_locked();
    return std::nullopt;
  }
  // A fork takes well under a millisecond (an exec'd server said it was
  // ready before its first request); a server that has not answered in
  // 10 s is stuck, and starts go through exec from now on.
  pollfd pfd{ctl, POLLIN, 0};
  int answer = 0;
  for (;;) {
    int rc = ::poll(&pfd, 1, 10000);
    if (rc < 0 && errno == EINTR)
      continue;
    if (rc <= 0 || ::recv(ctl, &answer, sizeof(answer), 0) != sizeof(answer)) {
      gone_locked();
      return std::nullopt;
    }
    break;
  }
  if (answer <= 0)
    return std::nullopt; // could not fork: exec will say why
  return answer;
}

} // namespace mitosis::bootstrap::fork_server
