// libFuzzer target: the payload decoders of every framework wire type, the
// policy rules, and the plain codec. The first byte picks the decoder; the
// rest is the payload. Only serialization::decode_error may come out; any
// other exception, a crash, a leak or an allocation over libFuzzer's
// -malloc_limit_mb (a decode bomb) is a finding.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <vector>

#include "mitosis/policy/rules.hpp"
#include "mitosis/serialization/messages.hpp"
#include "mitosis/serialization/plain_codec.hpp"

using namespace mitosis::serialization;

namespace {

template <class T>
void decode_as(const char* p, std::size_t n) {
  T x;
  decode_exact(p, n, x);
}

template <class... Ts>
void plain_as(const char* p, std::size_t n) {
  std::tuple<Ts...> xs;
  std::apply([&](auto&... x) { get_values(p, n, x...); }, xs);
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size < 1)
    return 0;
  auto* p = reinterpret_cast<const char*>(data + 1);
  auto n = size - 1;
  try {
    switch (data[0] % 21) {
      case 0: decode_as<boot_info>(p, n); break;
      case 1: decode_as<call_error_info>(p, n); break;
      case 2: decode_as<dead_info>(p, n); break;
      case 3: decode_as<route_info>(p, n); break;
      case 4: decode_as<log_info>(p, n); break;
      case 5: decode_as<id_block_info>(p, n); break;
      case 6: decode_as<spawn_info>(p, n); break;
      case 7: decode_as<spawned_info>(p, n); break;
      case 8: (void) mitosis::policy::rules::decode(std::vector<char>(p, p + n)); break;
      case 9: plain_as<std::string, std::int32_t, std::vector<double>>(p, n); break;
      case 10: plain_as<std::vector<char>, bool, std::uint64_t>(p, n); break;
      case 11: decode_as<std::vector<std::string>>(p, n); break;
      case 12: decode_as<file_request_info>(p, n); break;
      case 13: decode_as<file_chunk_info>(p, n); break;
      case 14: decode_as<module_info>(p, n); break;
      // The actor frames (the plain codec: MITOSIS_PLAIN_WIRE).
      case 15: decode_as<actor_spawn_info>(p, n); break;
      case 16: decode_as<actor_spawned_info>(p, n); break;
      case 17: decode_as<actor_down_info>(p, n); break;
      case 18: decode_as<actor_link_info>(p, n); break;
      case 19: decode_as<actor_lost_info>(p, n); break;
      case 20: plain_as<std::vector<std::string>, std::string>(p, n); break;
    }
  } catch (const decode_error&) {
  }
  return 0;
}
