// samples/plugin: a plugin module, a shared object of remote functions and
// actor types that contexts fetch from their parent on first use
// (master::add_plugin).
// It links against nothing of mitosis: its registrations bind to the
// registry of the program that loads it (built with ENABLE_EXPORTS).
#include <fstream>
#include <string>

#include <caf/event_based_actor.hpp>

#include <mitosis/actors/actor_registry.hpp>
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

// An actor type of the plugin: contexts fetch the module on the first
// spawn of "inventory|line_counter" (context::spawn), under the same
// import rights as its functions. Dynamically typed, with built-in message
// types only: the program's actor system was configured before the module
// was loaded.
caf::behavior line_counter(caf::event_based_actor*) {
  return {[](const std::string& path) { return count_lines(path); }};
}
MITOSIS_ACTOR("line_counter", line_counter);
