// The remote functions of the integration tests.
#include "test_functions.hpp"

#include <atomic>
#include <csignal>
#include <future>
#include <cstdlib>
#include <fstream>
#include <iterator>
#include <chrono>
#include <chrono>
#include <spdlog/spdlog.h>
#include <stdexcept>
#include <thread>
#include <unistd.h>

#include "mitosis/actors/runtime.hpp"
#include "mitosis/actors/services/core.hpp"
#include "mitosis/bootstrap/bundle.hpp"
#include "mitosis/mitosis.hpp"

namespace {
std::atomic<int> bumps{0};
} // namespace

std::string echo(std::string s) {
  return s;
}
MITOSIS_REMOTE(echo);

int add(int a, int b) {
  return a + b;
}
MITOSIS_REMOTE(add);

int fail_with(std::string message) {
  throw std::invalid_argument(message);
}
MITOSIS_REMOTE(fail_with);

void bump() {
  ++bumps;
}
MITOSIS_REMOTE(bump);

int counter() {
  return bumps.load();
}
MITOSIS_REMOTE(counter);

int sleep_ms(int ms) {
  std::this_thread::sleep_for(std::chrono::milliseconds{ms});
  return ms;
}
MITOSIS_REMOTE(sleep_ms);

int my_pid() {
  return ::getpid();
}
MITOSIS_REMOTE(my_pid);

int my_ppid() {
  return ::getppid();
}
MITOSIS_REMOTE(my_ppid);

std::string children_names() {
  std::string out;
  for (const auto& c : mitosis::children())
    out += (out.empty() ? "" : ",") + c.name();
  return out;
}
MITOSIS_REMOTE(children_names);

std::string call_parent_echo() {
  try {
    return "allowed: " + mitosis::parent().call(echo, std::string{"x"});
  } catch (const mitosis::policy_error& e) {
    return std::string{"refused: "} + e.what();
  }
}
MITOSIS_REMOTE(call_parent_echo);

bool send_garbage() {
  std::string junk(64, '\xff');
  return mitosis::detail::send_raw_to_parent(junk.data(), junk.size());
}
MITOSIS_REMOTE(send_garbage);

void log_line(std::string text) {
  spdlog::info("{}", text);
}
MITOSIS_REMOTE(log_line);

// Sends a well-formed frame with the given header fields (and an empty
// payload) to the parent, as a misbehaving child would.
bool send_frame(unsigned type, unsigned src, unsigned dst) {
  auto h = mitosis::serialization::make_header(
    static_cast<mitosis::serialization::wire_type>(type), dst, src, 0, 77);
  auto wire = mitosis::serialization::frame_builder{h}.finish();
  return mitosis::detail::send_raw_to_parent(wire.data(), wire.size());
}
MITOSIS_REMOTE(send_frame);

std::string grow(int bytes) {
  return std::string(static_cast<std::size_t>(bytes), 'g');
}
MITOSIS_REMOTE(grow);

std::uint64_t checksum(int seed, std::vector<char> bytes) {
  std::uint64_t sum = static_cast<std::uint64_t>(seed);
  for (auto b : bytes)
    sum = sum * 31 + static_cast<unsigned char>(b);
  return sum;
}
MITOSIS_REMOTE(checksum);

std::uint64_t checksum_blob(int seed, mitosis::blob bytes) {
  return checksum(seed, std::vector<char>(bytes.begin(), bytes.end()));
}
MITOSIS_REMOTE(checksum_blob);

// Announces a route to context `id` through this child, as a hostile child
// would to capture traffic meant for a context that does not exist yet.
bool claim_route(unsigned id) {
  auto* rt = mitosis::actors::runtime::agent();
  auto h = mitosis::serialization::make_header(mitosis::serialization::wire_type::route_add,
                                               rt->routes().config().parent_id, rt->self());
  auto wire = mitosis::serialization::frame_builder{h}
                .add(mitosis::serialization::route_info{id, "stolen"})
                .finish();
  return mitosis::detail::send_raw_to_parent(wire.data(), wire.size());
}
MITOSIS_REMOTE(claim_route);

