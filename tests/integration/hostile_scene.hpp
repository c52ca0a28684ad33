// Test support for hostile children: the master's own memory, and a scene
// of one offender with two calm siblings that must keep being served.
#pragma once

#include <catch2/catch.hpp>

#include <fstream>
#include <string>
#include <utility>

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

  explicit offender_and_siblings(const char* offender, mitosis::master_options opts = {})
    : m{0, nullptr, std::move(opts)},
      bad{m.local({.name = offender})},
      calm1{m.local({.name = "calm1"})},
      calm2{m.local({.name = "calm2"})} {}

  void others_still_served() const {
    for (int i = 0; i < 20; ++i) {
      CHECK(calm1.call(add, i, 1) == i + 1);
      CHECK(calm2.call(echo, "ok") == "ok");
    }
  }
};
