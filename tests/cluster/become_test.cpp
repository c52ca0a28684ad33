// sudo, su and doas with the cluster's real users (docs/cluster.md): user
// switches, password prompts answered through via chains, wrong or missing
// passwords and refusals as typed auth_errors, sudo -E, and the lifetime
// of a context started through a become program.
#include <catch2/catch.hpp>

#include <chrono>
#include <cerrno>
#include <csignal>
#include <cstdlib>
#include <fstream>
#include <functional>
#include <iterator>
#include <pwd.h>
#include <string>
#include <sys/stat.h>
#include <thread>
#include <unistd.h>

#include "../integration/test_functions.hpp"
#include "../unit/errc_string_maker.hpp"
#include "cluster_env.hpp"

using namespace std::chrono_literals;
using clk = std::chrono::steady_clock;

namespace {

int uid_of(const std::string& user) {
  auto* pw = ::getpwnam(user.c_str());
  if (!pw)
    FAIL("no user " << user << " (is the cluster up?)");
  return static_cast<int>(pw->pw_uid);
}

// What a failed start threw, and how long it took.
struct failure {
  bool thrown = false;
  bool is_auth = false;
  mitosis::errc code = mitosis::errc::none;
  std::string what;
  std::string context;
  clk::duration took{};
};

failure start_failure(const std::function<void()>& start) {
  failure f;
  auto t0 = clk::now();
  try {
    start();
  } catch (const mitosis::auth_error& e) {
    f.thrown = f.is_auth = true;
    f.code = e.code();
    f.what = e.what();
    f.context = e.context();
  } catch (const mitosis::error& e) {
    f.thrown = true;
    f.code = e.code();
    f.what = e.what();
    f.context = e.context();
  }
  f.took = clk::now() - t0;
  INFO("start failed with: " << f.what);
  return f;
}

double seconds(clk::duration d) {
  return std::chrono::duration<double>(d).count();
}

// A zombie counts as gone: it has exited, only its parent has not looked.
bool alive(int pid) {
  if (::kill(pid, 0) != 0 && errno != EPERM)
    return false;
  std::ifstream f{"/proc/" + std::to_string(pid) + "/stat"};
  std::string stat{std::istreambuf_iterator<char>{f}, {}};
  auto p = stat.rfind(") ");
  return p == std::string::npos || p + 2 >= stat.size() || stat[p + 2] != 'Z';
}

// Sets an environment variable for one test and removes it afterwards.
struct scoped_env {
  std::string name;
  scoped_env(std::string n, const std::string& value) : name(std::move(n)) {
    ::setenv(name.c_str(), value.c_str(), 1);
  }
  ~scoped_env() {
    ::unsetenv(name.c_str());
  }
};

// Waits up to `limit` for `pid` to go away.
bool gone_within(int pid, std::chrono::milliseconds limit) {
  auto end = clk::now() + limit;
  while (clk::now() < end) {
    if (!alive(pid))
      return true;
    std::this_thread::sleep_for(20ms);
  }
  return !alive(pid);
}

void require_doas() {
  struct stat st{};
  if (::stat("/usr/bin/doas", &st) != 0)
    FAIL("/usr/bin/doas is missing: install opendoas (scripts/setup.sh)");
  if (cluster_env::get()["CLUSTER_DOAS"] != "1")
    FAIL("the cluster did not write /etc/doas.conf (CLUSTER_DOAS=0)");
}

constexpr auto timeout = 10s;

} // namespace

// --- sudo ----------------------------------------------------------------

TEST_CASE("sudo from root starts a context as mitosis-user without a password") {
  const auto& env = cluster_env::get();
  mitosis::master m{0, nullptr};
  auto u = m.sudo({.user = env["CLUSTER_USER"]}, {.name = "as-user"});
  CHECK(u.call(my_uid) == uid_of(env["CLUSTER_USER"]));
  CHECK(u.call(echo, "hello from sudo") == "hello from sudo");
  CHECK(u.call(add, 40, 2) == 42);
  // sudo (use_pty in Debian's sudoers) relays the stream: 8-bit clean, and
  // a large reply arrives whole.
  std::string all;
  for (int i = 0; i < 256; ++i)
    all += static_cast<char>(i);
  CHECK(u.call(echo, all) == all);
  CHECK(u.call(grow, 1 << 20).size() == (1u << 20));
  // sudo resets the environment: HOME is the target user's, and the
  // bundle went to its ~/.cache/mitosis.
  CHECK(u.call(env_of, "HOME") == "/home/" + env["CLUSTER_USER"]);
  CHECK(u.call(my_bundle_dir).rfind("/home/" + env["CLUSTER_USER"] + "/.cache/mitosis/", 0) == 0);
}

