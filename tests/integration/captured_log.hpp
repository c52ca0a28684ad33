// Test support: captures what every mitosis logger writes while it lives.
#pragma once

#include <chrono>
#include <mutex>
#include <regex>
#include <spdlog/sinks/base_sink.h>
#include <spdlog/sinks/dist_sink.h>
#include <string>
#include <thread>

#include "mitosis/serialization/log.hpp"

/// A sink into a string that the test may read while loggers write (an
/// ostringstream read outside the sink's mutex is a data race: TSan).
class string_sink final : public spdlog::sinks::base_sink<std::mutex> {
public:
  std::string str() {
    std::lock_guard<std::mutex> guard{mutex_};
    return text_;
  }

protected:
  void sink_it_(const spdlog::details::log_msg& msg) override {
    spdlog::memory_buf_t buf;
    formatter_->format(msg, buf);
    text_.append(buf.data(), buf.size());
  }
  void flush_() override {}

private:
  std::string text_;
};

struct captured_log {
  std::shared_ptr<string_sink> sink = std::make_shared<string_sink>();
  string_sink& text = *sink;

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

  /// Returns the whole text so far.
  std::string now() {
    sink->flush();
    return text.str();
  }

  /// Of a log flood ("flood line <i>" lines), how many lines were written
  /// (`passed`) and how many the drop reports matching `report` (its first
  /// group: a count) account for (`dropped`); returns their sum.
  std::size_t tally_flood(const std::regex& report, std::size_t& passed, std::size_t& dropped) {
    const auto t = now();
    passed = 0;
    for (auto at = t.find("flood line "); at != std::string::npos; at = t.find("flood line ", at + 1))
      ++passed;
    dropped = 0;
    for (std::sregex_iterator i{t.begin(), t.end(), report}, end; i != end; ++i)
      dropped += std::stoul((*i)[1]);
    return passed + dropped;
  }
};
