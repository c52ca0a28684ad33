// Test support: the processes below a pid, as /proc shows them.
#pragma once

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

namespace proc {

/// One process, as /proc/<pid>/stat shows it.
struct proc_entry {
  int pid = 0;
  std::string comm; // without the parentheses
  char state = 0;
};

/// The children of `parent` (ppid `parent` in /proc/<pid>/stat), zombies
/// included.
inline std::vector<proc_entry> children_of(int parent) {
  std::vector<proc_entry> out;
  for (auto& entry : std::filesystem::directory_iterator{"/proc"}) {
    const auto name = entry.path().filename().string();
    if (name.find_first_not_of("0123456789") != std::string::npos)
      continue;
    std::ifstream stat{entry.path() / "stat"};
    std::string line;
    if (!std::getline(stat, line))
      continue;
    // "pid (comm) state ppid ...": comm may hold spaces and parentheses.
    auto open = line.find('(');
    auto close = line.rfind(')');
    if (open == std::string::npos || close == std::string::npos || close < open)
      continue;
    char state = 0;
    int ppid = 0;
    if (std::sscanf(line.c_str() + close + 1, " %c %d", &state, &ppid) == 2 && ppid == parent)
      out.push_back({std::atoi(name.c_str()), line.substr(open + 1, close - open - 1), state});
  }
  return out;
}

} // namespace proc
