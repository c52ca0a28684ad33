// Functions the integration tests call in their contexts (registered in
// test_functions.cpp, which every started copy of the test binary has too).
#pragma once

#include <string>

std::string echo(std::string s);
int add(int a, int b);
int fail_with(std::string message);
void bump();
int counter();
int sleep_ms(int ms);
int my_pid();
int my_ppid();
/// The names of the contexts this context started, comma-separated.
std::string children_names();
std::string call_parent_echo();
bool send_garbage();
void log_line(std::string text);
bool send_frame(unsigned type, unsigned src, unsigned dst);
std::string grow(int bytes);
#include <cstdint>
#include <vector>
std::uint64_t checksum(int seed, std::vector<char> bytes);
#include "mitosis/actors/context.hpp"
std::uint64_t checksum_blob(int seed, mitosis::blob bytes);
bool claim_route(unsigned id);
bool send_header_only(unsigned length, unsigned body_bytes);
int flood_calls(int count);
int flood_master(int count);
std::string call_sibling(mitosis::context sibling);
int flood_routes(unsigned first, int count);
int flood_granted_routes(int count);
std::string fetch_from(mitosis::context from, std::string remote, std::string local);
bool serve_here(std::string path, std::vector<mitosis::context> peers);
bool send_count_bomb();
int my_uid();
std::string my_bundle_dir();
std::string ns_of(std::string kind);
std::string read_text(std::string path);
std::string env_of(std::string name);
std::string import_blocks_here();
std::string child_plugin_version(unsigned child, int timeout_ms);
std::string load_while_parent_stopped(int parent_pid, std::string slow_module, unsigned child,
                                      int timeout_ms);