TEST_CASE("sudo answers the password prompt through a via chain") {
  const auto& env = cluster_env::get();
  mitosis::master m{0, nullptr};
  auto admin = m.sudo({.user = env["CLUSTER_ADMIN"]}, {.name = "admin"});
  REQUIRE(admin.call(my_uid) == uid_of(env["CLUSTER_ADMIN"]));
  auto t0 = clk::now();
  auto r = m.sudo({.user = "root", .password = env["CLUSTER_ADMIN_PW"]},
                  {.name = "root-again", .via = admin, .connect_timeout = timeout});
  CHECK(seconds(clk::now() - t0) < 5.0);
  CHECK(r.call(my_uid) == 0);
  CHECK(r.call(echo, "through admin") == "through admin");
}

TEST_CASE("sudo with a wrong password is an auth_error naming the context") {
  const auto& env = cluster_env::get();
  mitosis::master m{0, nullptr};
  auto admin = m.sudo({.user = env["CLUSTER_ADMIN"]}, {.name = "admin"});
  auto f = start_failure([&] {
    m.sudo({.user = "root", .password = "wrong"},
           {.name = "bad-pw", .via = admin, .connect_timeout = timeout});
  });
  INFO(f.what);
  REQUIRE(f.is_auth);
  CHECK(f.code == mitosis::errc::auth_failed);
  CHECK(seconds(f.took) < seconds(timeout));
  CHECK(f.what.find("bad-pw") != std::string::npos);
  CHECK(f.what.find("admin") != std::string::npos);
  CHECK(f.context.find("bad-pw") != std::string::npos);
  // The via context is unharmed.
  CHECK(admin.call(echo, "still here") == "still here");
}

TEST_CASE("sudo asking for a password when none was given fails at once") {
  const auto& env = cluster_env::get();
  mitosis::master m{0, nullptr};
  auto admin = m.sudo({.user = env["CLUSTER_ADMIN"]}, {.name = "admin"});
  auto f = start_failure([&] {
    m.sudo({.user = "root"}, {.name = "no-pw", .via = admin, .connect_timeout = timeout});
  });
  INFO(f.what);
  REQUIRE(f.is_auth);
  CHECK(f.code == mitosis::errc::auth_failed);
  CHECK(seconds(f.took) < 2.0);
  CHECK(f.what.find("no-pw") != std::string::npos);
  CHECK(f.what.find("none was given") != std::string::npos);
  CHECK(admin.call(echo, "still here") == "still here");
}

TEST_CASE("sudo by a user without sudo rights is become_denied") {
  const auto& env = cluster_env::get();
  mitosis::master m{0, nullptr};
  auto user = m.sudo({.user = env["CLUSTER_USER"]}, {.name = "plain-user"});
  auto f = start_failure([&] {
    m.sudo({.user = "root", .password = env["CLUSTER_USER_PW"]},
           {.name = "not-allowed", .via = user, .connect_timeout = timeout});
  });
  INFO(f.what);
  REQUIRE(f.is_auth);
  CHECK(f.code == mitosis::errc::become_denied);
  CHECK(seconds(f.took) < seconds(timeout));
  CHECK(f.what.find("not-allowed") != std::string::npos);
  CHECK(user.call(echo, "still here") == "still here");
}

