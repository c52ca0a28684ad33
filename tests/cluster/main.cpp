// Cluster test runner: runs inside the mitosis-ctl namespace of the test
// cluster (scripts/cluster.sh; see scripts/in-cluster.sh). The binary is
// also the program the tests start copies of on the cluster's hosts.
#define CATCH_CONFIG_RUNNER
#include <catch2/catch.hpp>

#include "mitosis/mitosis.hpp"

int main(int argc, char** argv) {
  mitosis::serve_if_agent(argc, argv);
  return Catch::Session().run(argc, argv);
}
