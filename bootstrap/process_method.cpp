#include "process_method.hpp"

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <fcntl.h>
#include <mutex>
#include <poll.h>
#include <sched.h>
#include <stdexcept>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <system_error>
#include <termios.h>
#include <thread>
#include <unistd.h>

#include <spdlog/spdlog.h>

#include "../serialization/log.hpp"

extern char** environ;

namespace mitosis::bootstrap {

namespace {

bool uses_full_pty(method_kind k) {
  return k == method_kind::su;
}

bool uses_tty(method_kind k) {
  return k == method_kind::sudo || k == method_kind::doas || k == method_kind::su;
}

std::string find_program(const std::string& name) {
  if (name.find('/') != std::string::npos)
    return name;
  const char* path = std::getenv("PATH");
  std::string dirs = path && *path ? path : "/usr/local/bin:/usr/bin:/bin:/usr/sbin:/sbin";
  dirs += ":/usr/sbin:/sbin";
  std::size_t start = 0;
  while (start <= dirs.size()) {
    auto end = dirs.find(':', start);
    if (end == std::string::npos)
      end = dirs.size();
    auto cand = dirs.substr(start, end - start) + "/" + name;
    if (end > start && ::access(cand.c_str(), X_OK) == 0)
      return cand;
    start = end + 1;
  }
  throw std::runtime_error("program '" + name + "' not found on PATH");
}

std::string ns_path(const std::string& t) {
  return t.find('/') == std::string::npos ? "/run/netns/" + t : t;
}

struct ns_fd {
  router::unique_fd fd;
  int type;
};

// Child side after fork: only async-signal-safe calls. Reports a failure
// as (stage, errno) on `status` and exits.
[[noreturn]] void child_fail(int status, int stage) {
  int msg[2] = {stage, errno};
  auto w = ::write(status, msg, sizeof(msg));
  (void)w;
  ::_exit(127);
}

enum fail_stage : int { st_setsid = 1, st_tty, st_dup, st_chroot, st_setns, st_exec };

std::string describe_failure(int stage, int err, const method_spec& s, const std::string& prog) {
  std::string why = std::strerror(err);
  switch (stage) {
    case st_chroot:
      return "cannot chroot to " + s.chroot_path + ": " + why;
    case st_setns:
      return "cannot enter the namespace(s) of " + describe(s) + ": " + why;
    case st_exec:
      if (err == ENOENT && prog == "/bin/sh")
        return "stage-1 found no /bin/sh on the target (" + why + ")";
      return "cannot execute " + prog + ": " + why;
    default:
      return "cannot prepare the child process: " + why;
  }
}

constexpr const char* sudo_login_reader = "eval \"`head -n1`\"";

// su and doas have no SELinux options; doas neither a login shell nor a
// flag to keep the environment (doas.conf's keepenv decides).
void refuse_unsupported(const method_spec& s) {
  const auto& b = s.become;
  std::string what;
  if (!b.selinux_role.empty() || !b.selinux_type.empty())
    what = "selinux_role/selinux_type (sudo only)";
  else if (s.kind == method_kind::doas && b.login)
    what = "login (doas has no login shell option)";
  else if (s.kind == method_kind::doas && b.preserve_env)
    what = "preserve_env (doas keeps the environment only by doas.conf's keepenv)";
  if (!what.empty())
    throw method_error(errc::spawn_failed, describe(s) + ": " + to_string(s.kind)
                                             + " does not take " + what);
}

} // namespace

std::vector<std::string> process_argv(const method_spec& s, const std::string& script) {
  auto user = s.become.user.empty() ? std::string{"root"} : s.become.user;
  std::vector<std::string> argv;
  switch (s.kind) {
    case method_kind::sudo: {
      const auto& b = s.become;
      argv = {"sudo", "-p", "[mitosis] sudo password:", "-u", user};
      if (b.preserve_env)
        argv.push_back("-E");
      if (b.set_home)
        argv.push_back("-H");
      if (b.login)
        argv.push_back("-i");
      if (!b.selinux_role.empty())
        argv.insert(argv.end(), {"-r", b.selinux_role});
      if (!b.selinux_type.empty())
        argv.insert(argv.end(), {"-t", b.selinux_type});
      argv.insert(argv.end(), b.extra_args.begin(), b.extra_args.end());
      // sudo -i hands the command to the login shell with every character
      // but letters, digits, '_', '-' and '$' escaped: the '$'s of stage-1
      // would be expanded there. So the command (no '$') reads stage-1
      // from the stream's first line instead (start_process sends it).
      argv.insert(argv.end(), {"--", "/bin/sh", "-c", b.login ? sudo_login_reader : script});
      break;
    }
    case method_kind::doas:
      refuse_unsupported(s);
      argv = {"doas", "-u", user};
      argv.insert(argv.end(), s.become.extra_args.begin(), s.become.extra_args.end());
      argv.insert(argv.end(), {"/bin/sh", "-c", script});
      break;
    case method_kind::su:
      refuse_unsupported(s);
      argv = {"su"};
      if (s.become.login)
        argv.push_back("-l");
      if (s.become.preserve_env)
        argv.push_back("-m");
      argv.insert(argv.end(), s.become.extra_args.begin(), s.become.extra_args.end());
      argv.insert(argv.end(), {user, "-c", "exec /bin/sh -c " + sh_quote(script)});
      break;
    case method_kind::docker:
    case method_kind::podman: {
      const auto& c = s.container;
      argv = {c.program.empty() ? to_string(s.kind) : c.program};
      argv.insert(argv.end(), c.global_args.begin(), c.global_args.end());
      argv.insert(argv.end(), {"exec", "-i"});
      if (!c.user.empty())
        argv.insert(argv.end(), {"-u", c.user});
      argv.insert(argv.end(), c.extra_args.begin(), c.extra_args.end());
      argv.insert(argv.end(), {c.container, "/bin/sh", "-c", script});
      break;
    }
    case method_kind::chroot:
    case method_kind::setns:
    case method_kind::shell:
      argv = {"/bin/sh", "-c", script};
      break;
    default:
      throw std::runtime_error(std::string{"method "} + to_string(s.kind)
                               + " does not start a local program");
  }
  return argv;
}

transport start_process(const method_spec& s, const std::string& script) {
  auto argv_store = process_argv(s, script);
  std::string prog = argv_store[0] == "/bin/sh" ? argv_store[0] : find_program(argv_store[0]);
  if (s.kind == method_kind::chroot && s.chroot_path.empty())
    throw std::runtime_error("chroot needs a directory");
  if (s.kind == method_kind::setns && s.ns.net.empty() && s.ns.mount.empty() && !s.ns.pid)
    throw std::runtime_error("setns needs a namespace (net, mount or pid)");
  if (s.kind == method_kind::setns && s.ns.pid && !(s.ns.net.empty() && s.ns.mount.empty()))
    throw std::runtime_error("setns takes either a pid or net/mount paths, not both");

  // Namespaces are opened here, where errors can still be reported.
  std::vector<ns_fd> nss;
  auto open_ns = [&](const std::string& path, int type) {
    int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0)
      throw std::system_error(errno, std::generic_category(), "cannot open namespace " + path);
    nss.push_back({router::unique_fd{fd}, type});
  };
  if (s.kind == method_kind::setns) {
    if (s.ns.pid) {
      auto base = "/proc/" + std::to_string(s.ns.pid) + "/ns/";
      open_ns(base + "ipc", CLONE_NEWIPC);
      open_ns(base + "uts", CLONE_NEWUTS);
      open_ns(base + "net", CLONE_NEWNET);
      open_ns(base + "mnt", CLONE_NEWNS);
    } else {
      if (!s.ns.net.empty())
        open_ns(ns_path(s.ns.net), CLONE_NEWNET);
      if (!s.ns.mount.empty())
        open_ns(s.ns.mount, CLONE_NEWNS);
    }
  }

