// What a file push takes and gives back (context::push_file, push_tree,
// mitosis::push): docs/files.md.
#pragma once

#include <cstdint>
#include <optional>

#include "../serialization/messages.hpp"

namespace mitosis {

/// How pushed files are written at the target.
struct push_options {
  /// The mode of the written files (and, for a tree, directories); unset:
  /// each local file's own mode.
  std::optional<std::uint32_t> mode;
  /// The owner of the written files; unset: the local file's. Applied only
  /// when the target runs as root (else its files are the target user's).
  std::optional<std::int64_t> uid;
  std::optional<std::int64_t> gid;
  /// Chunk requests in flight per file the target fetches (256 KiB each).
  std::uint32_t window = 16;
};

/// What one target did for one push (the file_pushed answer): `entries`
/// (files and directories written), `bytes` (of the files written),
/// `fetched` (bytes the target fetched over its parent link; the rest
/// travelled inside the push or came from a part file) and `resumed`
/// (bytes found in part files of an earlier attempt).
using push_result = serialization::pushed_info;

} // namespace mitosis
