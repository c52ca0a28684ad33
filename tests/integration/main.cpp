// Integration test runner. The test binary is also the program the tests
// start copies of, so agent mode must be diverted before Catch2 runs; and
// it doubles as a throw-away master for the kill -9 test.
#define CATCH_CONFIG_RUNNER
#include <catch2/catch.hpp>

#include <chrono>
#include <cstdio>
#include <cstdlib>
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

} // namespace

int main(int argc, char** argv) {
  // A copy that dies before it reads its boot frame (lifecycle_test: a
  // start whose child dies before its hello). Its master set this for
  // every local child it starts.
  if (mitosis::bootstrap::is_agent_process() && std::getenv("MITOSIS_TEST_AGENT_EXIT_EARLY"))
    ::_exit(3);
  mitosis::serve_if_agent(argc, argv);
  if (std::getenv("MITOSIS_TEST_SUBMASTER")) {
    ::unsetenv("MITOSIS_TEST_SUBMASTER");
    return run_submaster(argc, argv);
  }
  return Catch::Session().run(argc, argv);
}
