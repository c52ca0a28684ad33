#include "output_capture.hpp"

#include <cerrno>
#include <cstdio>
#include <fcntl.h>
#include <iostream>
#include <poll.h>
#include <sys/eventfd.h>
#include <system_error>
#include <unistd.h>

namespace mitosis::actors::services {

namespace {

// The read end (ours, non-blocking, close-on-exec) of a pipe whose write
// end replaces `target` (inherited by subprocesses, as fds 1 and 2 are).
router::unique_fd redirect(int target) {
  int p[2];
  if (::pipe2(p, O_CLOEXEC) != 0)
    throw std::system_error(errno, std::generic_category(), "pipe for output capture");
  router::unique_fd r{p[0]}, w{p[1]};
  if (::dup2(w.get(), target) < 0)
    throw std::system_error(errno, std::generic_category(), "dup2 for output capture");
  router::set_nonblocking(r.get());
  return r;
}

// The lines of one pipe: bytes are kept until their newline.
struct line_buffer {
  std::string pending;

  template <class Emit>
  void feed(const char* p, std::size_t n, Emit&& emit) {
    pending.append(p, n);
    std::size_t start = 0;
    for (;;) {
      auto nl = pending.find('\n', start);
      if (nl == std::string::npos)
        break;
      emit(pending.substr(start, nl - start));
      start = nl + 1;
    }
    pending.erase(0, start);
    while (pending.size() >= output_capture::max_line) {
      emit(pending.substr(0, output_capture::max_line));
      pending.erase(0, output_capture::max_line);
    }
  }
};

} // namespace

output_capture::output_capture(emit_fn emit) : emit_(std::move(emit)) {
  saved_err_.reset(::fcntl(2, F_DUPFD_CLOEXEC, 3));
  if (saved_err_.get() < 0)
    throw std::system_error(errno, std::generic_category(), "dup of stderr");
  stop_.reset(::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK));
  if (stop_.get() < 0)
    throw std::system_error(errno, std::generic_category(), "eventfd for output capture");
  std::fflush(stdout);
  std::cout.flush();
  out_r_ = redirect(1);
  try {
    err_r_ = redirect(2);
  } catch (...) {
    ::dup2(saved_err_.get(), 1);
    throw;
  }
  // A pipe makes stdout fully buffered: a printf would wait for 4 KiB.
  std::setvbuf(stdout, nullptr, _IOLBF, 0);
  reader_ = std::thread{[this] { run(); }};
}

output_capture::~output_capture() {
  std::fflush(stdout);
  std::cout.flush();
  std::cerr.flush();
  // Our write ends close here; a subprocess may still hold them, so the
  // reader is told to stop rather than left waiting for their EOF.
  ::dup2(saved_err_.get(), 1);
  ::dup2(saved_err_.get(), 2);
  std::uint64_t one = 1;
  [[maybe_unused]] auto n = ::write(stop_.get(), &one, sizeof(one));
  if (reader_.joinable())
    reader_.join();
}

void output_capture::emit(bool from_stderr, std::string line) {
  if (emit_(from_stderr, line))
    return;
  line += '\n';
  router::write_fully(saved_err_.get(), line.data(), line.size());
}

void output_capture::run() {
  line_buffer lines[2];
  bool open[2] = {true, true};
  const int fds[2] = {out_r_.get(), err_r_.get()};
  char buf[8192];
  // Reads what pipe i holds now; false at its EOF.
  auto drain = [&](int i) {
    for (;;) {
      auto n = ::read(fds[i], buf, sizeof(buf));
      if (n > 0) {
        lines[i].feed(buf, static_cast<std::size_t>(n),
                      [&](std::string l) { emit(i == 1, std::move(l)); });
        continue;
      }
      if (n < 0 && errno == EINTR)
        continue;
      return !(n == 0); // EOF: false; EAGAIN or an error: still open
    }
  };
  bool stopping = false;
  while (!stopping && (open[0] || open[1])) {
    pollfd p[3] = {{open[0] ? fds[0] : -1, POLLIN, 0},
                   {open[1] ? fds[1] : -1, POLLIN, 0},
                   {stop_.get(), POLLIN, 0}};
    if (::poll(p, 3, -1) < 0) {
      if (errno == EINTR)
        continue;
      break;
    }
    for (int i = 0; i < 2; ++i)
      if (open[i] && (p[i].revents & (POLLIN | POLLHUP | POLLERR)))
        open[i] = drain(i);
    stopping = p[2].revents & POLLIN;
  }
  for (int i = 0; i < 2; ++i) {
    if (open[i])
      drain(i);
    if (!lines[i].pending.empty())
      emit(i == 1, std::move(lines[i].pending));
  }
}

} // namespace mitosis::actors::services