TEST_CASE("sudo preserve_env keeps the caller's environment and falls back to /tmp for the cache") {
  const auto& env = cluster_env::get();
  // Set before the master starts (no other thread reads the environment).
  scoped_env plain{"BECOME_TEST_VAR", "kept-value"};
  // The parent never passes MITOSIS_* on, -E or not.
  scoped_env ours{"MITOSIS_BECOME_TEST_VAR", "kept-value"};
  mitosis::master m{0, nullptr};
  auto uid = uid_of(env["CLUSTER_USER"]);
  auto kept = m.sudo({.user = env["CLUSTER_USER"], .preserve_env = true}, {.name = "sudo-E"});
  CHECK(kept.call(my_uid) == uid);
  CHECK(kept.call(env_of, "BECOME_TEST_VAR") == "kept-value");
  CHECK(kept.call(env_of, "MITOSIS_BECOME_TEST_VAR").empty());
  // HOME stays the caller's (/root, not writable by the user): stage-1
  // used /tmp/mitosis-<uid>.
  CHECK(kept.call(env_of, "HOME") == "/root");
  auto dir = kept.call(my_bundle_dir);
  CHECK(dir.rfind("/tmp/mitosis-" + std::to_string(uid) + "/", 0) == 0);
  struct stat st{};
  REQUIRE(::stat(("/tmp/mitosis-" + std::to_string(uid)).c_str(), &st) == 0);
  CHECK(st.st_uid == static_cast<uid_t>(uid));
  CHECK((st.st_mode & 077) == 0);

  auto reset = m.sudo({.user = env["CLUSTER_USER"]}, {.name = "sudo-plain"});
  CHECK(reset.call(my_uid) == uid);
  CHECK(reset.call(env_of, "BECOME_TEST_VAR").empty());
  CHECK(reset.call(env_of, "HOME") == "/home/" + env["CLUSTER_USER"]);
}

// --- su ------------------------------------------------------------------

TEST_CASE("su from root starts a context as mitosis-user") {
  const auto& env = cluster_env::get();
  mitosis::master m{0, nullptr};
  auto u = m.su({.user = env["CLUSTER_USER"]}, {.name = "su-user", .connect_timeout = timeout});
  CHECK(u.call(my_uid) == uid_of(env["CLUSTER_USER"]));
  CHECK(u.call(echo, "over a full pty") == "over a full pty");
  // 8-bit clean over the pty: every byte value round-trips.
  std::string all;
  for (int i = 0; i < 256; ++i)
    all += static_cast<char>(i);
  all += all;
  CHECK(u.call(echo, all) == all);
  auto big = u.call(grow, 1 << 20);
  CHECK(big.size() == (1u << 20));
}

TEST_CASE("su answers the password prompt through a via chain") {
  const auto& env = cluster_env::get();
  mitosis::master m{0, nullptr};
  auto user = m.sudo({.user = env["CLUSTER_USER"]}, {.name = "plain-user"});
  auto t0 = clk::now();
  auto admin = m.su({.user = env["CLUSTER_ADMIN"], .password = env["CLUSTER_ADMIN_PW"]},
                    {.name = "su-admin", .via = user, .connect_timeout = timeout});
  CHECK(seconds(clk::now() - t0) < 5.0);
  CHECK(admin.call(my_uid) == uid_of(env["CLUSTER_ADMIN"]));
  CHECK(admin.call(echo, "su via") == "su via");
}

TEST_CASE("su with a wrong password is an auth_error within the timeout") {
  const auto& env = cluster_env::get();
  mitosis::master m{0, nullptr};
  auto user = m.sudo({.user = env["CLUSTER_USER"]}, {.name = "plain-user"});
  auto f = start_failure([&] {
    m.su({.user = env["CLUSTER_ADMIN"], .password = "wrong"},
         {.name = "su-bad-pw", .via = user, .connect_timeout = timeout});
  });
  INFO(f.what);
  REQUIRE(f.is_auth);
  CHECK(f.code == mitosis::errc::auth_failed);
  CHECK(seconds(f.took) < seconds(timeout));
  CHECK(f.what.find("su-bad-pw") != std::string::npos);
  CHECK(user.call(echo, "still here") == "still here");

  auto g = start_failure([&] {
    m.su({.user = env["CLUSTER_ADMIN"]}, {.name = "su-no-pw", .via = user, .connect_timeout = timeout});
  });
  INFO(g.what);
  REQUIRE(g.is_auth);
  CHECK(g.code == mitosis::errc::auth_failed);
  CHECK(seconds(g.took) < 2.0);
}

// --- doas ----------------------------------------------------------------

TEST_CASE("doas without a password from a nopass user gives root") {
  require_doas();
  const auto& env = cluster_env::get();
  mitosis::master m{0, nullptr};
  auto nopw = m.sudo({.user = env["CLUSTER_NOPW"]}, {.name = "nopw"});
  REQUIRE(nopw.call(my_uid) == uid_of(env["CLUSTER_NOPW"]));
  auto r = m.doas({.user = "root"}, {.name = "doas-root", .via = nopw, .connect_timeout = timeout});
  CHECK(r.call(my_uid) == 0);
  CHECK(r.call(echo, "doas") == "doas");
}