// Sends a call_request header announcing `length` payload bytes, then only
// `body_bytes` of them: an oversize length, or a frame that never ends.
bool send_header_only(unsigned length, unsigned body_bytes) {
  auto* rt = mitosis::actors::runtime::agent();
  auto h = mitosis::serialization::make_header(mitosis::serialization::wire_type::call_request,
                                               0, rt->self(), 0, 0);
  h.length = length;
  mitosis::serialization::buffer wire(mitosis::serialization::frame_header::size + body_bytes,
                                      'z');
  mitosis::serialization::encode(h, reinterpret_cast<std::byte*>(wire.data()));
  return mitosis::detail::send_raw_to_parent(wire.data(), wire.size());
}
MITOSIS_REMOTE(send_header_only);

// Calls echo in the parent `count` times without waiting, as a flood.
int flood_calls(int count) {
  auto parent = mitosis::parent();
  for (int i = 0; i < count; ++i)
    parent.call_no_reply(echo, std::string(100, 'f'));
  return count;
}
MITOSIS_REMOTE(flood_calls);

// Calls echo in the master `count` times without waiting, as a flood the
// master's call rights refuse (from a grandchild: through its parent).
int flood_master(int count) {
  mitosis::context master{mitosis::actors::runtime::agent(), 0, "master"};
  for (int i = 0; i < count; ++i)
    master.call_no_reply(echo, std::string(100, 'm'));
  return count;
}
MITOSIS_REMOTE(flood_master);

// Calls echo in `sibling`, a handle passed by the caller, through the parent.
std::string call_sibling(mitosis::context sibling) {
  try {
    return "allowed: " + sibling.call_for(std::chrono::seconds{2}, echo, std::string{"hi"});
  } catch (const mitosis::error& e) {
    return std::string{"refused: "} + e.what();
  }
}
MITOSIS_REMOTE(call_sibling);

// Announces `count` made-up contexts behind this child, as a route flood.
int flood_routes(unsigned first, int count) {
  for (int i = 0; i < count; ++i)
    if (!claim_route(first + static_cast<unsigned>(i)))
      return i;
  return count;
}
MITOSIS_REMOTE(flood_routes);

// Asks the master for an id block, as a context does before it starts
// children, then announces `count` routes in it without starting anything:
// a route flood of ids that were granted to this child. Returns how many
// were sent, -1 without a block.
int flood_granted_routes(int count) {
  auto* rt = mitosis::actors::runtime::agent();
  auto b = rt->core().ask<mitosis::serialization::id_block_info>(
    mitosis::router::master_id, mitosis::serialization::wire_type::id_request,
    mitosis::serialization::wire_type::id_grant,
    std::chrono::steady_clock::now() + std::chrono::seconds{5},
    mitosis::serialization::id_block_info{0, static_cast<std::uint32_t>(count)});
  if (!b)
    return -1;
  return flood_routes(b->first, static_cast<int>(b->count));
}
MITOSIS_REMOTE(flood_granted_routes);

// Fetches `remote` from context `from` into `local`; returns the local
// file's content, or "refused: ..." / "failed: ...".
std::string fetch_from(mitosis::context from, std::string remote, std::string local) {
  try {
    from.fetch_file(remote, local);
  } catch (const mitosis::policy_error& e) {
    return std::string{"refused: "} + e.what();
  } catch (const mitosis::error& e) {
    return std::string{"failed: "} + e.what();
  }
  std::ifstream f{local, std::ios::binary};
  return {std::istreambuf_iterator<char>(f), std::istreambuf_iterator<char>()};
}
MITOSIS_REMOTE(fetch_from);

// Sends a log_record whose first string claims 2^40 bytes in a 64-byte
// payload: a decode bomb, if the decoder trusted the count.
bool send_count_bomb() {
  auto* rt = mitosis::actors::runtime::agent();
  auto h = mitosis::serialization::make_header(mitosis::serialization::wire_type::log_record, 0,
                                               rt->self());
  mitosis::serialization::frame_builder fb{h};
  std::uint64_t huge = std::uint64_t{1} << 40;
  fb.add_raw(reinterpret_cast<const char*>(&huge), sizeof(huge));
  std::string filler(56, 'b');
  fb.add_raw(filler.data(), filler.size());
  auto wire = fb.finish();
  return mitosis::detail::send_raw_to_parent(wire.data(), wire.size());
}
MITOSIS_REMOTE(send_count_bomb);

