// Test support: Catch2 prints mitosis::errc by its fixed message, so a
// failed comparison reads as prose.
#pragma once

#include <catch2/catch.hpp>
#include <string>

#include "mitosis/serialization/errc.hpp"

template <>
struct Catch::StringMaker<mitosis::errc> {
  static std::string convert(mitosis::errc code) {
    return mitosis::to_string(code);
  }
};
