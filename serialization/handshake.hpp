// The stream handshake: the first bytes each side writes before any frame.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <string>

namespace mitosis::serialization {

inline constexpr std::uint32_t protocol_version = 1;

/// What each end of a stream announces before the first frame.
struct hello {
  static constexpr std::size_t size = 64;
  static constexpr std::array<char, 8> magic = {'M', 'I', 'T', 'O', 'S', 'I', 'S', '\n'};

  std::uint32_t version = protocol_version;
  /// Identifies the build; both ends must be the same build.
  std::string build_id;
};

/// Returns this program's build id: the hex of its ELF GNU build-id note,
/// computed once (falls back to the executable's size and mtime).
const std::string& local_build_id();

/// Returns the hello this process sends.
hello local_hello();

/// Writes `h` as exactly hello::size bytes to `out`.
void encode(const hello& h, std::byte* out) noexcept;

/// Result of reading a peer's hello.
struct hello_check {
  bool ok = false;
  hello peer;
  /// Human-readable reason when !ok, naming both sides' version and build.
  std::string reason;
};

/// Decodes the peer's hello from hello::size bytes and checks it against
/// `ours`: same magic, protocol version and build id.
hello_check check_hello(const std::byte* in, const hello& ours);

} // namespace mitosis::serialization
