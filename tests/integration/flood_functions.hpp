// Remote functions that make a child flood its parent with what a hostile
// child would send (flood_functions.cpp): each returns how many frames it
// sent before its parent stream refused more.
#pragma once

#include <string>

#include "mitosis/mitosis.hpp"

/// `count` calls to a function nobody registered, each asking for a reply.
int flood_unknown_calls(int count);
/// `count` id_requests to the master, each for one id.
int flood_id_requests(int count);
/// `count` requests for the first chunk of `path` from the master, without
/// waiting for any.
int flood_file_requests(std::string path, int count);
/// sleep_ms(`ms`) in the parent, waited for.
int call_parent_sleep(int ms);
/// `count` calls of sleep_ms(`ms`) in the parent, without waiting for any
/// (as a child granted that call could).
int flood_slow_calls(int ms, int count);
/// A chain into the parent: sleep_ms(300), then chain_step(0 .. steps-1)
/// without waiting, then (800 ms later) chain_step(100) and a replying
/// add(1, 1) in the same chain; returns what that add threw, or "ran".
std::string chain_over_limit(int steps);
/// `count` log lines "flood line <i>", as fast as they can be written.
int flood_log_lines(int count);
/// Sleeps `ms` milliseconds holding `bytes`; returns their size in KiB.
int sleep_holding(std::string bytes, int ms);
/// `count` calls of sleep_holding(`kib` KiB, `ms`) in the parent, without
/// waiting for any.
int flood_big_calls(int kib, int ms, int count);
/// `count` dead replies to context `dst` for the reply handles from
/// `first_handle` on, as a context off the path of those calls could forge.
int forge_deads(unsigned dst, unsigned first_handle, int count);
/// sibling.call(sleep_ms, `ms`): the caller did not start the callee.
int call_sibling_sleep(mitosis::context sibling, int ms);
