// The ssh connect deadline against a real sshd on 127.0.0.1 (not the
// cluster's: one this test starts and stops) whose public key checks
// stall: every auth attempt waits on the server, and the start must still
// end at its connect_timeout, not after one timeout per attempt.
#include <catch2/catch.hpp>

#include <arpa/inet.h>
#include <cerrno>
#include <chrono>
#include <csignal>
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

#include "mitosis/mitosis.hpp"
#include "temp_dir.hpp"

using namespace std::chrono_literals;
using clk = std::chrono::steady_clock;

namespace {

int free_port() {
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

bool accepts(int port) {
  int s = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(static_cast<std::uint16_t>(port));
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  bool ok = ::connect(s, reinterpret_cast<sockaddr*>(&a), sizeof(a)) == 0;
  ::close(s);
  return ok;
}

/// Runs `argv` with `env` added; returns its pid.
int spawn(const std::vector<std::string>& argv, const std::vector<std::string>& env = {}) {
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

int run(const std::string& cmd) {
  return std::system(cmd.c_str());
}

/// An sshd on 127.0.0.1 that offers only public keys and checks each with
/// `sleep 20` as its AuthorizedKeysCommand: every key offered stalls.
struct stalling_sshd {
  temp_dir dir{"/tmp/mitosis-sshd-"};
  int port = free_port();
  int pid = 0;

  stalling_sshd() {
    INFO("this test runs sshd: it needs root and openssh-server (scripts/setup.sh)");
    REQUIRE(::geteuid() == 0);
    REQUIRE(::access("/usr/sbin/sshd", X_OK) == 0);
    ::mkdir("/run/sshd", 0755); // sshd's privilege separation directory
    REQUIRE(run("ssh-keygen -q -N '' -t ed25519 -f " + dir.path + "/host") == 0);
    std::ofstream{dir.path + "/sshd_config"}
      << "Port " << port << "\nListenAddress 127.0.0.1\nHostKey " << dir.path
      << "/host\nPidFile none\nUsePAM no\nPasswordAuthentication no\n"
         "KbdInteractiveAuthentication no\nPubkeyAuthentication yes\n"
         "AuthorizedKeysFile none\nAuthorizedKeysCommand /usr/bin/sleep 20\n"
         "AuthorizedKeysCommandUser nobody\nStrictModes no\nMaxAuthTries 20\nLogLevel ERROR\n";
    pid = spawn({"/usr/sbin/sshd", "-D", "-E", dir.path + "/sshd.log", "-f",
                 dir.path + "/sshd_config"});
    auto until = clk::now() + 10s;
    while (!accepts(port) && clk::now() < until && ::waitpid(pid, nullptr, WNOHANG) == 0)
      std::this_thread::sleep_for(10ms); // polls the condition: sshd listening
    REQUIRE(accepts(port));
  }
  ~stalling_sshd() {
    ::kill(pid, SIGTERM);
    ::waitpid(pid, nullptr, 0);
  }
};

/// An ssh-agent holding `keys` new keys, on a socket of its own.
struct agent_with_keys {
  temp_dir dir{"/tmp/mitosis-agent-"};
  std::string sock = dir.path + "/agent.sock";
  int pid = 0;

  explicit agent_with_keys(int keys) {
    pid = spawn({"/bin/sh", "-c", "exec /usr/bin/ssh-agent -D -a " + sock + " >/dev/null"});
    auto until = clk::now() + 10s;
    while (::access(sock.c_str(), F_OK) != 0 && clk::now() < until)
      std::this_thread::sleep_for(10ms); // polls the condition: the socket exists
    for (int i = 0; i < keys; ++i) {
      auto key = dir.path + "/k" + std::to_string(i);
      REQUIRE(run("ssh-keygen -q -N '' -t ed25519 -f " + key) == 0);
      REQUIRE(run("SSH_AUTH_SOCK=" + sock + " ssh-add -q " + key + " 2>/dev/null") == 0);
    }
  }
  ~agent_with_keys() {
    ::kill(pid, SIGTERM);
    ::waitpid(pid, nullptr, 0);
  }
};

/// Sets an environment variable for one scope.
struct scoped_env {
  std::string name;
  std::string old;
  bool had;
  scoped_env(std::string n, const std::string& value) : name(std::move(n)) {
    auto* v = std::getenv(name.c_str());
    had = v != nullptr;
    old = v ? v : "";
    ::setenv(name.c_str(), value.c_str(), 1);
  }
  ~scoped_env() {
    if (had)
      ::setenv(name.c_str(), old.c_str(), 1);
    else
      ::unsetenv(name.c_str());
  }
};

} // namespace

TEST_CASE("ssh: the connect deadline covers every auth attempt of a server that stalls them") {
  stalling_sshd server;
  agent_with_keys agent{2};
  scoped_env auth_sock{"SSH_AUTH_SOCK", agent.sock};
  temp_dir keys{"/tmp/mitosis-key-"};
  REQUIRE(run("ssh-keygen -q -N '' -t ed25519 -f " + keys.path + "/id") == 0);
  mitosis::master m{0, nullptr};
  mitosis::ssh_options o;
  o.host = "127.0.0.1";
  o.port = static_cast<std::uint16_t>(server.port);
  o.user = "root";
  o.identity_file = keys.path + "/id";
  o.host_keys = mitosis::bootstrap::host_key_mode::ignore;
  // Three attempts that each stall: the identity file, then two agent keys.
  const auto t0 = clk::now();
  try {
    m.ssh(o, {.name = "stalled", .connect_timeout = 3s});
    FAIL("the context started");
  } catch (const mitosis::connect_error& e) {
    INFO(e.what());
    CHECK(e.code() == mitosis::errc::timeout);
    CHECK(e.context() == "stalled");
    CHECK_THAT(e.what(), Catch::Matchers::Contains("connect timeout"));
  }
  const auto took = clk::now() - t0;
  INFO("took " << std::chrono::duration_cast<std::chrono::milliseconds>(took).count() << " ms");
  CHECK(took >= 2900ms);
  CHECK(took < 4500ms);
}
