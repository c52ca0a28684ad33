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
#include <initializer_list>
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

using mitosis::bootstrap::method_kind;
using mitosis::errc;

// Every byte value once, `times` over.
std::string every_byte(int times) {
  std::string once;
  for (int i = 0; i < 256; ++i)
    once += static_cast<char>(i);
  std::string all;
  for (int t = 0; t < times; ++t)
    all += once;
  return all;
}

// The stream to `c` is 8-bit clean (`times` over every byte value), and a
// large reply arrives whole.
void expect_clean_stream(const mitosis::context& c, int times) {
  auto all = every_byte(times);
  CHECK(c.call(echo, all) == all);
  CHECK(c.call(grow, 1 << 20).size() == (1u << 20));
}

// `c` runs as `uid` and echoes `text`.
void expect_answers(const mitosis::context& c, int uid, const std::string& text) {
  CHECK(c.call(my_uid) == uid);
  CHECK(c.call(echo, text) == text);
}

// The context a failed start went through still answers.
void expect_unharmed(const mitosis::context& via) {
  CHECK(via.call(echo, "still here") == "still here");
}

// A failed start threw an auth_error with `code` in under `limit`
// seconds, and its message names each of `in_what`.
void expect_auth_failure(const failure& f, errc code, double limit,
                         std::initializer_list<const char*> in_what) {
  INFO(f.what);
  REQUIRE(f.is_auth);
  CHECK(f.code == code);
  CHECK(seconds(f.took) < limit);
  for (const char* fragment : in_what) {
    INFO("the message should name: " << fragment);
    CHECK(f.what.find(fragment) != std::string::npos);
  }
}

// A master and, started from it by sudo, a context as the cluster user
// `user_var` names: the via of the starts a test makes.
struct from_user {
  const cluster_env& env = cluster_env::get();
  mitosis::master m{0, nullptr};
  mitosis::context via;
  // How long the last start() took.
  clk::duration took{};

  from_user(const char* user_var, const char* name)
    : via(m.sudo({.user = env[user_var]}, {.name = name})) {}

  mitosis::hop_options hop(const char* name) const {
    return {.name = name, .via = via, .connect_timeout = timeout};
  }

  // Starts `name` through `via` with `kind`.
  mitosis::context start(method_kind kind, mitosis::become_options o, const char* name) {
    auto t0 = clk::now();
    auto c = m.become(kind, std::move(o), hop(name));
    took = clk::now() - t0;
    return c;
  }

  // Starts `name` through `via` with `kind`, expecting it to fail.
  failure refused(method_kind kind, mitosis::become_options o, const char* name) {
    return start_failure([&] { m.become(kind, std::move(o), hop(name)); });
  }
};

} // namespace

// --- sudo ----------------------------------------------------------------

TEST_CASE("sudo from root starts a context as mitosis-user without a password") {
  const auto& env = cluster_env::get();
  mitosis::master m{0, nullptr};
  auto u = m.sudo({.user = env["CLUSTER_USER"]}, {.name = "as-user"});
  expect_answers(u, uid_of(env["CLUSTER_USER"]), "hello from sudo");
  CHECK(u.call(add, 40, 2) == 42);
  // sudo (use_pty in Debian's sudoers) relays the stream: 8-bit clean, and
  // a large reply arrives whole.
  expect_clean_stream(u, 1);
  // sudo resets the environment: HOME is the target user's, and the
  // bundle went to its ~/.cache/mitosis.
  CHECK(u.call(env_of, "HOME") == "/home/" + env["CLUSTER_USER"]);
  CHECK(u.call(my_bundle_dir).rfind("/home/" + env["CLUSTER_USER"] + "/.cache/mitosis/", 0) == 0);
}

TEST_CASE("sudo answers the password prompt through a via chain") {
  from_user s{"CLUSTER_ADMIN", "admin"};
  REQUIRE(s.via.call(my_uid) == uid_of(s.env["CLUSTER_ADMIN"]));
  auto r = s.start(method_kind::sudo, {.user = "root", .password = s.env["CLUSTER_ADMIN_PW"]},
                   "root-again");
  CHECK(seconds(s.took) < 5.0);
  expect_answers(r, 0, "through admin");
}

TEST_CASE("sudo set_home with preserve_env: the environment is kept, HOME is the target's") {
  const auto& env = cluster_env::get();
  scoped_env plain{"BECOME_TEST_VAR", "kept-value"};
  mitosis::master m{0, nullptr};
  auto u = m.sudo({.user = env["CLUSTER_USER"], .preserve_env = true, .set_home = true},
                  {.name = "sudo-EH"});
  CHECK(u.call(my_uid) == uid_of(env["CLUSTER_USER"]));
  CHECK(u.call(env_of, "BECOME_TEST_VAR") == "kept-value");
  CHECK(u.call(env_of, "HOME") == "/home/" + env["CLUSTER_USER"]);
  auto login = m.sudo({.user = env["CLUSTER_USER"], .login = true}, {.name = "sudo-i"});
  CHECK(login.call(my_uid) == uid_of(env["CLUSTER_USER"]));
  CHECK(login.call(env_of, "HOME") == "/home/" + env["CLUSTER_USER"]);
  auto su = m.su({.user = env["CLUSTER_USER"], .login = true}, {.name = "su-l"});
  CHECK(su.call(my_uid) == uid_of(env["CLUSTER_USER"]));
}

