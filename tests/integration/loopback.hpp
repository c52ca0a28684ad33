// Helpers of the tests that run their own sshd on 127.0.0.1 (not the
// cluster's): a free port, whether it accepts, a shell command, a child
// process, the sshd itself.
#pragma once

#include <arpa/inet.h>
#include <chrono>
#include <cstdlib>
#include <fstream>
#include <netinet/in.h>
#include <string>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <thread>
#include <unistd.h>
#include <vector>

#include <catch2/catch.hpp>

inline int free_port() {
  int s = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof(a);
  REQUIRE(::bind(s, reinterpret_cast<sockaddr*>(&a), sizeof(a)) == 0);
  REQUIRE(::getsockname(s, reinterpret_cast<sockaddr*>(&a), &len) == 0);
  ::close(s);
  return ntohs(a.sin_port);
}

inline bool accepts(int port) {
  int s = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(static_cast<std::uint16_t>(port));
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  bool ok = ::connect(s, reinterpret_cast<sockaddr*>(&a), sizeof(a)) == 0;
  ::close(s);
  return ok;
}

inline int run(const std::string& cmd) {
  return std::system(cmd.c_str());
}

/// Runs `argv` with `env` added; returns its pid.
inline int spawn(const std::vector<std::string>& argv, const std::vector<std::string>& env = {}) {
  pid_t pid = ::fork();
  REQUIRE(pid >= 0);
  if (pid == 0) {
    for (const auto& e : env)
      ::putenv(const_cast<char*>(e.c_str()));
    std::vector<char*> args;
    for (const auto& a : argv)
      args.push_back(const_cast<char*>(a.c_str()));
    args.push_back(nullptr);
    ::execv(args[0], args.data());
    ::_exit(127);
  }
  return pid;
}

/// Starts sshd in the foreground on 127.0.0.1:`port` with a new host key
/// and `config` (more sshd_config lines) in `dir`, logging to
/// dir/sshd.log; returns its pid once the port accepts.
inline int start_sshd(const std::string& dir, int port, const std::string& config) {
  INFO("this test runs sshd: it needs root and openssh-server (scripts/setup.sh)");
  REQUIRE(::geteuid() == 0);
  REQUIRE(::access("/usr/sbin/sshd", X_OK) == 0);
  ::mkdir("/run/sshd", 0755); // sshd's privilege separation directory
  REQUIRE(run("ssh-keygen -q -N '' -t ed25519 -f " + dir + "/host") == 0);
  std::ofstream{dir + "/sshd_config"} << "Port " << port << "\nListenAddress 127.0.0.1\nHostKey "
                                      << dir << "/host\nPidFile none\nUsePAM no\n"
                                      << config;
  // Its stdio is /dev/null: the commands it runs for a session (an
  // AuthorizedKeysCommand that stalls) would otherwise hold the test's
  // output open after the test, and ctest waits for that to close.
  int pid = spawn({"/bin/sh", "-c",
                   "exec /usr/sbin/sshd -D -E " + dir + "/sshd.log -f " + dir
                     + "/sshd_config </dev/null >/dev/null 2>&1"});
  auto until = std::chrono::steady_clock::now() + std::chrono::seconds{10};
  while (!accepts(port) && std::chrono::steady_clock::now() < until
         && ::waitpid(pid, nullptr, WNOHANG) == 0)
    std::this_thread::sleep_for(std::chrono::milliseconds{10}); // polls: sshd listening
  REQUIRE(accepts(port));
  return pid;
}
