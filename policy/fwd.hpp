// Forward declarations of policy/ (the rules and their actor).
#pragma once

#include <cstdint>

namespace mitosis::policy {

enum class direction : std::uint8_t;
struct rules;

} // namespace mitosis::policy