  transport t;
  router::unique_fd child_io, child_tty;
  if (uses_full_pty(s.kind) || uses_tty(s.kind)) {
    int master = ::posix_openpt(O_RDWR | O_NOCTTY | O_CLOEXEC);
    t.tty.reset(master);
    if (master < 0 || ::grantpt(master) != 0 || ::unlockpt(master) != 0)
      throw std::system_error(errno, std::generic_category(), "cannot open a pty");
    char name[128];
    if (::ptsname_r(master, name, sizeof(name)) != 0)
      throw std::system_error(errno, std::generic_category(), "ptsname");
    child_tty.reset(::open(name, O_RDWR | O_NOCTTY | O_CLOEXEC));
    if (child_tty.get() < 0)
      throw std::system_error(errno, std::generic_category(), std::string{"open "} + name);
    // Raw and silent: prompts arrive as typed, the stream passes 8-bit clean.
    termios tio {};
    ::tcgetattr(child_tty.get(), &tio);
    ::cfmakeraw(&tio);
    ::tcsetattr(child_tty.get(), TCSANOW, &tio);
  }
  if (uses_full_pty(s.kind)) {
    t.rfd = std::move(t.tty);
    t.prompts = prompt_answerer{-1, s.become.password, to_string(s.kind), s.become.prompts,
                                s.become.failures};
    t.quiet_stderr = true;
  } else {
    int sv[2];
    if (::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) != 0)
      throw std::system_error(errno, std::generic_category(), "socketpair");
    t.rfd.reset(sv[0]);
    child_io.reset(sv[1]);
    if (uses_tty(s.kind))
      t.prompts = prompt_answerer{t.tty.get(), s.become.password, to_string(s.kind),
                                  s.become.prompts, s.become.failures};
  }

  std::vector<std::string> env_store;
  for (char** e = environ; e && *e; ++e) {
    if (std::strncmp(*e, "MITOSIS_", 8) == 0 || std::strncmp(*e, "LC_ALL=", 7) == 0)
      continue;
    env_store.emplace_back(*e);
  }
  // Prompts and messages in English: they are recognised by text.
  env_store.emplace_back("LC_ALL=C");
  std::vector<char*> envp, argv;
  for (auto& e : env_store)
    envp.push_back(e.data());
  envp.push_back(nullptr);
  for (auto& a : argv_store)
    argv.push_back(a.data());
  argv.push_back(nullptr);

  // Methods without a tty: stderr through a pipe, read for error messages
  // during stage-1 and logged afterwards.
  router::unique_fd child_err;
  if (!uses_tty(s.kind)) {
    int ep[2];
    if (::pipe2(ep, O_CLOEXEC) != 0)
      throw std::system_error(errno, std::generic_category(), "pipe");
    t.tty.reset(ep[0]);
    child_err.reset(ep[1]);
    ::fcntl(ep[0], F_SETFL, O_NONBLOCK);
    t.stderr_text = [fd = ep[0], text = std::make_shared<std::string>()] {
      char buf[1024];
      ssize_t r;
      while ((r = ::read(fd, buf, sizeof(buf))) > 0)
        text->append(buf, static_cast<std::size_t>(r));
      return *text;
    };
  }

  int status[2];
  if (::pipe2(status, O_CLOEXEC) != 0)
    throw std::system_error(errno, std::generic_category(), "pipe");
  router::unique_fd status_r{status[0]}, status_w{status[1]};
  int io = uses_full_pty(s.kind) ? child_tty.get() : child_io.get();
  int tty = child_tty.get();
  int err = child_err.get();
  bool chroot_into = s.kind == method_kind::chroot;
  const char* root = s.chroot_path.c_str();
  const char* path = prog.c_str();

  pid_t pid = ::fork();
  if (pid < 0)
    throw std::system_error(errno, std::generic_category(), "fork");
  if (pid == 0) {
    int sw = status_w.get();
    if (tty >= 0) {
      if (::setsid() < 0)
        child_fail(sw, st_setsid);
      if (::ioctl(tty, TIOCSCTTY, 0) < 0)
        child_fail(sw, st_tty);
    }
    if (::dup2(io, 0) < 0 || ::dup2(io, 1) < 0)
      child_fail(sw, st_dup);
    if (tty >= 0 && ::dup2(tty, 2) < 0)
      child_fail(sw, st_dup);
    if (err >= 0 && ::dup2(err, 2) < 0)
      child_fail(sw, st_dup);
    for (auto& n : nss)
      if (::setns(n.fd.get(), n.type) != 0)
        child_fail(sw, st_setns);
    if (!nss.empty() && ::chdir("/") != 0)
      child_fail(sw, st_setns);
    if (chroot_into && (::chroot(root) != 0 || ::chdir("/") != 0))
      child_fail(sw, st_chroot);
    ::execve(path, argv.data(), envp.data());
    child_fail(sw, st_exec);
  }
  status_w.reset();
  child_io.reset();
  child_tty.reset();
  child_err.reset();
  int msg[2] = {0, 0};
  ssize_t n;
  while ((n = ::read(status_r.get(), msg, sizeof(msg))) < 0 && errno == EINTR) {
  }
  if (n == static_cast<ssize_t>(sizeof(msg))) {
    int st = 0;
    ::waitpid(pid, &st, 0);
    // No /bin/sh on the target: stage-1 cannot run there.
    if (msg[0] == st_exec && msg[1] == ENOENT && prog == "/bin/sh")
      throw method_error(errc::bootstrap_failed, describe_failure(msg[0], msg[1], s, path));
    throw std::runtime_error(describe_failure(msg[0], msg[1], s, path));
  }
  t.pid = pid;
  if (s.kind == method_kind::sudo && s.become.login) {
    // Read by sudo_login_reader once the login shell runs (the password
    // prompt, if any, is on the tty, not the stream).
    auto line = script + "\n";
    if (!router::write_fully(t.rfd.get(), line.data(), line.size()))
      throw std::system_error(errno, std::generic_category(), "cannot send stage-1 to sudo -i");
  }
  return t;
}