TEST_CASE("doas answers the password prompt through a via chain") {
  require_doas();
  const auto& env = cluster_env::get();
  mitosis::master m{0, nullptr};
  auto admin = m.sudo({.user = env["CLUSTER_ADMIN"]}, {.name = "admin"});
  auto t0 = clk::now();
  auto r = m.doas({.user = "root", .password = env["CLUSTER_ADMIN_PW"]},
                  {.name = "doas-pw", .via = admin, .connect_timeout = timeout});
  CHECK(seconds(clk::now() - t0) < 5.0);
  CHECK(r.call(my_uid) == 0);
  CHECK(r.call(echo, "doas via") == "doas via");
}

TEST_CASE("doas with a wrong or missing password is an auth_error") {
  require_doas();
  const auto& env = cluster_env::get();
  mitosis::master m{0, nullptr};
  auto admin = m.sudo({.user = env["CLUSTER_ADMIN"]}, {.name = "admin"});
  auto f = start_failure([&] {
    m.doas({.user = "root", .password = "wrong"},
           {.name = "doas-bad-pw", .via = admin, .connect_timeout = timeout});
  });
  INFO(f.what);
  REQUIRE(f.is_auth);
  CHECK(f.code == mitosis::errc::auth_failed);
  CHECK(seconds(f.took) < seconds(timeout));
  CHECK(f.what.find("doas-bad-pw") != std::string::npos);

  auto g = start_failure([&] {
    m.doas({.user = "root"}, {.name = "doas-no-pw", .via = admin, .connect_timeout = timeout});
  });
  INFO(g.what);
  REQUIRE(g.is_auth);
  CHECK(g.code == mitosis::errc::auth_failed);
  CHECK(seconds(g.took) < 2.0);
  CHECK(admin.call(echo, "still here") == "still here");
}

TEST_CASE("doas by a user without a doas rule is become_denied") {
  require_doas();
  const auto& env = cluster_env::get();
  mitosis::master m{0, nullptr};
  auto user = m.sudo({.user = env["CLUSTER_USER"]}, {.name = "plain-user"});
  auto f = start_failure([&] {
    m.doas({.user = "root", .password = env["CLUSTER_USER_PW"]},
           {.name = "doas-denied", .via = user, .connect_timeout = timeout});
  });
  INFO(f.what);
  REQUIRE(f.is_auth);
  CHECK(f.code == mitosis::errc::become_denied);
  CHECK(seconds(f.took) < 2.0);
  CHECK(f.what.find("doas-denied") != std::string::npos);
}

// --- lifetime --------------------------------------------------------------

TEST_CASE("a context started by sudo ends with the master") {
  const auto& env = cluster_env::get();
  int agent = 0;
  {
    mitosis::master m{0, nullptr};
    auto u = m.sudo({.user = env["CLUSTER_USER"]}, {.name = "short-lived"});
    agent = u.call(my_pid);
    REQUIRE(agent > 0);
    REQUIRE(alive(agent));
  }
  CHECK(gone_within(agent, 2000ms));
}

TEST_CASE("a context started by a become program ends when its parent is killed") {
  const auto& env = cluster_env::get();
  auto kind = mitosis::bootstrap::method_kind::sudo;
  SECTION("sudo") {
    kind = mitosis::bootstrap::method_kind::sudo;
  }
  SECTION("su") {
    kind = mitosis::bootstrap::method_kind::su;
  }
  SECTION("doas") {
    require_doas();
    kind = mitosis::bootstrap::method_kind::doas;
  }
  mitosis::master m{0, nullptr};
  auto parent_ctx = m.local({.name = "doomed-parent"});
  int parent_pid = parent_ctx.call(my_pid);
  auto u = m.become(kind, {.user = env["CLUSTER_USER"]},
                    {.name = "orphan", .via = parent_ctx, .connect_timeout = timeout});
  int agent = u.call(my_pid);
  REQUIRE(u.call(my_uid) == uid_of(env["CLUSTER_USER"]));
  REQUIRE(::kill(parent_pid, SIGKILL) == 0);
  // Its stream to the parent reaches EOF (or the pty hangs up) through the
  // become program: the agent exits.
  CHECK(gone_within(agent, 2000ms));
}
