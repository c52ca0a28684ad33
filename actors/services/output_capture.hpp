// An agent's own stdout and stderr, forwarded as log lines (as Mitogen's
// IoLogger does): fds 1 and 2 become pipes that a thread of this process
// reads, and every line read goes to a callback (log_service sends it to
// the master as a log_record). What the program prints, with printf,
// std::cout, std::cerr or a subprocess that inherits the fds, so ends in
// the master's log tagged with the context.
#pragma once

#include <functional>
#include <string>
#include <thread>

#include "../../router/fd.hpp"

namespace mitosis::actors::services {

class output_capture {
public:
  /// One line (without its newline) read from fd 1 (`from_stderr` false)
  /// or fd 2. Runs on the capture thread. Returns false when the line
  /// could not be forwarded: it is then written to the former fd 2.
  using emit_fn = std::function<bool(bool from_stderr, std::string& line)>;

  /// Redirects fds 1 and 2 to pipes and starts the thread that reads them;
  /// stdout becomes line-buffered. The former fd 2 is kept for fallback().
  /// Throws std::system_error when a pipe cannot be made (fds unchanged).
  explicit output_capture(emit_fn emit);

  /// Flushes stdout, points fds 1 and 2 back at the former fd 2, forwards
  /// what the pipes still hold (a last line without its newline too) and
  /// stops the thread.
  ~output_capture();

  output_capture(const output_capture&) = delete;
  output_capture& operator=(const output_capture&) = delete;

  /// The longest line forwarded as one; a longer one is cut in pieces.
  static constexpr std::size_t max_line = 16 * 1024;

private:
  void run();
  void emit(bool from_stderr, std::string line);

  emit_fn emit_;
  router::unique_fd out_r_, err_r_, saved_err_, stop_;
  std::thread reader_;
};

} // namespace mitosis::actors::services
