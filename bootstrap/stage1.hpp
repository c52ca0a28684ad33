// Stage-1: the short POSIX sh script every non-local method runs on the
// target, and our side of its dialog (bundle upload, become prompts).
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "bundle.hpp"
#include "../serialization/errc.hpp"

namespace mitosis::bootstrap {

/// Returns the stage-1 script (the argument of `/bin/sh -c`): find bundle
/// `b` by hash in the cache directory (`cache_dir`, or $HOME/.cache/mitosis,
/// else /tmp/mitosis-<uid>; mode 0700, ours), or say MXNEED, read exactly
/// b.size bytes, unpack them into a temporary directory while their sha256
/// is computed alongside, and rename the directory into place only if the
/// hash matches; then say MXOK and exec the agent through the bundle's
/// loader. Nothing runs from the temporary directory.
/// With `quiet_stderr` the agent's stderr goes to /dev/null (when stderr
/// is the stream itself, as under su's full pty).
/// The script is one line, so that a csh or tcsh login shell in between
/// (sshd and su run the command through it) takes it.
std::string stage1_script(const bundle& b, const std::string& cache_dir, const std::string& arg0,
                          bool quiet_stderr = false);

/// Quotes `s` for a POSIX shell command line that also passes unchanged
/// through csh and tcsh ('!' is escaped outside the quotes).
std::string sh_quote(const std::string& s);

/// A password prompt to answer during the dialog (become methods).
struct prompt_answerer {
  /// Where prompts appear (a pty master); -1 when they appear on the
  /// stream itself (su over a full pty) or never.
  int fd = -1;
  /// The password; empty means a prompt is a failure (nobody can answer).
  std::string password;
  /// Who asks ("sudo", "su", "doas"), for messages.
  std::string who;
  /// More prompt texts (become_settings::prompts).
  std::vector<std::string> prompts{};
  /// More texts meaning a refused password (become_settings::failures).
  std::vector<std::string> failures{};
};

/// How the dialog ended.
struct stage1_result {
  errc code = errc::none;
  std::string reason;
  /// The bundle was sent (cold start).
  bool installed = false;
};

/// Runs our side of stage-1 on the stream (`rfd`, `wfd`): answers prompts,
/// sends the bundle when asked, and returns once the script said MXOK (the
/// agent's hello follows, unread). `more_stderr` returns text the target
/// wrote to stderr so far, for error messages. Never reads past MXOK.
stage1_result run_stage1(int rfd, int wfd, const bundle& b, const prompt_answerer& prompts,
                         std::chrono::steady_clock::time_point deadline,
                         const std::function<std::string()>& more_stderr);

} // namespace mitosis::bootstrap
