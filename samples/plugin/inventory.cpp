// samples/plugin: a plugin module, a shared object of remote functions that
// contexts fetch from their parent on first use (master::add_plugin).
// It links against nothing of mitosis: its registrations bind to the
// registry of the program that loads it (built with ENABLE_EXPORTS).
#include <fstream>
#include <string>

#include <mitosis/actors/function_registry.hpp>

int count_lines(std::string path) {
  std::ifstream f{path};
  int n = 0;
  for (std::string line; std::getline(f, line);)
    ++n;
  return n;
}
MITOSIS_REMOTE(count_lines);

std::string plugin_version() {
  return "inventory 1.0";
}
MITOSIS_REMOTE(plugin_version);
