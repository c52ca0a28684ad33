// Test support for hostile children: the master's own memory, and a scene
// of one offender with two calm siblings that must keep being served.
#pragma once

#include <catch2/catch.hpp>

#include <fstream>
#include <string>
#include <utility>

#include "captured_log.hpp"
#include "mitosis/mitosis.hpp"
#include "test_functions.hpp"

/// Returns this process's resident set (VmRSS) in KiB, or -1.
inline long own_rss_kb() {
  std::ifstream f{"/proc/self/status"};
  std::string line;
  while (std::getline(f, line))
    if (line.rfind("VmRSS:", 0) == 0)
      return std::stol(line.substr(6));
  return -1;
}

/// The scene of every hostile test: a master (with `opts`), the offender
/// `bad` and two calm siblings, `calm1` and `calm2`, that must keep being
/// served.
struct offender_and_siblings {
  mitosis::master m;
  mitosis::context bad;
  mitosis::context calm1;
  mitosis::context calm2;

  std::string offender;

  explicit offender_and_siblings(const char* name, mitosis::master_options opts = {})
    : m{0, nullptr, std::move(opts)},
      bad{m.local({.name = name})},
      calm1{m.local({.name = "calm1"})},
      calm2{m.local({.name = "calm2"})},
      offender{name} {}

  /// Checks that `flood`, a call into `bad`, ends with bad's stream cut
  /// for `why` (a text of the log), and that the siblings are served while
  /// it floods and after.
  template <class Future>
  void cut_for(captured_log& log, Future& flood, const std::string& why) const {
    others_still_served();
    CHECK(log.wait_for(why, "cut stream to '" + offender + "'"));
    CHECK_THROWS_AS(flood.get(), mitosis::context_lost);
    others_still_served();
  }

  void others_still_served() const {
    for (int i = 0; i < 20; ++i) {
      CHECK(calm1.call(add, i, 1) == i + 1);
      CHECK(calm2.call(echo, "ok") == "ok");
    }
  }
};
