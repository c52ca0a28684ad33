// The fork server (bootstrap/fork_server.hpp): local children are forked
// from a copy of the program exec'd once (the master's at its constructor,
// an agent's at its first local start), not exec'd each; they are still
// our children, with the environment and working directory of the start;
// MITOSIS_FORK_SERVER=0 and a server that is gone both fall back to exec;
// a server is reaped when it goes.
#include <catch2/catch.hpp>

#include <chrono>
#include <climits>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <thread>
#include <unistd.h>

#include "loss_helpers.hpp"
#include "mitosis/mitosis.hpp"
#include "proc_helpers.hpp"
#include "test_functions.hpp"

using namespace std::chrono_literals;

namespace {

// What the symbolic link `path` names ("" when it cannot be read).
std::string link_of(const std::string& path) {
  char buf[PATH_MAX];
  auto n = ::readlink(path.c_str(), buf, sizeof(buf));
  return n > 0 ? std::string(buf, static_cast<std::size_t>(n)) : std::string{};
}

std::string my_cwd() {
  return link_of("/proc/self/cwd");
}

// This program's own name as the kernel has it (an exec'd copy has it too).
std::string exe_comm() {
  auto c = read_text("/proc/self/comm");
  return c.substr(0, c.find('\n'));
}

std::string comm_of(mitosis::context& c) {
  auto s = c.call(read_text, std::string{"/proc/self/comm"});
  return s.substr(0, s.find('\n'));
}

// The fork server of process `pid` (this one by default): its child named
// mitosis-fork.
int server_pid(int pid = ::getpid()) {
  for (auto& c : proc::children_of(pid))
    if (c.comm == "mitosis-fork" && c.state != 'Z')
      return c.pid;
  return 0;
}

// The server of process `pid`, once it serves (it names itself then):
// the master's loads while the master's runtime starts.
int server_within(int pid, std::chrono::milliseconds limit) {
  const auto until = std::chrono::steady_clock::now() + limit;
  int server;
  while ((server = server_pid(pid)) == 0 && std::chrono::steady_clock::now() < until)
    std::this_thread::sleep_for(10ms);
  return server;
}

// Whether process `pid` is gone (or a zombie) within `limit`.
bool gone_within(int pid, std::chrono::milliseconds limit) {
  const auto until = std::chrono::steady_clock::now() + limit;
  for (;;) {
    auto stat = read_text("/proc/" + std::to_string(pid) + "/stat");
    auto close = stat.rfind(')');
    if (close == std::string::npos || stat.size() < close + 3 || stat[close + 2] == 'Z')
      return true;
    if (std::chrono::steady_clock::now() > until)
      return false;
    std::this_thread::sleep_for(20ms);
  }
}

} // namespace

MITOSIS_REMOTE(my_cwd);

TEST_CASE("fork server: a local child is forked with the environment and directory of its "
          "start, and is still our child") {
  // A first master starts the server (once per process); the environment
  // and directory change afterwards, between masters, so that no thread of
  // a runtime reads them while they change.
  { mitosis::master first{0, nullptr}; }
  const int server = server_within(::getpid(), 10000ms);
  REQUIRE(server != 0);
  // Its main() ran up to the master: not on our stdin or stdout.
  CHECK(link_of("/proc/" + std::to_string(server) + "/fd/0") == "/dev/null");
  CHECK(link_of("/proc/" + std::to_string(server) + "/fd/1")
        == link_of("/proc/self/fd/2"));
  const auto old_cwd = my_cwd();
  ::setenv("MITOSIS_TEST_FORKED_ENV", "set after the server", 1);
  REQUIRE(::chdir("/tmp") == 0);
  {
    mitosis::master m{0, nullptr};
    auto c = m.local({.name = "fs.child"});
    CHECK(comm_of(c) == "mitosis:fs.chil"); // the kernel keeps 15 characters
    // argv: the program's path alone (backtraces name the program by it).
    auto cmdline = c.call(read_text, std::string{"/proc/self/cmdline"});
    CHECK(cmdline == link_of("/proc/self/exe") + std::string(1, '\0'));
    CHECK(c.call(my_ppid) == ::getpid());
    CHECK(c.call(env_of, std::string{"MITOSIS_TEST_FORKED_ENV"}) == "set after the server");
    CHECK(c.call(env_of, std::string{"MITOSIS_AGENT"}).empty());
    CHECK(c.call(my_cwd) == "/tmp");
    // Its own children come from its own server.
    auto gc = m.local({.name = "fs.gc", .via = c});
    CHECK(comm_of(gc) == "mitosis:fs.gc");
    CHECK(gc.call(my_ppid) == c.call(my_pid));
    CHECK(gc.call(env_of, std::string{"MITOSIS_TEST_FORKED_ENV"}) == "set after the server");
  }
  ::unsetenv("MITOSIS_TEST_FORKED_ENV");
  REQUIRE(::chdir(old_cwd.c_str()) == 0);
}

