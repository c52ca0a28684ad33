// SHA-256, for naming shipped code (plugins now, agent bundles later) by
// its content.
#pragma once

#include <cstddef>
#include <string>

namespace mitosis::serialization {

/// Returns the lower-case hex SHA-256 of [data, data + size).
std::string sha256_hex(const void* data, std::size_t size);

} // namespace mitosis::serialization
