// Pipelined call chains in real local contexts: order, the first exception
// reported by the next replying call, later calls not run, reset.
#include <catch2/catch.hpp>

#include <chrono>
#include <csignal>
#include <thread>
#include <vector>

#include "channel_functions.hpp"
#include "mitosis/mitosis.hpp"
#include "test_functions.hpp"

using namespace std::chrono_literals;

TEST_CASE("chains: no-reply calls run in order and the final call sees them all") {
  mitosis::master m{0, nullptr};
  auto c = m.local({.name = "chain"});
  mitosis::call_chain chain{c};
  for (int i = 0; i < 100; ++i)
    chain.call_no_reply(chain_step, i);
  auto log = chain.call(chain_log);
  std::vector<int> want(100);
  for (int i = 0; i < 100; ++i)
    want[i] = i;
  CHECK(log == want);
}

TEST_CASE("chains: an exception in a no-reply call fails the chain's next call") {
  mitosis::master m{0, nullptr};
  auto c = m.local({.name = "chainfail"});
  mitosis::call_chain chain{c};
  chain.call_no_reply(chain_step, 1);
  chain.call_no_reply(chain_throw, std::string{"step two broke"});
  chain.call_no_reply(chain_step, 3); // not run
  try {
    chain.call(add, 1, 2);
    FAIL("no exception");
  } catch (const mitosis::call_error& e) {
    CHECK(e.remote_type() == "std::runtime_error");
    CHECK(e.remote_message() == "step two broke");
    CHECK(e.context() == "chainfail");
  }
  // Every later call fails the same way until reset.
  CHECK_THROWS_AS(chain.call(add, 1, 2), mitosis::call_error);
  // Calls outside the chain are not affected.
  CHECK(c.call(add, 2, 2) == 4);
  CHECK(c.call(chain_log) == std::vector<int>{1});
  chain.reset();
  chain.call_no_reply(chain_step, 4);
  CHECK(chain.call(add, 1, 2) == 3);
  CHECK(c.call(chain_log) == std::vector<int>{1, 4});
}

TEST_CASE("chains: a failing replying call reports its own exception, then poisons the chain") {
  mitosis::master m{0, nullptr};
  auto c = m.local({.name = "chainreply"});
  mitosis::call_chain chain{c};
  auto f = chain.call_async(fail_with, std::string{"first"});
  auto g = chain.call_async(add, 1, 1);
  CHECK_THROWS_WITH(f.get(), Catch::Contains("first"));
  CHECK_THROWS_WITH(g.get(), Catch::Contains("first"));
}

TEST_CASE("chains: two chains into one context do not see each other's exceptions") {
  mitosis::master m{0, nullptr};
  auto c = m.local({.name = "twochains"});
  mitosis::call_chain a{c};
  mitosis::call_chain b{c};
  a.call_no_reply(chain_throw, std::string{"a broke"});
  b.call_no_reply(chain_step, 7);
  CHECK_THROWS_AS(a.call(add, 0, 0), mitosis::call_error);
  CHECK(b.call(add, 3, 4) == 7);
}

TEST_CASE("chains: a chain through a hop - and a lost context fails its next call") {
  mitosis::master m{0, nullptr};
  auto c = m.local({.name = "chainhop"});
  auto gc = m.local({.name = "chainleaf", .via = c});
  mitosis::call_chain chain{gc};
  for (int i = 0; i < 10; ++i)
    chain.call_no_reply(chain_step, i);
  CHECK(chain.call(chain_log).size() == 10);
  ::kill(gc.call(my_pid), SIGKILL);
  // Until the master has heard of the loss, the hop may answer no_route.
  auto until = std::chrono::steady_clock::now() + 5s;
  for (bool lost = false; !lost;) {
    try {
      c.call(add, 0, 0);
      gc.call(add, 1, 1);
    } catch (const mitosis::context_lost&) {
      lost = true;
    } catch (const mitosis::error&) {
      REQUIRE(std::chrono::steady_clock::now() < until);
      std::this_thread::sleep_for(1ms);
    }
  }
  CHECK_THROWS_AS(chain.call(add, 1, 1), mitosis::context_lost);
  CHECK(c.call(add, 2, 3) == 5);
}
