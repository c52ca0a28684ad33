// samples/hello: a local child, a grandchild through it, calls, and a remote
// exception caught in the master.
#include <iostream>
#include <stdexcept>
#include <unistd.h>

#include <mitosis/mitosis.hpp>

std::string whoami(std::string greeting) {
  return greeting + " from pid " + std::to_string(::getpid());
}
MITOSIS_REMOTE(whoami);

int divide(int a, int b) {
  if (b == 0)
    throw std::domain_error("division by zero");
  return a / b;
}
MITOSIS_REMOTE(divide);

int main(int argc, char** argv) {
  mitosis::master m{argc, argv};  // in a started copy: serves, never returns
  auto child = m.local({.name = "child"});
  auto grandchild = m.local({.name = "grandchild", .via = child});

  std::cout << "master pid " << ::getpid() << '\n';
  std::cout << "child:      " << child.call(whoami, "hello") << '\n';
  std::cout << "grandchild: " << grandchild.call(whoami, "hi") << '\n';
  auto f = grandchild.call_async(divide, 84, 2);
  std::cout << "84 / 2 in grandchild = " << f.get() << '\n';
  try {
    child.call(divide, 1, 0);
  } catch (const mitosis::call_error& e) {
    std::cout << "caught: " << e.what() << '\n';
  }
}
