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
#include "loopback.hpp"
#include "temp_dir.hpp"

using namespace std::chrono_literals;
using clk = std::chrono::steady_clock;

namespace {

/// An sshd on 127.0.0.1 that offers only public keys and checks each with
/// `sleep 20` as its AuthorizedKeysCommand: every key offered stalls.
struct stalling_sshd {
  temp_dir dir{"/tmp/mitosis-sshd-"};
  int port = free_port();
  int pid = 0;

  stalling_sshd() {
    pid = start_sshd(dir.path, port,
                     "PasswordAuthentication no\n"
                     "KbdInteractiveAuthentication no\nPubkeyAuthentication yes\n"
                     "AuthorizedKeysFile none\nAuthorizedKeysCommand /usr/bin/sleep 20\n"
                     "AuthorizedKeysCommandUser nobody\nStrictModes no\nMaxAuthTries 20\n"
                     "LogLevel ERROR\n");
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
