// The agent bundle: this program's executable, the shared libraries it has
// loaded and the dynamic loader, as one gzip'd tar named by its sha256. A
// copy started from a bundle ships that same bundle further.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace mitosis::bootstrap {

/// A bundle ready to ship.
struct bundle {
  /// Path of the .tar.gz on this host.
  std::string archive;
  /// Lower-case hex sha256 of the archive.
  std::string sha256;
  std::uint64_t size = 0;
};

/// Environment variable that tells an agent the installed bundle it runs
/// from (the directory holding exe, ld.so, the libraries and b.tgz).
inline constexpr const char* bundle_env = "MITOSIS_BUNDLE";

/// Returns the bundle this process ships: its own installed bundle when it
/// was started from one, else one built from the running program (once per
/// build, cached in /tmp/mitosis-<uid>/bundles). Thread-safe; throws
/// std::runtime_error naming what failed.
const bundle& own_bundle();

/// The installed bundle directory this process runs from, or "".
const std::string& installed_bundle_dir();

/// Returns the path of this executable, resolved once.
const std::string& self_exe();

/// Returns the argv that starts this program again on this host: the
/// executable itself (its path; /proc/self/exe when the file there is no
/// longer this process's image), or, when running from a bundle, its
/// loader with --library-path. argv[0] of the new process is `arg0`.
std::vector<std::string> self_command(const std::string& arg0);

/// Returns the shared objects this process has loaded from files (not the
/// loader, not the vdso, not plugins): what a bundle must carry.
std::vector<std::string> loaded_libraries();

/// Returns /tmp/mitosis-<uid>/<sub>, created 0700 when missing; throws
/// when it (or its parent) is not a private directory of ours.
std::string private_dir(const std::string& sub);

/// Returns the path of this program's dynamic loader (PT_INTERP).
std::string program_interpreter();

} // namespace mitosis::bootstrap
