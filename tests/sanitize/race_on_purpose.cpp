// A data race on purpose, to prove that ThreadSanitizer still reports races
// in mitosis programs' own code under tests/sanitize/tsan.supp.
//
// The suppressions hide reports that have a CAF frame in a racing stack
// (Debian's libcaf is not instrumented: see tsan.supp). This program races
// in code of its own while running in a child context: a called function,
// run by one of the context's call workers below the router's dispatch,
// and a thread it starts write the same global with nothing ordering them.
// The ctest that runs this program expects the report (see
// tests/CMakeLists.txt): a suppression that hid mitosis's own threads
// would fail it.
#include <chrono>
#include <iostream>
#include <thread>

#include <mitosis/mitosis.hpp>

namespace {

int shared_counter = 0; // written by two threads without synchronisation

int race_on_purpose() {
  std::thread writer{[] { shared_counter += 1; }};
  std::this_thread::sleep_for(std::chrono::milliseconds(100));
  shared_counter += 2; // races with the thread's write above
  writer.join();
  return shared_counter;
}
MITOSIS_REMOTE(race_on_purpose);

} // namespace

int main(int argc, char** argv) {
  mitosis::master m{argc, argv};
  auto child = m.local({.name = "racer"});
  std::cout << "race_on_purpose in 'racer' returned " << child.call(race_on_purpose) << '\n';
}
