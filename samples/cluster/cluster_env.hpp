// Reads the description scripts/cluster.sh writes ($DIR/env: KEY=value
// lines, values optionally in double quotes). Used by samples/cluster and
// by the cluster tests.
#pragma once

#include <fstream>
#include <map>
#include <string>

#include "mitosis/mitosis.hpp"

namespace cluster {

/// Returns the variables of the env file at `path` (empty when missing).
inline std::map<std::string, std::string> read_env(const std::string& path) {
  std::map<std::string, std::string> vars;
  std::ifstream f{path};
  std::string line;
  while (std::getline(f, line)) {
    auto eq = line.find('=');
    if (line.empty() || line[0] == '#' || eq == std::string::npos)
      continue;
    auto v = line.substr(eq + 1);
    if (v.size() >= 2 && v.front() == '"' && v.back() == '"')
      v = v.substr(1, v.size() - 2);
    vars[line.substr(0, eq)] = v;
  }
  return vars;
}

/// The ssh options that reach cluster host `host` ("h1", ...) as root
/// with the cluster's key, from the control namespace.
inline mitosis::ssh_options ssh_to(std::map<std::string, std::string>& env,
                                   const std::string& host) {
  mitosis::ssh_options o;
  o.host = env["CLUSTER_ADDR_" + host];
  o.user = "root";
  o.identity_file = env["CLUSTER_KEY"];
  o.known_hosts = env["CLUSTER_KNOWN_HOSTS"];
  o.use_agent = false;
  return o;
}

} // namespace cluster
