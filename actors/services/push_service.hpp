// Pushing files (file_push / file_pushed): the target of a push writes
// each entry atomically (a part file in the destination directory, synced,
// renamed over the destination; mode kept, owner kept when it runs as
// root), fetching the content of big files by sha256 from its upstream
// (blob_service) from the offset a part file left by an earlier attempt
// has, and checks every file's sha256 before it is renamed.
#pragma once

#include <string>

#include "blob_service.hpp"
#include "core.hpp"

namespace mitosis::actors::services {

class push_service {
public:
  push_service(core& c, blob_service& blobs);

  /// Sends `p` to `target` and waits for its answer (or writes here when
  /// `target` is this context). The failure names the target.
  expected<serialization::pushed_info> push(router::context_id target,
                                            const serialization::push_info& p);

  /// Writes the entries of `p` here: what a file_push asks.
  expected<serialization::pushed_info> apply(const serialization::push_info& p);

  /// Files up to this size travel inside the file_push frame.
  static constexpr std::uint64_t inline_max = 64 * 1024;

private:
  void on_push(serialization::frame&& f, router::stream_id from);
  /// Writes one file entry to its part file (not renamed yet); returns
  /// the part file's name. Throws mitosis::error.
  std::string write_part(const serialization::push_entry_info& e, const serialization::push_info& p,
                         serialization::pushed_info& out);
  /// Writes a file whose bytes came in the push to a part file of this
  /// push's own (a unique name, created with O_EXCL); returns its name.
  std::string write_inline_part(const serialization::push_entry_info& e);
  /// Sets the owner (as root) and the mode of the part file `fd`.
  void finish_part(int fd, const serialization::push_entry_info& e, const std::string& part);

  core& core_;
  blob_service& blobs_;
};

} // namespace mitosis::actors::services
