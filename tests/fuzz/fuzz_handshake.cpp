// libFuzzer target: the peer's hello. Whatever arrives, check_hello answers
// with ok or a reason, never crashes, and accepts only our own hello.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <cstring>

#include "mitosis/serialization/handshake.hpp"

using namespace mitosis::serialization;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  std::byte in[hello::size] = {};
  std::memcpy(in, data, size < hello::size ? size : hello::size);
  auto ours = local_hello();
  auto res = check_hello(in, ours);
  if (res.ok) {
    std::byte expected[hello::size];
    encode(ours, expected);
    // Only bytes equal to our own hello (up to the unused tail) may pass.
    if (res.peer.build_id != ours.build_id || res.peer.version != ours.version)
      std::abort();
  } else if (res.reason.empty()) {
    std::abort(); // a refusal always says why
  }
  return 0;
}
