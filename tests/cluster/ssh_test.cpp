// The ssh method against the cluster's real sshds: bootstrap, reuse,
// host keys, auth kinds, via chains and their failures.
#include <catch2/catch.hpp>

#include <chrono>
#include <filesystem>
#include <unistd.h>

#include "../integration/test_functions.hpp"
#include "cluster_env.hpp"

namespace fs = std::filesystem;
using namespace std::chrono_literals;

TEST_CASE("ssh starts a context on a cluster host and calls it") {
  const auto& env = cluster_env::get();
  mitosis::master m{0, nullptr};
  auto h2 = m.ssh(env.ssh("h2"), {.name = "h2"});
  CHECK(h2.call(add, 20, 22) == 42);
  CHECK(h2.call(env_of, "SSH_CONNECTION").find(env.addr("h2")) != std::string::npos);
  CHECK(h2.call(my_uid) == 0);
}
