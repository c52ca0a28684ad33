// Test support: checks that more than one unit test needs.
#pragma once

#include <cstddef>

#include <catch2/catch.hpp>

/// CHECKs `got.*m == want.*m` for each listed data member m, one assertion
/// per member; a failure names the member by its place in the list (from 0).
/// For round trips: list the members in declaration order.
template <class T, class... Ms>
void check_members_equal(const T& got, const T& want, Ms T::*... members) {
  std::size_t n = 0;
  auto one = [&](auto m) {
    INFO("member #" << n++ << " of the list");
    CHECK(got.*m == want.*m);
  };
  (one(members), ...);
}
