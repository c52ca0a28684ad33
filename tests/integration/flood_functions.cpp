// Children that flood their parent with frames it must refuse, bound or
// drop (flood_functions.hpp). They write raw frames, as a compromised child
// could, and never wait for an answer.
#include "flood_functions.hpp"

#include <chrono>
#include <spdlog/spdlog.h>
#include <thread>

#include "mitosis/actors/runtime.hpp"
#include "mitosis/mitosis.hpp"
#include "mitosis/serialization/plain_codec.hpp"
#include "channel_functions.hpp"
#include "test_functions.hpp"

namespace {

namespace ser = mitosis::serialization;

/// Sends `count` frames of type `t` to `dst`, each with the payload that
/// `fill` appends and a reply handle of its own; returns how many left.
template <class Fill>
int send_many(ser::wire_type t, unsigned dst, int count, Fill fill) {
  auto* rt = mitosis::actors::runtime::agent();
  for (int i = 0; i < count; ++i) {
    ser::frame_builder fb{ser::make_header(t, dst, rt->self(), 0,
                                           static_cast<std::uint32_t>(1000000 + i))};
    fill(fb);
    auto wire = fb.finish();
    if (!mitosis::detail::send_raw_to_parent(wire.data(), wire.size()))
      return i;
  }
  return count;
}

unsigned parent_id() {
  return mitosis::actors::runtime::agent()->routes().config().parent_id;
}

} // namespace

int flood_unknown_calls(int count) {
  return send_many(ser::wire_type::call_request, parent_id(), count, [](ser::frame_builder& fb) {
    ser::put_values(fb.bytes(), std::string{"no_such_function"});
  });
}
MITOSIS_REMOTE(flood_unknown_calls);

int flood_id_requests(int count) {
  return send_many(ser::wire_type::id_request, 0, count,
                   [](ser::frame_builder& fb) { fb.add(ser::id_block_info{0, 1}); });
}
MITOSIS_REMOTE(flood_id_requests);

int flood_file_requests(std::string path, int count) {
  return send_many(ser::wire_type::file_request, 0, count, [&](ser::frame_builder& fb) {
    fb.add(ser::file_request_info{path, 0, 256 * 1024});
  });
}
MITOSIS_REMOTE(flood_file_requests);

int call_parent_sleep(int ms) {
  return mitosis::parent().call(sleep_ms, ms);
}
MITOSIS_REMOTE(call_parent_sleep);

int call_sibling_sleep(mitosis::context sibling, int ms) {
  return sibling.call(sleep_ms, ms);
}
MITOSIS_REMOTE(call_sibling_sleep);

int flood_slow_calls(int ms, int count) {
  auto parent = mitosis::parent();
  for (int i = 0; i < count; ++i)
    parent.call_no_reply(sleep_ms, ms);
  return count;
}
MITOSIS_REMOTE(flood_slow_calls);

std::string chain_over_limit(int steps) {
  mitosis::call_chain chain{mitosis::parent()};
  chain.call_no_reply(sleep_ms, 300);
  for (int i = 0; i < steps; ++i)
    chain.call_no_reply(chain_step, i);
  // Once the parent has run what it admitted, the bound has room again:
  // the chain still fails, where the first refused call was.
  std::this_thread::sleep_for(std::chrono::milliseconds{800});
  chain.call_no_reply(chain_step, 100);
  try {
    chain.call(add, 1, 1);
    return "ran";
  } catch (const std::exception& e) {
    return e.what();
  }
}
MITOSIS_REMOTE(chain_over_limit);

int flood_log_lines(int count) {
  for (int i = 0; i < count; ++i)
    spdlog::info("flood line {}", i);
  return count;
}
MITOSIS_REMOTE(flood_log_lines);

int sleep_holding(std::string bytes, int ms) {
  std::this_thread::sleep_for(std::chrono::milliseconds{ms});
  return static_cast<int>(bytes.size() / 1024);
}
MITOSIS_REMOTE(sleep_holding);

int flood_big_calls(int kib, int ms, int count) {
  auto parent = mitosis::parent();
  const std::string bytes(static_cast<std::size_t>(kib) * 1024, 'b');
  for (int i = 0; i < count; ++i)
    parent.call_no_reply(sleep_holding, bytes, ms);
  return count;
}
MITOSIS_REMOTE(flood_big_calls);

int forge_deads(unsigned dst, unsigned first_handle, int count) {
  auto* rt = mitosis::actors::runtime::agent();
  for (int i = 0; i < count; ++i) {
    ser::frame_builder fb{ser::make_header(ser::wire_type::dead, dst, rt->self(),
                                           first_handle + static_cast<unsigned>(i))};
    fb.add(ser::dead_info{static_cast<std::uint8_t>(mitosis::errc::no_route), "forged"});
    auto wire = fb.finish();
    if (!mitosis::detail::send_raw_to_parent(wire.data(), wire.size()))
      return i;
  }
  return count;
}
MITOSIS_REMOTE(forge_deads);