TEST_CASE("fork server: an agent has none until its first local start, then execs one that "
          "forks its children and goes with it") {
  mitosis::master m{0, nullptr};
  auto c = m.local({.name = "fs.lazy"});
  const int c_pid = m.pid_of(c);
  CHECK(c.call(add, 1, 2) == 3);
  CHECK(server_pid(c_pid) == 0); // a leaf makes none
  auto gc = m.local({.name = "fs.lgc1", .via = c});
  const int server = server_pid(c_pid);
  REQUIRE(server != 0);
  CHECK(comm_of(gc) == "mitosis:fs.lgc1"); // forked, not exec'd
  CHECK(gc.call(my_ppid) == c_pid);
  // Nothing of the server's own environment reaches the children.
  CHECK(gc.call(env_of, std::string{"MITOSIS_FORK_SERVE"}).empty());
  CHECK(gc.call(env_of, std::string{"LD_BIND_NOW"}).empty());
  CHECK(gc.call(env_of, std::string{"MITOSIS_AGENT"}).empty());
  // One server for all of them.
  auto gc2 = m.local({.name = "fs.lgc2", .via = c});
  CHECK(comm_of(gc2) == "mitosis:fs.lgc2");
  CHECK(server_pid(c_pid) == server);
  // It goes with its agent.
  REQUIRE(::kill(c_pid, SIGKILL) == 0);
  CHECK(gone_within(server, 5000ms));
}

TEST_CASE("fork server: an agent whose program file was replaced (a rebuild) still starts its "
          "children, from the image it runs") {
  // A copy of this program in a directory of its own, run as a throw-away
  // master (main.cpp, run_rebuilt), which replaces its own file by
  // /bin/true between the child's start and the grandchild's.
  char dir_tmpl[] = "/tmp/mitosis-rebuilt.XXXXXX";
  REQUIRE(::mkdtemp(dir_tmpl) != nullptr);
  const std::string dir{dir_tmpl}, prog = dir + "/prog";
  REQUIRE(std::system(("cp " + link_of("/proc/self/exe") + " " + prog).c_str()) == 0);
  const std::string cmd = "MITOSIS_TEST_REBUILT=/bin/true " + prog + " 2>&1";
  std::string out;
  int status = -1;
  if (FILE* p = ::popen(cmd.c_str(), "r")) {
    char buf[512];
    while (std::fgets(buf, sizeof(buf), p))
      out += buf;
    status = ::pclose(p);
  }
  std::system(("rm -rf " + dir).c_str());
  INFO(out);
  CHECK(out.find("REBUILT 3") != std::string::npos);
  CHECK(status == 0);
}

TEST_CASE("fork server: MITOSIS_FORK_SERVER=0 starts children through exec") {
  { mitosis::master first{0, nullptr}; }
  ::setenv("MITOSIS_FORK_SERVER", "0", 1);
  {
    mitosis::master m{0, nullptr};
    auto c = m.local({.name = "fs.exec"});
    CHECK(comm_of(c) == exe_comm());
    CHECK(c.call(add, 2, 3) == 5);
  }
  ::unsetenv("MITOSIS_FORK_SERVER");
}

TEST_CASE("fork server: once it is killed, starts go through exec and it is reaped") {
  mitosis::master m{0, nullptr};
  auto before = m.local({.name = "fs.before"});
  CHECK(comm_of(before) == "mitosis:fs.befo");
  int server = server_pid();
  REQUIRE(server != 0);
  REQUIRE(::kill(server, SIGKILL) == 0);
  auto after = m.local({.name = "fs.after"});
  CHECK(comm_of(after) == exe_comm());
  CHECK(after.call(my_ppid) == ::getpid());
  CHECK(before.call(add, 1, 1) == 2); // a child it made lives on
  CHECK(loss::zombies_after(::getpid(), 3000ms) == 0);
}
