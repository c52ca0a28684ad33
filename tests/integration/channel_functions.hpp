// Functions the channel and chain tests call in their contexts (registered
// in channel_functions.cpp).
#pragma once

#include <string>
#include <vector>

#include "mitosis/actors/channel.hpp"

/// Sends 0..n-1 to `s`, then closes it when `close`; returns n.
int stream_numbers(mitosis::sender<int> s, int n, bool close);
/// Sends `n` lines to `s`, then sleeps `then_ms` (the test kills it).
int stream_lines(mitosis::sender<std::string> s, int n, int then_ms);
/// Starts a local child of this context and has it stream 0..n-1 to `s`
/// (the sender handed on a second time); returns the child's pid.
int relay_stream(mitosis::sender<int> s, int n);
/// Starts a local child of this context and hands it `s` in a call that
/// sends nothing and sleeps a minute; returns the child's pid.
int relay_and_hang(mitosis::sender<std::string> s);
/// Makes a receiver here, has a child of this context stream 0..n-1 into
/// it, and returns the sum of what arrived before the close.
int sum_from_child(int n);
/// Makes a receiver that outlives the call (one per process) and returns
/// its sender.
mitosis::sender<int> open_kept_receiver();
/// Counts the values the kept receiver gets until it is closed or nothing
/// comes for `wait_ms`; then drops it.
int drain_kept_receiver(int wait_ms);
/// Appends `i` to this process's chain log.
void chain_step(int i);
/// Returns this process's chain log.
std::vector<int> chain_log();
/// Throws std::runtime_error(`what`) (no reply).
void chain_throw(std::string what);
