// ssh options as OpenSSH users know them, against real sshds on 127.0.0.1
// that this test starts and stops (not the cluster's): an ssh config with
// Host patterns, HostName aliases, Port, User, IdentityFile,
// IdentitiesOnly and Compression; ProxyJump as a chain of contexts; and
// keepalives that declare a stopped peer dead.
#include <catch2/catch.hpp>

#include <arpa/inet.h>
#include <chrono>
#include <csignal>
#include <cstdlib>
#include <fstream>
#include <future>
#include <netinet/in.h>
#include <sstream>
#include <string>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <thread>
#include <unistd.h>
#include <vector>

#include "mitosis/mitosis.hpp"
#include "loopback.hpp"
#include "proc_helpers.hpp"
#include "temp_dir.hpp"
#include "test_functions.hpp"

using namespace std::chrono_literals;
using clk = std::chrono::steady_clock;

namespace {

std::string slurp(const std::string& path) {
  std::ifstream f{path};
  std::ostringstream s;
  s << f.rdbuf();
  return s.str();
}

/// The pids whose parent is `pid`.
std::vector<int> children_of(int pid) {
  std::vector<int> out;
  for (auto& c : proc::children_of(pid))
    out.push_back(c.pid);
  return out;
}

/// Every process below `pid`.
std::vector<int> descendants_of(int pid) {
  std::vector<int> out;
  for (int c : children_of(pid)) {
    out.push_back(c);
    for (int g : descendants_of(c))
      out.push_back(g);
  }
  return out;
}

/// An sshd on 127.0.0.1 that lets root (only) in with one key of its own
/// (made here), and logs the key exchange (compression) at DEBUG1.
struct key_sshd {
  temp_dir dir{"/tmp/mitosis-sshd-"};
  int port = free_port();
  int pid = 0;
  std::string key = dir.path + "/id";

  key_sshd() {
    REQUIRE(run("ssh-keygen -q -N '' -t ed25519 -f " + key) == 0);
    REQUIRE(run("cp " + key + ".pub " + dir.path + "/authorized_keys_root") == 0);
    pid = start_sshd(dir.path, port,
                     "PasswordAuthentication no\nKbdInteractiveAuthentication no\n"
                     "PubkeyAuthentication yes\nPermitRootLogin yes\nAuthorizedKeysFile "
                       + dir.path + "/authorized_keys_%u\nStrictModes no\nMaxAuthTries 3\n"
                                    "LogLevel DEBUG1\n");
  }
  ~key_sshd() {
    for (int p : descendants_of(pid)) {
      ::kill(p, SIGCONT);
      ::kill(p, SIGKILL);
    }
    ::kill(pid, SIGTERM);
    ::waitpid(pid, nullptr, 0);
  }
  std::string log() const {
    return slurp(dir.path + "/sshd.log");
  }
  /// An ssh config: `lab-*` (but not lab-off) and `jump` reach this sshd
  /// as root with its key only; `far` through ProxyJump jump.
  std::string config() const {
    auto path = dir.path + "/ssh_config";
    std::ofstream{path} << "Host lab-* !lab-off jump far\n"
                        << "  HostName 127.0.0.1\n  Port " << port
                        << "\n  User root\n  IdentityFile " << key
                        << "\n  IdentitiesOnly yes\n"
                           "Host far\n  ProxyJump jump\n"
                           "Host lab-z*\n  Compression yes\n"
                           "Host *\n  Port 1\n  User nobody-here\n";
    return path;
  }
};

mitosis::ssh_options via_config(const std::string& host, const std::string& cfg) {
  mitosis::ssh_options o;
  o.host = host;
  o.ssh_config_file = cfg;
  o.host_keys = mitosis::bootstrap::host_key_mode::ignore;
  return o;
}

struct start_failure {
  mitosis::errc code = mitosis::errc::none;
  std::string context;
  std::string what;
};

/// What a start that must fail threw.
template <class Start>
start_failure failed_start(Start&& start) {
  try {
    start();
  } catch (const mitosis::connect_error& e) {
    return {e.code(), e.context(), e.what()};
  }
  FAIL("the context started");
  return {};
}

/// An sshd, its ssh config, and a master.
struct scene {
  key_sshd server;
  std::string cfg = server.config();
  mitosis::master m{0, nullptr};
};

} // namespace

