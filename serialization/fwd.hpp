// Forward declarations of the wire layer (serialization/).
#pragma once

#include <cstdint>

namespace mitosis::serialization {

enum class wire_type : std::uint32_t;
struct frame_header;
struct frame;
struct outgoing;
class frame_builder;
struct boot_info;
class decode_error;

} // namespace mitosis::serialization
