// Forward declarations of bootstrap/ (how a context comes to be).
#pragma once

#include <cstdint>

namespace mitosis::bootstrap {

enum class method_kind : std::uint8_t;
struct method_spec;
struct transport;
struct remote_start;
struct bundle;
class method_error;

} // namespace mitosis::bootstrap
