// What the actor tests wait for through a caf::scoped_actor: an answer to
// a request, and down messages.
#pragma once

#include <catch2/catch.hpp>

#include <algorithm>
#include <caf/actor_system.hpp>
#include <caf/scoped_actor.hpp>
#include <chrono>
#include <vector>

namespace mitosis::test {

using namespace std::chrono_literals;

// Requests `xs...` from `a` through `self` and returns the answer of type
// T, or fails the test with the error.
template <class T, class Handle, class... Ts>
T ask(caf::scoped_actor& self, const Handle& a, Ts&&... xs) {
  T out{};
  self->request(a, 5s, std::forward<Ts>(xs)...)
    .receive([&](T& x) { out = std::move(x); },
             [&](caf::error& e) { FAIL_CHECK("request failed: " << self->system().render(e)); });
  return out;
}

// Collects the down messages `self` receives until `n` arrived or `limit`
// passed, then waits `quiet` more for any extra one.
inline std::vector<caf::down_msg> downs(caf::scoped_actor& self, std::size_t n,
                                 std::chrono::milliseconds limit,
                                 std::chrono::milliseconds quiet = 500ms) {
  using steady = std::chrono::steady_clock;
  std::vector<caf::down_msg> out;
  auto deadline = steady::now() + limit;
  bool timed_out = false;
  while (out.size() < n && !timed_out)
    self->receive([&](caf::down_msg& d) { out.push_back(std::move(d)); },
                  caf::after(std::max(deadline - steady::now(), steady::duration{0}))
                    >> [&] { timed_out = true; });
  timed_out = false;
  while (!timed_out)
    self->receive([&](caf::down_msg& d) { out.push_back(std::move(d)); },
                  caf::after(quiet) >> [&] { timed_out = true; });
  return out;
}

} // namespace mitosis::test
