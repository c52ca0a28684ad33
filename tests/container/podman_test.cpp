// The podman method against a real container (scripts/container.sh up: a
// busybox-only image imported from a tarball, run as root with runc and
// the vfs driver). The container has no libraries: the context runs from
// the bundle stage-1 ships into it.
#define CATCH_CONFIG_RUNNER
#include <catch2/catch.hpp>

#include <chrono>
#include <csignal>
#include <cstdio>
#include <string>
#include <thread>
#include <unistd.h>

#include "../integration/test_functions.hpp"
#include "mitosis/mitosis.hpp"

namespace {

const char* container = "mitosis-test";

mitosis::container_options options() {
  mitosis::container_options o;
  o.container = container;
  o.global_args = {"--storage-driver", "vfs", "--runtime", "runc", "--cgroup-manager", "cgroupfs"};
  return o;
}

// What `podman exec <container> sh -c <script>` prints.
std::string in_container(const std::string& script) {
  std::string cmd = "podman --storage-driver vfs --runtime runc --cgroup-manager cgroupfs exec "
                    + std::string{container} + " /bin/sh -c '" + script + "' 2>&1";
  std::string out;
  if (auto* p = ::popen(cmd.c_str(), "r")) {
    char buf[512];
    while (auto n = std::fread(buf, 1, sizeof(buf), p))
      out.append(buf, n);
    ::pclose(p);
  }
  return out;
}

} // namespace

TEST_CASE("podman: a context in a real container runs calls there and ends with the master's "
          "connection") {
  REQUIRE(::geteuid() == 0); // podman runs containers as root here
  {
    mitosis::master m{0, nullptr};
    auto c = m.container(mitosis::bootstrap::method_kind::podman, options());
    // The image's own file, the container's pid and mount namespaces.
    CHECK(c.call(read_text, std::string{"/etc/mitosis-image"}) == "mitosis test image\n");
    CHECK(c.call(ns_of, std::string{"mnt"}) != ns_of("mnt"));
    CHECK(c.call(ns_of, std::string{"pid"}) != ns_of("pid"));
    CHECK(c.call(echo, std::string{"hi"}) == "hi");
    CHECK(c.call(add, 2, 3) == 5);
    // The agent is a process of the container's: pid 1 there is its sleep.
    CHECK(c.call(read_text, std::string{"/proc/1/cmdline"}).rfind("/bin/sleep", 0) == 0);
    CHECK(in_container("ps").find("mitosis") != std::string::npos);
    // A second context in the same container, through the first.
    auto inner = m.local({.name = "inner", .via = c});
    CHECK(inner.call(read_text, std::string{"/etc/mitosis-image"}) == "mitosis test image\n");
  }
  // The master is gone: so are its contexts inside the container.
  bool left = true;
  for (int i = 0; i < 100 && left; ++i) {
    left = in_container("ps").find("mitosis") != std::string::npos;
    if (left)
      std::this_thread::sleep_for(std::chrono::milliseconds{50});
  }
  INFO(in_container("ps"));
  CHECK_FALSE(left);
}

TEST_CASE("podman: a container that is not running is a typed error naming it") {
  REQUIRE(::geteuid() == 0);
  mitosis::master m{0, nullptr};
  auto o = options();
  o.container = "mitosis-no-such-container";
  try {
    m.container(mitosis::bootstrap::method_kind::podman, o);
    FAIL("a context started in a container that does not exist");
  } catch (const mitosis::connect_error& e) {
    std::string what = e.what();
    INFO(what);
    CHECK(what.find("mitosis-no-such-container") != std::string::npos);
    CHECK(what.find("no container") != std::string::npos); // podman's own words
  }
}

int main(int argc, char** argv) {
  mitosis::serve_if_agent(argc, argv);
  return Catch::Session().run(argc, argv);
}
