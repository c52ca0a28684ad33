// The paths a context serves to others (file rights): reads chunks of the paths a context has registered, and
// nothing else (no '..', no symlink leading out of a registered path).
#pragma once

#include <cstdint>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "../../router/fd.hpp"
#include "../../serialization/expected.hpp"
#include "../../serialization/messages.hpp"

namespace mitosis::actors::services {

class file_store {
public:
  /// Largest chunk one file_chunk frame carries.
  static constexpr std::uint32_t max_chunk = 256 * 1024;

  /// Serves `path`: a file, or a directory and everything below it, to
  /// the contexts `peers` (by id; empty: to every context that can reach
  /// this one). Serving a path again adds to its peers (or, with none,
  /// opens it to all). Throws std::invalid_argument when it does not exist.
  void serve(const std::string& path, const std::vector<std::uint32_t>& peers = {});

  /// Returns up to `max` (at most max_chunk) bytes of `path` from
  /// `offset` for context `peer` (none: any served path), or
  /// file_not_allowed / file_error with the reason.
  expected<serialization::file_chunk_info> read(const std::string& path, std::uint64_t offset,
                                                std::uint32_t max,
                                                std::optional<std::uint32_t> peer = {}) const;

private:
  struct root {
    std::string path;
    std::vector<std::uint32_t> peers; // empty: every peer
    // Opened when the path is served: the directory, or a file's parent.
    // Reads walk down from it without following links (file_io::
    // open_beneath), so a tree changed after realpath() cannot lead them
    // out of the path.
    router::unique_fd anchor;
    std::size_t anchor_len = 0; // the anchor's part of `path` (0: "/")
  };
  /// The root that serves `resolved` to `peer` (none: to anyone), or null.
  const root* match_locked(const std::string& resolved, std::optional<std::uint32_t> peer) const;
  bool served(const std::string& resolved, std::optional<std::uint32_t> peer) const;

  mutable std::mutex mtx_;
  std::vector<root> roots_;
};

} // namespace mitosis::actors::services
