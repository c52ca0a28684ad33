// The test cluster's description, read from $MITOSIS_CLUSTER_DIR/env
// (written by scripts/cluster.sh up).
#pragma once

#include <cstdlib>
#include <fstream>
#include <map>
#include <stdexcept>
#include <string>

#include "../../samples/cluster/cluster_env.hpp"
#include "mitosis/mitosis.hpp"

struct cluster_env {
  std::map<std::string, std::string> vars;

  static const cluster_env& get() {
    static cluster_env e = [] {
      cluster_env c;
      auto dir = std::getenv("MITOSIS_CLUSTER_DIR");
      std::string path = std::string{dir ? dir : "/tmp/mitosis-cluster"} + "/env";
      if (!std::ifstream{path})
        throw std::runtime_error("the test cluster is not up: no " + path
                                 + " (run scripts/cluster.sh up)");
      c.vars = cluster::read_env(path);
      return c;
    }();
    return e;
  }

  const std::string& operator[](const std::string& k) const {
    auto i = vars.find(k);
    if (i == vars.end())
      throw std::runtime_error("cluster env has no " + k);
    return i->second;
  }

  std::string addr(const std::string& host) const {
    return (*this)["CLUSTER_ADDR_" + host];
  }

  /// ssh options for `host` as root with the cluster key, enforcing
  /// known_hosts.
  mitosis::ssh_options ssh(const std::string& host, const std::string& user = "root") const {
    mitosis::ssh_options o;
    o.host = addr(host);
    o.user = user;
    o.identity_file = (*this)["CLUSTER_KEY"];
    o.known_hosts = (*this)["CLUSTER_KNOWN_HOSTS"];
    o.use_agent = false;
    return o;
  }
};
