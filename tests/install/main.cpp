// Built against the installed tree by tests/install/run.sh.
#include <iostream>
#include <unistd.h>

#include <mitosis/mitosis.hpp>

int square(int x) {
  return x * x;
}
MITOSIS_REMOTE(square);

int pid() {
  return ::getpid();
}
MITOSIS_REMOTE(pid);

int main(int argc, char** argv) {
  mitosis::master m{argc, argv};
  auto c = m.local({.name = "outside-child"});
  int r = c.call(square, 12);
  bool other_process = c.call(pid) != ::getpid();
  std::cout << "square(12) = " << r << (other_process ? " in another process" : "") << '\n';
  return r == 144 && other_process ? 0 : 1;
}
