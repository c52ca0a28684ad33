// Test support: captures what every mitosis logger writes while it lives.
#pragma once

#include <chrono>
#include <spdlog/sinks/dist_sink.h>
#include <spdlog/sinks/ostream_sink.h>
#include <sstream>
#include <string>
#include <thread>

#include "mitosis/serialization/log.hpp"

struct captured_log {
  std::ostringstream text;
  std::shared_ptr<spdlog::sinks::ostream_sink_mt> sink
    = std::make_shared<spdlog::sinks::ostream_sink_mt>(text);

  captured_log() {
    mitosis::log::sink()->add_sink(sink);
  }
  ~captured_log() {
    mitosis::log::sink()->remove_sink(sink);
  }
  captured_log(const captured_log&) = delete;
  captured_log& operator=(const captured_log&) = delete;

  /// Returns whether every one of `needles` shows up within 2 s.
  template <class... Ts>
  bool wait_for(const Ts&... needles) {
    return wait_for_within(std::chrono::seconds{2}, needles...);
  }

  /// Returns whether every one of `needles` shows up within `limit`.
  template <class... Ts>
  bool wait_for_within(std::chrono::milliseconds limit, const Ts&... needles) {
    using namespace std::chrono_literals;
    auto deadline = std::chrono::steady_clock::now() + limit;
    while (std::chrono::steady_clock::now() < deadline) {
      sink->flush();
      auto t = text.str();
      if (((t.find(needles) != std::string::npos) && ...))
        return true;
      std::this_thread::sleep_for(5ms);
    }
    return false;
  }
};
