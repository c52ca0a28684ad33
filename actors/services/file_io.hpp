// Plain file helpers the file services share: positioned reads and
// writes that finish or fail, hashing a file's prefix, atomic placement.
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <string>
#include <sys/types.h>

namespace mitosis::actors::services::file_io {

/// Writes all `n` bytes at `offset`; false on an error (errno kept).
bool write_at(int fd, const char* p, std::size_t n, std::uint64_t offset) noexcept;

/// Reads up to `n` bytes at `offset` (fewer only at the end of the file);
/// -1 on an error (errno kept).
long long read_at(int fd, char* p, std::size_t n, std::uint64_t offset) noexcept;

/// Opens `rel` ('/'-separated components, none "." or "..", no leading
/// '/'; empty: `dir_fd` itself) below the directory `dir_fd` with `flags`,
/// following no symbolic link on the way or at the end: a component that
/// is one fails (ELOOP or ENOTDIR). For a path realpath() resolved, which
/// holds no link, a failure means the tree changed since: what is opened
/// is always below `dir_fd`. Returns the fd, or -1 with errno.
int open_beneath(int dir_fd, const std::string& rel, int flags) noexcept;

/// Feeds the first `size` bytes of `fd` to `hash` (a sha256_stream).
/// False on a read error or a shorter file.
template <class Hash>
bool hash_prefix(int fd, std::uint64_t size, Hash& hash) {
  static constexpr std::size_t piece = 1 << 20;
  std::string buf(piece, '\0');
  for (std::uint64_t at = 0; at < size;) {
    auto want = static_cast<std::size_t>(std::min<std::uint64_t>(piece, size - at));
    auto n = read_at(fd, buf.data(), want, at);
    if (n <= 0)
      return false;
    hash.update(buf.data(), static_cast<std::size_t>(n));
    at += static_cast<std::uint64_t>(n);
  }
  return true;
}

/// The sha256 (hex) and size of the regular file at `path`, read in
/// pieces. Throws std::runtime_error naming the path and the cause.
std::string sha256_of(const std::string& path, std::uint64_t& size);

/// Creates `dir` and its missing parents with `mode` (0755 when 0).
/// Returns an empty string, or the cause.
std::string make_dirs(const std::string& dir, mode_t mode = 0);

} // namespace mitosis::actors::services::file_io
