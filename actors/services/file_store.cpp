#include "file_store.hpp"

#include <algorithm>
#include <cerrno>
#include <climits>
#include <cstdlib>
#include <cstring>
#include <fcntl.h>
#include <stdexcept>
#include <sys/stat.h>
#include <unistd.h>

#include "file_io.hpp"
#include "../../router/stream.hpp"

namespace mitosis::actors::services {

namespace {

bool resolve(const std::string& path, std::string& out) {
  char buf[PATH_MAX];
  if (!::realpath(path.c_str(), buf))
    return false;
  out = buf;
  return true;
}

bool has_dotdot(const std::string& path) {
  std::size_t start = 0;
  while (start <= path.size()) {
    auto end = path.find('/', start);
    if (end == std::string::npos)
      end = path.size();
    if (path.compare(start, end - start, "..") == 0 && end - start == 2)
      return true;
    start = end + 1;
  }
  return false;
}

} // namespace

void file_store::serve(const std::string& path, const std::vector<std::uint32_t>& peers) {
  std::string resolved;
  if (!resolve(path, resolved))
    throw std::invalid_argument("cannot serve " + path + ": " + std::strerror(errno));
  std::lock_guard<std::mutex> guard{mtx_};
  for (auto& r : roots_)
    if (r.path == resolved) {
      if (peers.empty() || r.peers.empty())
        r.peers.clear();
      else
        r.peers.insert(r.peers.end(), peers.begin(), peers.end());
      return;
    }
  struct stat st {};
  if (::stat(resolved.c_str(), &st) != 0)
    throw std::invalid_argument("cannot serve " + path + ": " + std::strerror(errno));
  // The anchor's length without a trailing '/': 0 for "/".
  root r{resolved, peers, {}, resolved == "/" ? 0 : resolved.size()};
  if (!S_ISDIR(st.st_mode))
    r.anchor_len = resolved.rfind('/');
  const auto anchor = r.anchor_len == 0 ? std::string{"/"} : resolved.substr(0, r.anchor_len);
  r.anchor.reset(::open(anchor.c_str(), O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
  if (r.anchor.get() < 0)
    throw std::invalid_argument("cannot serve " + path + ": " + std::strerror(errno));
  roots_.push_back(std::move(r));
}

const file_store::root* file_store::match_locked(const std::string& resolved,
                                                 std::optional<std::uint32_t> peer) const {
  for (const auto& r : roots_) {
    const auto& root = r.path;
    const bool under = resolved == root
                       || (resolved.size() > root.size()
                           && resolved.compare(0, root.size(), root) == 0
                           && (root == "/" || resolved[root.size()] == '/'));
    if (under
        && (!peer || r.peers.empty()
            || std::find(r.peers.begin(), r.peers.end(), *peer) != r.peers.end()))
      return &r;
  }
  return nullptr;
}

bool file_store::served(const std::string& resolved, std::optional<std::uint32_t> peer) const {
  std::lock_guard<std::mutex> guard{mtx_};
  return match_locked(resolved, peer) != nullptr;
}

expected<serialization::file_chunk_info> file_store::read(const std::string& path,
                                                          std::uint64_t offset,
                                                          std::uint32_t max,
                                                          std::optional<std::uint32_t> peer) const {
  auto refuse = [&](errc code, std::string why) { return fail(code, "'" + path + "': " + why); };
  if (path.empty() || path[0] != '/')
    return refuse(errc::file_not_allowed, "not an absolute path");
  if (has_dotdot(path))
    return refuse(errc::file_not_allowed, "'..' is not allowed");
  std::string resolved;
  if (!resolve(path, resolved)) {
    auto why = std::string{std::strerror(errno)};
    // Say only whether it is served, not whether it exists elsewhere.
    auto dir = path.substr(0, path.rfind('/'));
    std::string rdir;
    if (!resolve(dir.empty() ? "/" : dir, rdir) || !served(rdir, peer))
      return refuse(errc::file_not_allowed, "not a served path");
    return refuse(errc::file_error, why);
  }
  // Roots are never removed: their anchors stay open while the store lives.
  int anchor = -1;
  std::string rel;
  {
    std::lock_guard<std::mutex> guard{mtx_};
    if (auto r = match_locked(resolved, peer)) {
      anchor = r->anchor.get();
      rel = resolved.substr(std::min(r->anchor_len + 1, resolved.size()));
    }
  }
  if (anchor < 0) {
    if (peer && served(resolved, std::nullopt))
      return refuse(errc::file_not_allowed,
                    "not served to context " + std::to_string(*peer) + " (file rights)");
    return refuse(errc::file_not_allowed, resolved == path ? "not a served path"
                                                           : "resolves outside the served paths");
  }
  // Down from the root without following a link: a directory swapped for
  // a link after realpath() fails here instead of leading out of the root.
  // O_NONBLOCK: opening a FIFO must not wait for a writer.
  router::unique_fd fd{file_io::open_beneath(anchor, rel, O_RDONLY | O_NONBLOCK)};
  if (fd.get() < 0) {
    if (errno == ELOOP || errno == ENOTDIR)
      return refuse(errc::file_not_allowed, "changed while it was opened (a link on its way)");
    return refuse(errc::file_error, std::strerror(errno));
  }
  struct stat st {};
  if (::fstat(fd.get(), &st) != 0 || !S_ISREG(st.st_mode))
    return refuse(errc::file_error, "not a regular file");
  auto size = static_cast<std::uint64_t>(st.st_size);
  serialization::file_chunk_info chunk;
  chunk.size = size;
  chunk.offset = offset;
  if (offset >= size)
    return chunk;
  auto want = static_cast<std::size_t>(std::min<std::uint64_t>(
    {size - offset, max == 0 ? max_chunk : max, max_chunk}));
  chunk.bytes.resize(want);
  auto got = file_io::read_at(fd.get(), chunk.bytes.data(), want, offset);
  if (got < 0)
    return refuse(errc::file_error, std::strerror(errno));
  chunk.bytes.resize(static_cast<std::size_t>(got));
  return chunk;
}

} // namespace mitosis::actors::services
