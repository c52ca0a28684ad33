// The ssh method against the cluster's real sshds: bootstrap and reuse,
// host key modes, every auth kind, ssh config, via chains of mixed methods,
// and the faults: unreachable hosts, refused auth, changed keys, a hop that
// dies mid-bootstrap or later.
#include <catch2/catch.hpp>

#include <algorithm>
#include <chrono>
#include <csignal>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <pwd.h>
#include <sstream>
#include <sys/stat.h>
#include <sys/wait.h>
#include <thread>
#include <unistd.h>
#include <vector>

#include "../integration/temp_dir.hpp"
#include "../unit/errc_string_maker.hpp"
#include "../integration/test_functions.hpp"
#include "cluster_env.hpp"
#include "mitosis/actors/runtime.hpp"
#include "mitosis/bootstrap/bundle.hpp"
#include "mitosis/bootstrap/ssh_method.hpp"

namespace fs = std::filesystem;
using namespace std::chrono_literals;
using clk = std::chrono::steady_clock;

namespace {

int bundles_sent_here() {
  auto* rt = mitosis::actors::runtime::agent();
  return rt ? rt->bundles_sent() : -1;
}
MITOSIS_REMOTE(bundles_sent_here);

std::string slurp(const std::string& path) {
  std::ifstream f{path};
  std::stringstream ss;
  ss << f.rdbuf();
  return ss.str();
}

// Starts a context by `o`, which must be refused with an E whose code is
// one of `codes` and whose what() names every fragment; returns how long
// the refusal took.
template <class E>
clk::duration expect_refused(mitosis::master& m, const mitosis::ssh_options& o,
                             const mitosis::hop_options& h,
                             std::initializer_list<mitosis::errc> codes,
                             std::initializer_list<std::string> fragments) {
  auto t0 = clk::now();
  try {
    m.ssh(o, h);
    FAIL("started, though it must have been refused");
  } catch (const E& e) {
    std::string what = e.what();
    INFO(what);
    CHECK(std::find(codes.begin(), codes.end(), e.code()) != codes.end());
    for (const auto& f : fragments)
      CHECK(what.find(f) != std::string::npos);
  }
  return clk::now() - t0;
}

// Starts the gateway (h1) and, through it, the hidden host: (h1, hidden).
std::pair<mitosis::context, mitosis::context> through_gateway(mitosis::master& m,
                                                              const std::string& gw_name,
                                                              const std::string& hidden_name) {
  const auto& env = cluster_env::get();
  auto h1 = m.ssh(env.ssh(env["CLUSTER_GATEWAY"]), {.name = gw_name});
  auto hidden = m.ssh(env.ssh(env["CLUSTER_HIDDEN"]), {.name = hidden_name, .via = h1});
  return {h1, hidden};
}

int uid_of(const char* user) {
  auto* pw = ::getpwnam(user);
  REQUIRE(pw != nullptr);
  return static_cast<int>(pw->pw_uid);
}

// Runs a shell command; returns its exit status.
int thread_count() {
  int n = 0;
  for ([[maybe_unused]] auto& e : fs::directory_iterator("/proc/self/task"))
    ++n;
  return n;
}

// Creates the file `path` (what a chained no-reply call leaves behind).
void touch(std::string path) {
  std::ofstream{path} << "x";
}
MITOSIS_REMOTE(touch);

int sh(const std::string& cmd) {
  int st = std::system(cmd.c_str());
  return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

} // namespace

TEST_CASE("ssh starts a context on a cluster host and calls it") {
  const auto& env = cluster_env::get();
  mitosis::master m{0, nullptr};
  auto h2 = m.ssh(env.ssh("h2"), {.name = "h2"});
  CHECK(h2.call(add, 20, 22) == 42);
  CHECK(h2.call(env_of, "SSH_CONNECTION").find(env.addr("h2")) != std::string::npos);
  CHECK(h2.call(my_uid) == 0);
  CHECK(h2.call(my_pid) != ::getpid());
  std::string big(1 << 20, 'z');
  CHECK(h2.call(echo, big) == big);
}

TEST_CASE("a second ssh start to a host reuses the installed bundle") {
  const auto& env = cluster_env::get();
  temp_dir cache;
  mitosis::master m{0, nullptr};
  auto before = m.runtime().bundles_sent();
  auto a = m.ssh(env.ssh("h3"), {.name = "first", .cache_dir = cache.path + "/c"});
  CHECK(m.runtime().bundles_sent() == before + 1);
  const auto& b = mitosis::bootstrap::own_bundle();
  auto dir = a.call(my_bundle_dir);
  CHECK(dir == cache.path + "/c/" + b.sha256);
  CHECK((fs::status(cache.path + "/c").permissions() & fs::perms::others_all) == fs::perms::none);
  auto b2 = m.ssh(env.ssh("h3"), {.name = "second", .cache_dir = cache.path + "/c"});
  CHECK(m.runtime().bundles_sent() == before + 1);
  CHECK(b2.call(my_bundle_dir) == dir);
  CHECK(b2.call(add, 1, 1) == 2);
}

TEST_CASE("ssh refuses an unknown host key and names host port and fingerprint") {
  const auto& env = cluster_env::get();
  temp_dir d;
  auto o = env.ssh("h2");
  o.known_hosts = d.file("known_hosts"); // empty: nobody is known
  mitosis::master m{0, nullptr};
  expect_refused<mitosis::host_key_error>(
    m, o, {.name = "nokey"}, {mitosis::errc::host_key_rejected},
    {"'nokey'", env.addr("h2") + ":22", "SHA256:", "unknown host key"});
}

TEST_CASE("ssh refuses a changed host key") {
  const auto& env = cluster_env::get();
  temp_dir d;
  // h2's address with h3's key: what a man in the middle would present.
  std::string h3_key;
  {
    std::istringstream all{slurp(env["CLUSTER_KNOWN_HOSTS"])};
    std::string line;
    while (std::getline(all, line))
      if (line.rfind(env.addr("h3") + " ", 0) == 0)
        h3_key = line.substr(line.find(' ') + 1);
  }
  REQUIRE_FALSE(h3_key.empty());
  auto kh = d.path + "/known_hosts";
  std::ofstream{kh} << env.addr("h2") << " " << h3_key << "\n";
  mitosis::master m{0, nullptr};
  auto o = env.ssh("h2");
  o.known_hosts = kh;
  expect_refused<mitosis::host_key_error>(m, o, {.name = "changed"},
                                          {mitosis::errc::host_key_rejected},
                                          {"CHANGED", env.addr("h2"), "SHA256:"});
}

TEST_CASE("ssh accept-new records an unknown key and ignore skips the check") {
  const auto& env = cluster_env::get();
  temp_dir d;
  auto kh = d.file("known_hosts");
  mitosis::master m{0, nullptr};
  auto o = env.ssh("h3");
  o.known_hosts = kh;
  o.host_keys = mitosis::bootstrap::host_key_mode::accept_new;
  auto c = m.ssh(o, {.name = "accept-new"});
  CHECK(c.call(add, 1, 2) == 3);
  CHECK(slurp(kh).find(env.addr("h3")) != std::string::npos);
  // Now recorded: enforce accepts it.
  o.host_keys = mitosis::bootstrap::host_key_mode::enforce;
  CHECK(m.ssh(o, {.name = "enforce-after"}).call(add, 2, 2) == 4);

  auto o2 = env.ssh("h2");
  o2.known_hosts = d.file("empty");
  o2.host_keys = mitosis::bootstrap::host_key_mode::ignore;
  CHECK(m.ssh(o2, {.name = "ignore"}).call(add, 3, 3) == 6);
  CHECK(slurp(o2.known_hosts).empty());
}

TEST_CASE("ssh password auth and keyboard-interactive log in as the user") {
  const auto& env = cluster_env::get();
  mitosis::master m{0, nullptr};
  auto o = env.ssh("h3", env["CLUSTER_USER"]);
  o.identity_file.clear();
  o.password = env["CLUSTER_USER_PW"];
  auto c = m.ssh(o, {.name = "password"});
  CHECK(c.call(my_uid) == uid_of("mitosis-user"));
  // h2 takes passwords only through keyboard-interactive.
  auto k = env.ssh("h2", env["CLUSTER_USER"]);
  k.identity_file.clear();
  k.password = env["CLUSTER_USER_PW"];
  auto ck = m.ssh(k, {.name = "kbdint"});
  CHECK(ck.call(my_uid) == uid_of("mitosis-user"));
}

TEST_CASE("ssh with a wrong password is an auth_error within the timeout") {
  const auto& env = cluster_env::get();
  mitosis::master m{0, nullptr};
  auto o = env.ssh("h3", env["CLUSTER_USER"]);
  o.identity_file.clear();
  o.password = "not-the-password";
  auto took = expect_refused<mitosis::auth_error>(
    m, o, {.name = "badpw", .connect_timeout = 8s}, {mitosis::errc::auth_failed},
    {"mitosis-user@" + env.addr("h3"), "password"});
  CHECK(took < 8s);
}

TEST_CASE("ssh authenticates with a key held by ssh-agent") {
  const auto& env = cluster_env::get();
  temp_dir d;
  auto sock = d.path + "/agent.sock";
  REQUIRE(sh("ssh-agent -a " + sock + " > " + d.path + "/agent.env") == 0);
  struct agent_guard {
    std::string env_file;
    ~agent_guard() {
      sh(". " + env_file + " >/dev/null; ssh-agent -k >/dev/null 2>&1");
    }
  } guard{d.path + "/agent.env"};
  REQUIRE(sh("SSH_AUTH_SOCK=" + sock + " ssh-add -q " + env["CLUSTER_KEY"]) == 0);
  ::setenv("SSH_AUTH_SOCK", sock.c_str(), 1);
  mitosis::master m{0, nullptr};
  auto o = env.ssh("h3");
  o.identity_file.clear();
  o.use_agent = true;
  auto c = m.ssh(o, {.name = "agent"});
  CHECK(c.call(add, 4, 5) == 9);
  ::unsetenv("SSH_AUTH_SOCK");
  // Without the agent (and no key file) the same login is refused.
  o.use_agent = false;
  CHECK_THROWS_AS(m.ssh(o, {.name = "no-agent"}), mitosis::auth_error);
}

TEST_CASE("ssh reads Host entries from an ssh config file") {
  const auto& env = cluster_env::get();
  temp_dir d;
  auto cfg = d.path + "/config";
  std::ofstream{cfg} << "Host web\n  HostName " << env.addr("h3") << "\n  User root\n  Port 22\n"
                     << "  IdentityFile " << env["CLUSTER_KEY"] << "\n";
  mitosis::master m{0, nullptr};
  mitosis::ssh_options o;
  o.host = "web";
  o.use_ssh_config = true;
  o.ssh_config_file = cfg;
  o.known_hosts = env["CLUSTER_KNOWN_HOSTS"];
  o.use_agent = false;
  auto c = m.ssh(o, {.name = "web"});
  CHECK(c.call(env_of, "SSH_CONNECTION").find(env.addr("h3")) != std::string::npos);
  CHECK(c.call(my_uid) == 0);
}

TEST_CASE("ssh to an unreachable host or a closed port is a typed error in time") {
  const auto& env = cluster_env::get();
  mitosis::master m{0, nullptr};
  auto closed = env.ssh("h2");
  closed.port = 2;
  auto took = expect_refused<mitosis::connect_error>(
    m, closed, {.name = "closed", .connect_timeout = 3s}, {mitosis::errc::unreachable},
    {env.addr("h2") + ":2"});
  CHECK(took < 3s);
  // Nobody at this address: the connect timeout bounds the wait.
  auto nobody = env.ssh("h2");
  nobody.host = "10.77.0.250";
  took = expect_refused<mitosis::connect_error>(
    m, nobody, {.name = "nobody", .connect_timeout = 2s},
    {mitosis::errc::timeout, mitosis::errc::unreachable}, {"10.77.0.250"});
  CHECK(took < 4s);
}

TEST_CASE("the hidden host is reached only through a via chain") {
  const auto& env = cluster_env::get();
  mitosis::master m{0, nullptr};
  auto hidden = env["CLUSTER_HIDDEN"];
  // Directly: no route from the control host.
  auto direct = env.ssh(hidden);
  CHECK_THROWS_AS(m.ssh(direct, {.name = "direct", .connect_timeout = 2s}),
                  mitosis::connect_error);
  auto h1 = m.ssh(env.ssh("h1"), {.name = "h1"});
  auto h4 = m.ssh(env.ssh(hidden), {.name = "h4", .via = h1});
  CHECK(h4.call(add, 2, 40) == 42);
  // h4 sees h1's inner address as the client.
  CHECK(h4.call(env_of, "SSH_CONNECTION").rfind(env["CLUSTER_GATEWAY_INNER"], 0) == 0);
  // Each copy installs copies of itself: h1 shipped its own bundle.
  const auto& b = mitosis::bootstrap::own_bundle();
  CHECK(fs::path(h1.call(my_bundle_dir)).filename() == b.sha256);
  CHECK(fs::path(h4.call(my_bundle_dir)).filename() == b.sha256);
  // A third hop of another method: sudo on the hidden host.
  auto user = m.sudo({.user = "mitosis-user"}, {.name = "h4-user", .via = h4});
  CHECK(user.call(my_uid) == uid_of("mitosis-user"));
  CHECK(user.call(echo, "three hops") == "three hops");
  // And a local child of that: four hops, mixed methods.
  auto leaf = m.local({.name = "leaf", .via = user});
  CHECK(leaf.call(add, 1, 2) == 3);
}

TEST_CASE("killing an intermediate reports everything behind it lost within a second") {
  const auto& env = cluster_env::get();
  mitosis::master m{0, nullptr};
  auto [h1, h4] = through_gateway(m, "mid", "behind");
  auto leaf = m.local({.name = "behind.leaf", .via = h4});
  REQUIRE(leaf.call(add, 1, 1) == 2);
  auto pending = h4.call_async(sleep_ms, 5000);
  auto pid = h1.call(my_pid); // same machine: the namespaces share pids
  auto t0 = clk::now();
  REQUIRE(::kill(pid, SIGKILL) == 0);
  CHECK_THROWS_AS(pending.get(), mitosis::context_lost);
  CHECK(clk::now() - t0 < 1s);
  CHECK_THROWS_AS(h4.call(add, 1, 1), mitosis::context_lost);
  CHECK_THROWS_AS(leaf.call(add, 1, 1), mitosis::context_lost);
  CHECK(clk::now() - t0 < 1500ms);
}

TEST_CASE("a hop dying mid-bootstrap is a connect_error naming the chain") {
  const auto& env = cluster_env::get();
  temp_dir cache;
  mitosis::master m{0, nullptr};
  auto h1 = m.ssh(env.ssh("h1"), {.name = "dying"});
  auto pid = h1.call(my_pid);
  // A cold start through h1 (a fresh cache: the bundle must travel), and
  // h1 killed while it runs.
  std::thread killer{[pid] {
    std::this_thread::sleep_for(60ms);
    ::kill(pid, SIGKILL);
  }};
  auto t0 = clk::now();
  try {
    m.ssh(env.ssh(env["CLUSTER_HIDDEN"]),
          {.name = "never", .via = h1, .connect_timeout = 10s, .cache_dir = cache.path + "/c"});
    killer.join();
    FAIL("started through a dead hop");
  } catch (const mitosis::error& e) {
    killer.join();
    std::string what = e.what();
    CHECK(what.find("never") != std::string::npos);
    CHECK((dynamic_cast<const mitosis::connect_error*>(&e) != nullptr
           || dynamic_cast<const mitosis::context_lost*>(&e) != nullptr));
  }
  CHECK(clk::now() - t0 < 5s);
  // Nothing half-installed is left where stage-1 could execute it: either
  // no bundle directory, or a complete one (it is renamed into place only
  // after its hash was checked).
  const auto& b = mitosis::bootstrap::own_bundle();
  auto dir = cache.path + "/c/" + b.sha256;
  if (fs::exists(dir))
    CHECK(fs::exists(dir + "/b.tgz"));
}

TEST_CASE("a failure deep in a via chain names the whole chain") {
  const auto& env = cluster_env::get();
  mitosis::master m{0, nullptr};
  auto [h1, h4] = through_gateway(m, "gw", "inner");
  auto bad = env.ssh("h1", env["CLUSTER_USER"]);
  bad.host = env["CLUSTER_GATEWAY_INNER"];
  bad.identity_file.clear();
  bad.password = "wrong";
  expect_refused<mitosis::auth_error>(m, bad, {.name = "back", .via = h4, .connect_timeout = 8s},
                                      {mitosis::errc::auth_failed}, {"back via inner via gw"});
}

TEST_CASE("many ssh sessions share one pump thread") {
  const auto& env = cluster_env::get();
  mitosis::master m{0, nullptr};
  auto first = m.ssh(env.ssh("h2"), {.name = "t0"});
  REQUIRE(first.call(add, 0, 0) == 0);
  auto threads = thread_count();
  std::vector<mitosis::context> more;
  for (int i = 1; i <= 6; ++i)
    more.push_back(m.ssh(env.ssh(i % 2 ? "h3" : "h1"), {.name = "t" + std::to_string(i)}));
  for (auto& c : more)
    CHECK(c.call(add, 1, 1) == 2);
  CHECK(thread_count() == threads);
  CHECK(mitosis::bootstrap::ssh_pump_threads() == 1);
}

TEST_CASE("an ssh context with keepalives stays usable while idle") {
  const auto& env = cluster_env::get();
  mitosis::master m{0, nullptr};
  auto o = env.ssh("h3");
  o.keepalive_s = 1;
  auto c = m.ssh(o, {.name = "keepalive"});
  CHECK(c.call(add, 1, 2) == 3);
  std::this_thread::sleep_for(2500ms);
  CHECK(c.call(add, 2, 3) == 5);
}

TEST_CASE("twenty thousand round trips over one and two ssh hops all get their reply") {
  // A reply that libssh has buffered while poll() sees an empty socket is
  // a reply nobody delivers: this caught three such paths in the ssh pump
  // (after a write, after a short read, after a stderr read).
  const auto& env = cluster_env::get();
  mitosis::master m{0, nullptr};
  auto [h1, h4] = through_gateway(m, "many", "many2");
  const std::string s(64, 'x');
  for (auto* c : {&h1, &h4}) {
    int answered = 0;
    for (int i = 0; i < 20000; ++i) {
      if (c->call_for(3s, echo, s) != s)
        break;
      ++answered;
    }
    CHECK(answered == 20000);
  }
}

TEST_CASE("ssh to a user whose login shell is tcsh starts a context through it") {
  // sshd runs the exec command as `tcsh -c '/bin/sh -c ...'`: stage-1 must
  // be one line, and its quoting must pass csh (no history on '!').
  const auto& env = cluster_env::get();
  mitosis::master m{0, nullptr};
  temp_dir cache;
  ::chmod(cache.path.c_str(), 0777); // the user installs its bundle below it
  auto o = env.ssh("h2", env["CLUSTER_CSH_USER"]);
  auto c = m.ssh(o, {.name = "csh user: it's a !bang", .cache_dir = cache.path + "/c!d"});
  CHECK(c.call(my_uid) == static_cast<int>(::getpwnam(env["CLUSTER_CSH_USER"].c_str())->pw_uid));
  CHECK(c.call(env_of, "SHELL") == "/bin/tcsh");
  CHECK(c.call(my_bundle_dir).rfind(cache.path + "/c!d/", 0) == 0);
  // Through a via chain too: the hop's spec crosses as data, stage-1 the same.
  auto h1 = m.ssh(env.ssh("h1"), {.name = "csh gateway"});
  auto deep = m.ssh(env.ssh(env["CLUSTER_HIDDEN"], env["CLUSTER_CSH_USER"]),
                    {.name = "csh hidden", .via = h1});
  CHECK(deep.call(env_of, "SHELL") == "/bin/tcsh");
  CHECK(deep.call(add, 2, 3) == 5);
}

TEST_CASE("a chain's no-reply calls over ssh leave without a later call on the stream") {
  // They are written to the stream but not pushed on one by one (the
  // chain's next call takes them along); with none, the pump moves them.
  const auto& env = cluster_env::get();
  mitosis::master m{0, nullptr};
  auto c = m.ssh(env.ssh(env["CLUSTER_GATEWAY"]), {.name = "chained"});
  temp_dir dir;
  CHECK(c.call(add, 1, 1) == 2); // this thread just drove the session: the pump keeps off it
  {
    mitosis::call_chain ch{c};
    for (int i = 0; i < 20; ++i)
      ch.call_no_reply(touch, dir.path + "/f" + std::to_string(i));
  }
  const auto deadline = clk::now() + 2s;
  while (!fs::exists(dir.path + "/f19") && clk::now() < deadline)
    std::this_thread::sleep_for(1ms);
  for (int i = 0; i < 20; ++i)
    CHECK(fs::exists(dir.path + "/f" + std::to_string(i)));
  // With a final call, everything before it has run when it answers.
  mitosis::call_chain ch{c};
  for (int i = 20; i < 40; ++i)
    ch.call_no_reply(touch, dir.path + "/f" + std::to_string(i));
  CHECK(ch.call(add, 2, 2) == 4);
  for (int i = 20; i < 40; ++i)
    CHECK(fs::exists(dir.path + "/f" + std::to_string(i)));
}
