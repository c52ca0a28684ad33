// Built against the installed tree by tests/install/run.sh.
#include <caf/event_based_actor.hpp>
#include <caf/scoped_actor.hpp>
#include <chrono>
#include <iostream>
#include <unistd.h>

#include <mitosis/actors/remote_actor.hpp>
#include <mitosis/mitosis.hpp>

int square(int x) {
  return x * x;
}
MITOSIS_REMOTE(square);

int pid() {
  return ::getpid();
}
MITOSIS_REMOTE(pid);

// A remote actor type: answers with its process id.
caf::behavior pid_actor(caf::event_based_actor*) {
  return {[](int) { return static_cast<int>(::getpid()); }};
}
MITOSIS_ACTOR("pid_actor", pid_actor);

int main(int argc, char** argv) {
  mitosis::master m{argc, argv};
  auto c = m.local({.name = "outside-child"});
  int r = c.call(square, 12);
  bool other_process = c.call(pid) != ::getpid();
  // An actor spawned there answers from there too.
  int actor_pid = 0;
  {
    caf::scoped_actor self{m.system()};
    self->request(c.spawn<caf::actor>("pid_actor"), std::chrono::seconds{5}, 0)
      .receive([&](int p) { actor_pid = p; }, [](caf::error&) {});
  }
  other_process = other_process && actor_pid == c.call(pid);
  std::cout << "square(12) = " << r << (other_process ? " in another process" : "") << '\n';
  return r == 144 && other_process ? 0 : 1;
}