TEST_CASE("sudo with a wrong password is an auth_error naming the context") {
  from_user s{"CLUSTER_ADMIN", "admin"};
  auto f = s.refused(method_kind::sudo, {.user = "root", .password = "wrong"}, "bad-pw");
  expect_auth_failure(f, errc::auth_failed, seconds(timeout), {"bad-pw", "admin"});
  CHECK(f.context.find("bad-pw") != std::string::npos);
  // The via context is unharmed.
  expect_unharmed(s.via);
}

TEST_CASE("sudo asking for a password when none was given fails at once") {
  from_user s{"CLUSTER_ADMIN", "admin"};
  auto f = s.refused(method_kind::sudo, {.user = "root"}, "no-pw");
  expect_auth_failure(f, errc::auth_failed, 2.0, {"no-pw", "none was given"});
  expect_unharmed(s.via);
}

TEST_CASE("sudo by a user without sudo rights is become_denied") {
  from_user s{"CLUSTER_USER", "plain-user"};
  auto f = s.refused(method_kind::sudo, {.user = "root", .password = s.env["CLUSTER_USER_PW"]},
                     "not-allowed");
  expect_auth_failure(f, errc::become_denied, seconds(timeout), {"not-allowed"});
  expect_unharmed(s.via);
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
  expect_answers(u, uid_of(env["CLUSTER_USER"]), "over a full pty");
  // 8-bit clean over the pty: every byte value round-trips.
  expect_clean_stream(u, 2);
}

TEST_CASE("su to a user whose login shell is tcsh runs stage-1 through it") {
  // su runs `exec /bin/sh -c '<stage-1>'` as `tcsh -c ...`: one line, and
  // quoting that csh passes unchanged.
  const auto& env = cluster_env::get();
  mitosis::master m{0, nullptr};
  auto u = m.su({.user = env["CLUSTER_CSH_USER"]},
                {.name = "su-csh: a !bang", .connect_timeout = timeout});
  expect_answers(u, uid_of(env["CLUSTER_CSH_USER"]), "through tcsh");
  CHECK(u.call(env_of, "SHELL") == "/bin/tcsh");
}

TEST_CASE("su answers the password prompt through a via chain") {
  from_user s{"CLUSTER_USER", "plain-user"};
  const auto& admin_user = s.env["CLUSTER_ADMIN"];
  auto admin = s.start(method_kind::su, {.user = admin_user, .password = s.env["CLUSTER_ADMIN_PW"]},
                       "su-admin");
  CHECK(seconds(s.took) < 5.0);
  expect_answers(admin, uid_of(admin_user), "su via");
}

TEST_CASE("su with a wrong password is an auth_error within the timeout") {
  from_user s{"CLUSTER_USER", "plain-user"};
  const auto& admin_user = s.env["CLUSTER_ADMIN"];
  auto f = s.refused(method_kind::su, {.user = admin_user, .password = "wrong"}, "su-bad-pw");
  expect_auth_failure(f, errc::auth_failed, seconds(timeout), {"su-bad-pw"});
  expect_unharmed(s.via);

  auto g = s.refused(method_kind::su, {.user = admin_user}, "su-no-pw");
  expect_auth_failure(g, errc::auth_failed, 2.0, {});
}

// --- doas ----------------------------------------------------------------

TEST_CASE("doas without a password from a nopass user gives root") {
  require_doas();
  from_user s{"CLUSTER_NOPW", "nopw"};
  REQUIRE(s.via.call(my_uid) == uid_of(s.env["CLUSTER_NOPW"]));
  expect_answers(s.start(method_kind::doas, {.user = "root"}, "doas-root"), 0, "doas");
}

TEST_CASE("doas answers the password prompt through a via chain") {
  require_doas();
  from_user s{"CLUSTER_ADMIN", "admin"};
  auto r = s.start(method_kind::doas, {.user = "root", .password = s.env["CLUSTER_ADMIN_PW"]},
                   "doas-pw");
  CHECK(seconds(s.took) < 5.0);
  expect_answers(r, 0, "doas via");
}

TEST_CASE("doas with a wrong or missing password is an auth_error") {
  require_doas();
  from_user s{"CLUSTER_ADMIN", "admin"};
  auto f = s.refused(method_kind::doas, {.user = "root", .password = "wrong"}, "doas-bad-pw");
  expect_auth_failure(f, errc::auth_failed, seconds(timeout), {"doas-bad-pw"});

  auto g = s.refused(method_kind::doas, {.user = "root"}, "doas-no-pw");
  expect_auth_failure(g, errc::auth_failed, 2.0, {});
  expect_unharmed(s.via);
}

TEST_CASE("doas by a user without a doas rule is become_denied") {
  require_doas();
  from_user s{"CLUSTER_USER", "plain-user"};
  auto f = s.refused(method_kind::doas, {.user = "root", .password = s.env["CLUSTER_USER_PW"]},
                     "doas-denied");
  expect_auth_failure(f, errc::become_denied, 2.0, {"doas-denied"});
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