namespace {

// One thread reads every drained fd; lines go to the "stderr" logger.
class drainer {
public:
  static drainer& instance() {
    static drainer* d = new drainer; // never destroyed: threads may log late
    return *d;
  }

  void add(router::unique_fd fd, std::string context) {
    std::lock_guard<std::mutex> guard{mtx_};
    entries_.push_back({std::move(fd), std::move(context), {}});
    if (!started_) {
      started_ = true;
      if (::pipe2(wake_, O_CLOEXEC | O_NONBLOCK) != 0)
        return;
      std::thread{[this] { run(); }}.detach();
    } else {
      char c = 1;
      auto w = ::write(wake_[1], &c, 1);
      (void)w;
    }
  }

private:
  struct entry {
    router::unique_fd fd;
    std::string context;
    std::string partial;
  };

  void run() {
    auto lg = log::get("stderr");
    std::vector<pollfd> pfds;
    for (;;) {
      {
        std::lock_guard<std::mutex> guard{mtx_};
        pfds.assign(1, pollfd{wake_[0], POLLIN, 0});
        for (auto& e : entries_)
          pfds.push_back({e.fd.get(), POLLIN, 0});
      }
      if (::poll(pfds.data(), pfds.size(), -1) < 0 && errno != EINTR)
        return;
      if (pfds[0].revents) {
        char buf[64];
        while (::read(wake_[0], buf, sizeof(buf)) > 0) {
        }
      }
      std::lock_guard<std::mutex> guard{mtx_};
      for (std::size_t i = 1; i < pfds.size(); ++i) {
        if (!pfds[i].revents)
          continue;
        auto& e = entries_[i - 1];
        char buf[4096];
        auto r = ::read(e.fd.get(), buf, sizeof(buf));
        if (r > 0) {
          e.partial.append(buf, static_cast<std::size_t>(r));
          std::size_t nl;
          while ((nl = e.partial.find('\n')) != std::string::npos) {
            auto line = e.partial.substr(0, nl);
            if (!line.empty() && line.back() == '\r')
              line.pop_back();
            if (!line.empty())
              lg->info("[{}] {}", e.context, line);
            e.partial.erase(0, nl + 1);
          }
          if (e.partial.size() > 4096)
            e.partial.clear();
        } else if (r == 0 || (errno != EINTR && errno != EAGAIN)) {
          e.fd.reset();
        }
      }
      std::erase_if(entries_, [](const entry& e) { return e.fd.get() < 0; });
    }
  }

  std::mutex mtx_;
  std::vector<entry> entries_;
  bool started_ = false;
  int wake_[2] = {-1, -1};
};

} // namespace

void drain_lines(router::unique_fd fd, std::string context) {
  if (fd.get() < 0)
    return;
  drainer::instance().add(std::move(fd), std::move(context));
}

} // namespace mitosis::bootstrap