TEST_CASE_METHOD(scene, "ssh config: a Host alias reaches the sshd with its HostName, Port, User and key only") {
  auto c = m.ssh(via_config("lab-a", cfg), {.name = "alias"});
  CHECK(c.call(add, 2, 3) == 5);
  CHECK(c.call(my_uid) == 0);
  // lab-off is excluded by "!lab-off": Host * sends it to port 1 as nobody.
  auto f = failed_start([&] { m.ssh(via_config("lab-off", cfg), {.name = "excluded"}); });
  INFO(f.what);
  CHECK(f.context == "excluded");
  CHECK(f.code == mitosis::errc::unreachable);
}

TEST_CASE_METHOD(scene, "ssh config: Compression yes is negotiated, and explicit settings win over the file") {
  auto c = m.ssh(via_config("lab-zip", cfg), {.name = "zipped"});
  CHECK(c.call(echo, std::string(100000, 'z')).size() == 100000);
  CHECK_THAT(server.log(), Catch::Contains("compression: zlib"));
  // An explicit wrong user beats the file's root: the key is refused.
  auto o = via_config("lab-b", cfg);
  o.user = "nobody";
  auto f = failed_start([&] { m.ssh(o, {.name = "explicit-user"}); });
  INFO(f.what);
  CHECK(f.code == mitosis::errc::auth_failed);
  CHECK_THAT(f.what, Catch::Contains("nobody@127.0.0.1"));
  // An `options` line that is not applied is refused, not ignored.
  o = via_config("lab-b", cfg);
  o.options = {"ForwardAgent yes"};
  auto bad = failed_start([&] { m.ssh(o, {.name = "bad-option"}); });
  CHECK(bad.code == mitosis::errc::spawn_failed);
  CHECK(bad.context == "bad-option");
  CHECK_THAT(bad.what, Catch::Contains("ForwardAgent"));
}

TEST_CASE_METHOD(scene, "ProxyJump: the target starts from a jump context, which is reused") {
  auto far = m.ssh(via_config("far", cfg), {.name = "far"});
  CHECK(far.call(add, 1, 1) == 2);
  // The jump host's context is the one `far` was started from: asking for
  // it again returns it, and it lists `far` among its children.
  auto jump = m.ssh(via_config("jump", cfg));
  CHECK(jump.call(children_names) == "far");
  // Two sessions in the sshd's log: the jump, and far through it.
  auto log = server.log();
  std::size_t sessions = 0;
  for (auto at = log.find("Accepted publickey"); at != std::string::npos;
       at = log.find("Accepted publickey", at + 1))
    ++sessions;
  CHECK(sessions == 2);
}

TEST_CASE("ssh keepalive: a stopped sshd is declared dead after interval x count") {
  key_sshd server;
  auto cfg = server.config();
  mitosis::master_options mo;
  mo.heartbeat_interval = 0ms; // only the ssh keepalive notices the stop
  // Declared before the master: its teardown may still run the callback
  // when an assertion below ends the test early.
  std::promise<std::string> lost;
  mitosis::master m{0, nullptr, mo};
  auto o = via_config("lab-k", cfg);
  o.keepalive_s = 1;
  o.keepalive_count = 2;
  auto c = m.ssh(o, {.name = "kept"});
  CHECK(c.call(add, 1, 2) == 3);
  c.on_lost([&](const std::string& why) { lost.set_value(why); });
  // Stop every sshd process of the session (not the listener, not the
  // context itself): the TCP connection stays up, nothing answers.
  auto kids = children_of(server.pid);
  REQUIRE_FALSE(kids.empty());
  std::vector<int> stopped;
  for (int k : kids) {
    stopped.push_back(k);
    for (int d : descendants_of(k))
      if (slurp("/proc/" + std::to_string(d) + "/comm").rfind("sshd", 0) == 0)
        stopped.push_back(d);
  }
  for (int p : stopped)
    ::kill(p, SIGSTOP);
  const auto t0 = clk::now();
  auto f = lost.get_future();
  REQUIRE(f.wait_for(15s) == std::future_status::ready);
  const auto took = clk::now() - t0;
  auto why = f.get();
  INFO(why << " after " << std::chrono::duration_cast<std::chrono::milliseconds>(took).count()
            << " ms");
  CHECK_THAT(why, Catch::Contains("keepalive") && Catch::Contains("declared dead"));
  CHECK(took >= 1s);
  CHECK(took < 5s);
  CHECK_THROWS_AS(c.call(add, 1, 2), mitosis::context_lost);
  for (int p : stopped)
    ::kill(p, SIGCONT);
}
