// Logs across the tree: an agent sends every spdlog line to the master
// (log_record frames), and every line of its own stdout and stderr
// (output_capture); the master writes each on a logger named after the
// context it came from.
#pragma once

#include <memory>
#include <mutex>
#include <unordered_map>

#include "core.hpp"
#include "output_capture.hpp"

namespace mitosis::actors::services {

class log_service {
public:
  /// Registers the log_record handler; in an agent (a process with a
  /// parent), also sends this process's log lines, the program's own spdlog
  /// calls included, to the master.
  explicit log_service(core& c);
  ~log_service();

  /// In an agent: fds 1 and 2 become pipes whose lines go to the master,
  /// on logger "stdout" at info and "stderr" at warning level (whatever
  /// this process's own log level). Returns false (and logs why) when the
  /// pipes cannot be made; then the output stays where it was.
  bool capture_output();
  /// Ends the capture: fds 1 and 2 point at the former stderr again, and
  /// what the pipes still hold is forwarded. Nothing when not capturing.
  void stop_capture();

private:
  /// Sends one line of this process's stdout or stderr to the master.
  bool forward_output(bool from_stderr, std::string& line);
  void on_record(const serialization::frame& f, router::stream_id from);
  /// Whether a line from `src` passes its token bucket
  /// (options::log_lines_per_second, log_burst). When it passes, sets
  /// `dropped` to the lines dropped and not yet reported, at most once a
  /// second (else 0: they wait for a later line).
  /// A line must also pass the bucket of the child stream it came on
  /// (`from`; options::log_lines_per_second_per_child); a line it drops
  /// is counted as dropped for `src` all the same.
  bool admit(router::context_id src, router::stream_id from, std::uint64_t& dropped);

  core& core_;
  // One token bucket per context that sent lines here.
  struct bucket {
    double tokens = 0;
    clock::time_point last{};
    clock::time_point reported{};
    std::uint64_t dropped = 0;
  };
  std::mutex mtx_;
  std::unordered_map<router::context_id, bucket> buckets_;
  // One per child stream lines came on (only their tokens are used). A
  // bucket idle long enough to be full again is the same as none: such
  // buckets are swept, so streams that come and go do not grow the map.
  std::unordered_map<router::stream_id, bucket> stream_buckets_;
  std::unique_ptr<output_capture> capture_;
};

} // namespace mitosis::actors::services
