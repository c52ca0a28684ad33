// Integration test runner. The test binary is also the program the tests
// start copies of, so agent mode must be diverted before Catch2 runs; and
// it doubles as a throw-away master for the kill -9 test.
#define CATCH_CONFIG_RUNNER
#include <catch2/catch.hpp>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <stdexcept>
#include <string>
#include <unistd.h>

#include "mitosis/bootstrap/agent_boot.hpp"
#include "mitosis/mitosis.hpp"
#include "test_functions.hpp"

namespace {

// Starts a child and a grandchild (heartbeat interval from
// MITOSIS_TEST_SUBMASTER_HEARTBEAT_MS when set), prints "PIDS master child grandchild",
// then waits to be killed.
int run_submaster(int argc, char** argv) {
  mitosis::master_options o;
  if (auto hb = std::getenv("MITOSIS_TEST_SUBMASTER_HEARTBEAT_MS"))
    o.heartbeat_interval = std::chrono::milliseconds{std::atoi(hb)};
  ::unsetenv("MITOSIS_TEST_SUBMASTER_HEARTBEAT_MS");
  mitosis::master m{argc, argv, o};
  auto child = m.local({.name = "sub.child"});
  auto gc = m.local({.name = "sub.gc", .via = child});
  std::printf("PIDS %d %d %d\n", ::getpid(), child.call(my_pid), gc.call(my_pid));
  std::fflush(stdout);
  for (;;)
    ::pause();
}

// fork_server_test: starts a child, replaces this program's file with
// another program (as a rebuild would), then starts a grandchild through
// the child, whose first local start execs its fork server. Prints
// "REBUILT <answer>" and exits 0, or the error and exits 1.
int run_rebuilt(int argc, char** argv, const char* replacement) {
  try {
    mitosis::master m{argc, argv};
    auto child = m.local({.name = "rebuilt.child"});
    char self[4096];
    auto n = ::readlink("/proc/self/exe", self, sizeof(self) - 1);
    if (n <= 0)
      throw std::runtime_error("readlink /proc/self/exe failed");
    self[n] = '\0';
    const std::string path{self}, fresh = path + ".new";
    if (std::system(("cp " + std::string{replacement} + " " + fresh).c_str()) != 0
        || ::rename(fresh.c_str(), path.c_str()) != 0)
      throw std::runtime_error("could not replace " + path);
    auto gc = m.local({.name = "rebuilt.gc", .via = child});
    std::printf("REBUILT %d\n", gc.call(add, 1, 2));
    return 0;
  } catch (const std::exception& e) {
    std::printf("ERROR %s\n", e.what());
    return 1;
  }
}

} // namespace

int main(int argc, char** argv) {
  // A copy that dies before it reads its boot frame (lifecycle_test: a
  // start whose child dies before its hello). Its master set this for
  // every local child it starts.
  if (mitosis::bootstrap::is_agent_process() && std::getenv("MITOSIS_TEST_AGENT_EXIT_EARLY"))
    ::_exit(3);
  mitosis::serve_if_agent(argc, argv);
  if (const char* replacement = std::getenv("MITOSIS_TEST_REBUILT")) {
    const std::string r{replacement};
    ::unsetenv("MITOSIS_TEST_REBUILT");
    return run_rebuilt(argc, argv, r.c_str());
  }
  if (std::getenv("MITOSIS_TEST_SUBMASTER")) {
    ::unsetenv("MITOSIS_TEST_SUBMASTER");
    return run_submaster(argc, argv);
  }
  return Catch::Session().run(argc, argv);
}