int my_uid() {
  return static_cast<int>(::getuid());
}
MITOSIS_REMOTE(my_uid);

std::string my_bundle_dir() {
  return mitosis::bootstrap::installed_bundle_dir();
}
MITOSIS_REMOTE(my_bundle_dir);

// "net:[4026531840]" for kind "net": which namespace this process is in.
std::string ns_of(std::string kind) {
  char buf[128];
  auto n = ::readlink(("/proc/self/ns/" + kind).c_str(), buf, sizeof(buf) - 1);
  return n > 0 ? std::string(buf, static_cast<std::size_t>(n)) : std::string{"?"};
}
MITOSIS_REMOTE(ns_of);

std::string read_text(std::string path) {
  std::ifstream f{path};
  if (!f)
    throw std::runtime_error("cannot read " + path);
  return std::string(std::istreambuf_iterator<char>(f), std::istreambuf_iterator<char>());
}
MITOSIS_REMOTE(read_text);

std::string env_of(std::string name) {
  auto v = std::getenv(name.c_str());
  return v ? v : "";
}
MITOSIS_REMOTE(env_of);

// This context's import_blocks, joined by blanks: which rules it has.
std::string import_blocks_here() {
  std::string out;
  for (const auto& b : mitosis::actors::runtime::agent()->routes().rules()->import_blocks)
    out += (out.empty() ? "" : " ") + b;
  return out;
}
MITOSIS_REMOTE(import_blocks_here);

namespace {
const mitosis::remote<std::string()> inventory_version{"inventory", "plugin_version"};
} // namespace

// Calls the sample plugin's plugin_version in this context's child `child`:
// the version, or "failed: ..." when it fails or takes over `timeout_ms`.
std::string child_plugin_version(unsigned child, int timeout_ms) {
  mitosis::context c{mitosis::actors::runtime::agent(), child, "child"};
  try {
    return c.call_async(inventory_version).get_for(std::chrono::milliseconds{timeout_ms});
  } catch (const mitosis::error& e) {
    return std::string{"failed: "} + e.what();
  }
}
MITOSIS_REMOTE(child_plugin_version);

// Stops this context's parent (SIGSTOP), starts loading `slow_module` here
// (its fetch from the stopped parent waits), and, once that fetch is under
// way, calls plugin_version in `child`, which fetches "inventory" from us.
// Resumes the parent and returns "<child's answer>; <slow_module load>",
// the latter "pending" when the child answered while the fetch still waited.
std::string load_while_parent_stopped(int parent_pid, std::string slow_module, unsigned child,
                                      int timeout_ms) {
  auto* rt = mitosis::actors::runtime::agent();
  if (::kill(parent_pid, SIGSTOP) != 0)
    return "cannot stop the parent";
  auto slow = std::async(std::launch::async, [&] { return rt->modules().load(slow_module); });
  std::string answer;
  // Waits for the fetch itself, not for time: it is in fetching() until
  // the parent answers.
  while (rt->modules().fetching() == 0
         && slow.wait_for(std::chrono::milliseconds{1}) != std::future_status::ready) {
  }
  answer = child_plugin_version(child, timeout_ms);
  const bool pending = slow.wait_for(std::chrono::seconds{0}) != std::future_status::ready;
  ::kill(parent_pid, SIGCONT);
  auto loaded = slow.get();
  return answer + "; " + (pending ? "pending" : "done") + "; "
         + (loaded ? "loaded" : loaded.error().reason);
}
MITOSIS_REMOTE(load_while_parent_stopped);

// Serves `path` from the context this runs in, to `peers` only (none: to
// all); returns true.
bool serve_here(std::string path, std::vector<mitosis::context> peers) {
  mitosis::serve_files(path, peers);
  return true;
}
MITOSIS_REMOTE(serve_here);
