#include "file_io.hpp"

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <fcntl.h>
#include <stdexcept>
#include <sys/stat.h>
#include <unistd.h>

#include "../../router/fd.hpp"
#include "../../serialization/sha256.hpp"

namespace mitosis::actors::services::file_io {

bool write_at(int fd, const char* p, std::size_t n, std::uint64_t offset) noexcept {
  std::size_t done = 0;
  while (done < n) {
    auto w = ::pwrite(fd, p + done, n - done, static_cast<off_t>(offset + done));
    if (w < 0 && errno == EINTR)
      continue;
    if (w <= 0)
      return false;
    done += static_cast<std::size_t>(w);
  }
  return true;
}

long long read_at(int fd, char* p, std::size_t n, std::uint64_t offset) noexcept {
  std::size_t got = 0;
  while (got < n) {
    auto r = ::pread(fd, p + got, n - got, static_cast<off_t>(offset + got));
    if (r < 0 && errno == EINTR)
      continue;
    if (r < 0)
      return -1;
    if (r == 0)
      break;
    got += static_cast<std::size_t>(r);
  }
  return static_cast<long long>(got);
}

int open_beneath(int dir_fd, const std::string& rel, int flags) noexcept {
  if (rel.empty())
    return ::openat(dir_fd, ".", flags | O_CLOEXEC);
  int cur = dir_fd;
  router::unique_fd held; // the directory `cur` is, once below dir_fd
  std::size_t start = 0;
  for (;;) {
    auto end = rel.find('/', start);
    const bool last = end == std::string::npos;
    auto name = rel.substr(start, last ? std::string::npos : end - start);
    if (name.empty() || name == "." || name == "..") {
      errno = EINVAL;
      return -1;
    }
    if (last)
      return ::openat(cur, name.c_str(), flags | O_NOFOLLOW | O_CLOEXEC);
    int next = ::openat(cur, name.c_str(), O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (next < 0)
      return -1;
    held.reset(next);
    cur = next;
    start = end + 1;
  }
}

std::string sha256_of(const std::string& path, std::uint64_t& size) {
  router::unique_fd fd{::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NONBLOCK)};
  struct stat st {};
  if (fd.get() < 0 || ::fstat(fd.get(), &st) != 0)
    throw std::runtime_error("cannot read " + path + ": " + std::strerror(errno));
  if (!S_ISREG(st.st_mode))
    throw std::runtime_error("cannot push " + path + ": not a regular file");
  size = static_cast<std::uint64_t>(st.st_size);
  serialization::sha256_stream h;
  if (!hash_prefix(fd.get(), size, h))
    throw std::runtime_error("cannot read " + path + ": " + std::strerror(errno));
  return h.hex();
}

std::string make_dirs(const std::string& dir, mode_t mode) {
  if (dir.empty())
    return {};
  struct stat st {};
  if (::stat(dir.c_str(), &st) == 0)
    return S_ISDIR(st.st_mode) ? std::string{} : dir + " exists and is not a directory";
  auto slash = dir.find_last_of('/');
  if (slash != std::string::npos && slash > 0)
    if (auto why = make_dirs(dir.substr(0, slash)); !why.empty())
      return why;
  if (::mkdir(dir.c_str(), mode ? mode : 0755) != 0 && errno != EEXIST)
    return "cannot create " + dir + ": " + std::strerror(errno);
  return {};
}

} // namespace mitosis::actors::services::file_io
