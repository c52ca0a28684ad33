// libFuzzer target: the frame header codec. Any 32 bytes decode to a header
// whose valid() answers without crashing, and a header re-encodes to the
// bytes it came from.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <cstring>

#include "mitosis/serialization/frame_header.hpp"
#include "mitosis/serialization/type_registry.hpp"

using namespace mitosis::serialization;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size < frame_header::size)
    return 0;
  auto* in = reinterpret_cast<const std::byte*>(data);
  auto h = decode_header(in);
  (void) h.valid();
  (void) h.valid(static_cast<std::uint32_t>(size));
  (void) type_registry::find(h.type);
  (void) type_registry::name(h.type);
  std::byte out[frame_header::size];
  encode(h, out);
  if (std::memcmp(out, in, frame_header::size) != 0)
    std::abort(); // the codec must be a bijection on 32 bytes
  return 0;
}
