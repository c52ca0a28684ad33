// A data race on purpose, to prove that ThreadSanitizer still reports races
// in mitosis programs' own code under tests/sanitize/tsan.supp.
//
// The suppressions hide reports whose racing access is inside CAF (Debian's
// libcaf is not instrumented, so TSan cannot see the happens-before edges
// its atomics make). This program races in its own code while running in
// a child context: a CAF actor's handler and a called function write the
// same global with nothing ordering them. Both stacks go through CAF and
// mitosis frames below the racing frame, so a suppression broader than
// "the racing frame is CAF's" would hide this report; the ctest that runs
// this program expects the report (see tests/CMakeLists.txt).
#include <chrono>
#include <iostream>
#include <thread>

#include <caf/all.hpp>
#include <mitosis/mitosis.hpp>

namespace {

int shared_counter = 0; // written by two threads without synchronisation

int race_on_purpose() {
  auto writer = mitosis::system().spawn([]() -> caf::behavior {
    return {[](int by) { shared_counter += by; }};
  });
  caf::anon_send(writer, 1);
  std::this_thread::sleep_for(std::chrono::milliseconds(100));
  shared_counter += 2; // races with the actor's write above
  caf::anon_send_exit(writer, caf::exit_reason::user_shutdown);
  return shared_counter;
}
MITOSIS_REMOTE(race_on_purpose);

} // namespace

int main(int argc, char** argv) {
  mitosis::master m{argc, argv};
  auto child = m.local({.name = "racer"});
  std::cout << "race_on_purpose in 'racer' returned " << child.call(race_on_purpose) << '\n';
}
