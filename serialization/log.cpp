#include "log.hpp"

#include <mutex>
#include <vector>
#include <spdlog/sinks/dist_sink.h>
#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/spdlog.h>

namespace mitosis::log {

namespace {

struct state {
  std::shared_ptr<spdlog::sinks::dist_sink_mt> dist = [] {
    auto d = std::make_shared<spdlog::sinks::dist_sink_mt>();
    d->add_sink(std::make_shared<spdlog::sinks::stderr_color_sink_mt>());
    return d;
  }();
  std::mutex mtx;
  spdlog::level::level_enum level = spdlog::level::info;
  std::vector<std::shared_ptr<spdlog::logger>> made;
};

state& global() {
  static state s;
  return s;
}

} // namespace

std::shared_ptr<spdlog::logger> get(const std::string& subsystem) {
  return get_named("mitosis." + subsystem);
}

std::shared_ptr<spdlog::logger> get_named(const std::string& name) {
  auto& s = global();
  std::lock_guard<std::mutex> guard{s.mtx};
  if (auto l = spdlog::get(name))
    return l;
  auto l = std::make_shared<spdlog::logger>(name, s.dist);
  l->set_level(s.level);
  spdlog::register_logger(l);
  s.made.push_back(l);
  return l;
}

std::shared_ptr<spdlog::sinks::dist_sink<std::mutex>> sink() {
  return global().dist;
}

void set_level(int level) {
  auto& s = global();
  std::lock_guard<std::mutex> guard{s.mtx};
  s.level = static_cast<spdlog::level::level_enum>(level);
  for (auto& l : s.made)
    l->set_level(s.level);
}

} // namespace mitosis::log
