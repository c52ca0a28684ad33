// Logging: one spdlog logger per subsystem, all writing through one shared
// distribution sink so a context can redirect everything to its parent.
#pragma once

#include <memory>
#include <mutex>
#include <string>

namespace spdlog {
class logger;
namespace sinks {
template <typename Mutex>
class dist_sink;
} // namespace sinks
} // namespace spdlog

namespace mitosis::log {

/// Returns the logger for `subsystem` ("router" gives "mitosis.router"),
/// creating it on first use.
std::shared_ptr<spdlog::logger> get(const std::string& subsystem);

/// Returns a logger named exactly `name` on the shared sink (used for the
/// lines that arrive from other contexts), creating it on first use.
std::shared_ptr<spdlog::logger> get_named(const std::string& name);

/// Returns the sink every mitosis logger writes to. In the master it holds a
/// stderr sink; add your own sinks here.
std::shared_ptr<spdlog::sinks::dist_sink<std::mutex>> sink();

/// Sets the level of every logger made by get() and get_named()
/// (spdlog::level numbering).
void set_level(int level);

} // namespace mitosis::log
