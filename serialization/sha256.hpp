// SHA-256, for naming shipped code (plugins now, agent bundles later) by
// its content.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <string>

namespace mitosis::serialization {

/// Returns the lower-case hex SHA-256 of [data, data + size).
std::string sha256_hex(const void* data, std::size_t size);

/// SHA-256 of bytes given piece by piece (a file read or received in
/// chunks), without holding them.
class sha256_stream {
public:
  void update(const void* data, std::size_t size);
  /// The lower-case hex digest of everything given; ends the stream.
  std::string hex();

private:
  std::array<std::uint32_t, 8> h_ = {0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a,
                         0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19};
  unsigned char buf_[64] = {};
  std::size_t used_ = 0;
  std::uint64_t total_ = 0;
};

} // namespace mitosis::serialization
