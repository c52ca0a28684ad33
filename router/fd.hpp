// File descriptors: an owning handle and the few helpers every transport
// uses (streams, connection methods, the agent's boot exchange).
#pragma once

#include <cstddef>

namespace mitosis::router {

/// An owned file descriptor.
class unique_fd {
public:
  unique_fd() = default;
  explicit unique_fd(int fd) noexcept : fd_(fd) {}
  unique_fd(unique_fd&& other) noexcept : fd_(other.release()) {}
  unique_fd& operator=(unique_fd&& other) noexcept;
  unique_fd(const unique_fd&) = delete;
  unique_fd& operator=(const unique_fd&) = delete;
  ~unique_fd();
  int get() const noexcept {
    return fd_;
  }
  int release() noexcept {
    int fd = fd_;
    fd_ = -1;
    return fd;
  }
  void reset(int fd = -1) noexcept;

private:
  int fd_ = -1;
};

/// Writes all `n` bytes to a blocking or non-blocking `fd`, waiting for it
/// to drain when needed. Returns false on an error (errno is kept).
bool write_fully(int fd, const char* p, std::size_t n) noexcept;

/// Sets O_NONBLOCK on `fd`.
void set_nonblocking(int fd) noexcept;

} // namespace mitosis::router
