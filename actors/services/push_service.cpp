#include "push_service.hpp"

#include <cerrno>
#include <cstring>
#include <fcntl.h>
#include <atomic>
#include <map>
#include <unordered_map>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "chunk_fetch.hpp"
#include "file_io.hpp"
#include "file_store.hpp"
#include "../errors.hpp"
#include "../../router/fd.hpp"
#include "../../serialization/sha256.hpp"

namespace mitosis::actors::services {

using serialization::frame;
using serialization::wire_type;

namespace {

std::string dir_of(const std::string& path) {
  auto slash = path.rfind('/');
  return slash == std::string::npos ? "." : slash == 0 ? "/" : path.substr(0, slash);
}

std::string part_name(const std::string& path, const std::string& sha256) {
  auto slash = path.rfind('/');
  auto base = slash == std::string::npos ? path : path.substr(slash + 1);
  return dir_of(path) + "/." + base + ".mitosis-part." + sha256.substr(0, 32);
}

bool root() {
  return ::geteuid() == 0;
}

// The destination directories of a push, each made (or found) once, with
// the file system it is on (one syncfs each).
using dir_cache = std::unordered_map<std::string, dev_t>;

dev_t made_dir(const std::string& dir, dir_cache& dirs, const std::string& me) {
  if (auto i = dirs.find(dir); i != dirs.end())
    return i->second;
  if (auto why = file_io::make_dirs(dir); !why.empty())
    throw error(errc::file_error, me, why);
  struct stat st {};
  if (::stat(dir.c_str(), &st) != 0)
    throw error(errc::file_error, me, "cannot stat " + dir + ": " + std::strerror(errno));
  dirs.emplace(dir, st.st_dev);
  return st.st_dev;
}

// Opens a file on the file system to sync: the directory, else (no read
// right on it) the part file written there.
router::unique_fd sync_handle(const std::string& dir, const std::string& part) {
  router::unique_fd fd{::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC)};
  if (fd.get() < 0)
    fd.reset(::open(part.c_str(), O_RDONLY | O_NOFOLLOW | O_CLOEXEC));
  return fd;
}

} // namespace

push_service::push_service(core& c, blob_service& blobs) : core_(c), blobs_(blobs) {
  c.routes().handlers().add(wire_type::file_push,
                            [this](frame&& f, policy::direction, router::stream_id from) {
                              auto hdr = f.hdr;
                              core_.on_pool(hdr, [this, from, f = std::move(f)]() mutable {
                                on_push(std::move(f), from);
                              });
                            });
}

expected<serialization::pushed_info> push_service::push(router::context_id target,
                                                        const serialization::push_info& p) {
  if (target == core_.self())
    return apply(p);
  // No deadline of its own: a target fetching waits at most
  // request_timeout per chunk, and a lost target fails the request.
  return core_.ask<serialization::pushed_info>(target, wire_type::file_push,
                                               wire_type::file_pushed,
                                               clock::now() + std::chrono::hours(24 * 365), p);
}

void push_service::on_push(frame&& f, router::stream_id from) {
  serialization::push_info p;
  if (!core_.decode_or_refuse(f, p, from))
    return;
  auto r = apply(p);
  if (!r) {
    core_.routes().refuse(0, f.hdr, r.error().code, r.error().reason);
    return;
  }
  serialization::buffer out(serialization::frame_header::size);
  serialization::encode_into(out, *r);
  core_.routes().reply(f.hdr, wire_type::file_pushed, std::move(out));
}

void push_service::finish_part(int fd, const serialization::push_entry_info& e,
                               const std::string& part) {
  const auto& me = core_.name();
  auto fail = [&](const std::string& what) {
    return error(errc::file_error, me, what + " " + part + ": " + std::strerror(errno));
  };
  // As root, the owner it had at the pusher, when the file lacks it. First:
  // a chown clears the set-user-id and set-group-id bits of the mode.
  if (root() && (e.uid >= 0 || e.gid >= 0)) {
    struct stat st {};
    if (::fstat(fd, &st) != 0)
      throw fail("cannot stat");
    const auto uid = e.uid < 0 ? static_cast<uid_t>(-1) : static_cast<uid_t>(e.uid);
    const auto gid = e.gid < 0 ? static_cast<gid_t>(-1) : static_cast<gid_t>(e.gid);
    if (((e.uid >= 0 && st.st_uid != uid) || (e.gid >= 0 && st.st_gid != gid))
        && ::fchown(fd, uid, gid) != 0)
      throw fail("cannot chown");
  }
  if (::fchmod(fd, e.mode & 07777) != 0)
    throw fail("cannot chmod");
}

std::string push_service::write_inline_part(const serialization::push_entry_info& e) {
  // Checked before anything is written. Its own name (no resuming: the
  // bytes are all here), so no lock and nothing to truncate, and two
  // pushes of one file never write the same part file.
  const auto& me = core_.name();
  serialization::sha256_stream hash;
  hash.update(e.bytes.data(), e.bytes.size());
  if (e.bytes.size() != e.size || hash.hex() != e.sha256)
    throw error(errc::file_error, me,
                "context '" + me + "': " + e.path + " does not match its sha256 " + e.sha256
                  + " (the bytes in the push; nothing written)");
  static std::atomic<std::uint64_t> written{0};
  const auto stem = part_name(e.path, e.sha256) + "." + std::to_string(::getpid()) + ".";
  for (;;) {
    auto part = stem + std::to_string(++written);
    router::unique_fd fd{
      ::open(part.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600)};
    if (fd.get() < 0 && errno == EEXIST)
      continue; // left by an earlier process with our pid
    try {
      if (fd.get() < 0 || !file_io::write_at(fd.get(), e.bytes.data(), e.bytes.size(), 0))
        throw error(errc::file_error, me, "cannot write " + part + ": " + std::strerror(errno));
      finish_part(fd.get(), e, part);
    } catch (...) {
      if (fd.get() >= 0)
        ::unlink(part.c_str());
      throw;
    }
    return part;
  }
}

std::string push_service::write_part(const serialization::push_entry_info& e,
                                     const serialization::push_info& p,
                                     serialization::pushed_info& out) {
  const auto& me = core_.name();
  auto fail = [&](const std::string& what) -> error {
    return error(errc::file_error, me, what + ": " + std::strerror(errno));
  };
  if (e.inline_bytes) {
    auto part = write_inline_part(e);
    out.bytes += e.size;
    return part;
  }
  // Content to fetch: into the part file named by its sha256, which an
  // earlier attempt may have left (resumed), locked so that two pushes do
  // not write it at once.
  const auto part = part_name(e.path, e.sha256);
  router::unique_fd fd{::open(part.c_str(), O_RDWR | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0600)};
  if (fd.get() < 0)
    throw fail("cannot write " + part);
  if (::flock(fd.get(), LOCK_EX | LOCK_NB) != 0)
    throw error(errc::file_error, me, "another push is writing " + part);
  serialization::sha256_stream hash;
  std::uint64_t have = 0;
  // Resume from what an earlier attempt left, when it reads back.
  struct stat st {};
  if (::fstat(fd.get(), &st) == 0 && static_cast<std::uint64_t>(st.st_size) <= e.size)
    have = static_cast<std::uint64_t>(st.st_size);
  if (have > 0 && !file_io::hash_prefix(fd.get(), have, hash)) {
    hash = {};
    have = 0;
  }
  if (have == 0 && ::ftruncate(fd.get(), 0) != 0)
    throw fail("cannot truncate " + part);
  out.resumed += have;
  if (have < e.size) {
    const auto up = blobs_.upstream(p.source);
    chunk_source src;
    src.ask = [&](std::uint64_t offset) {
      return core_
        .send_request(up, wire_type::blob_request,
                      serialization::blob_request_info{e.sha256, offset, file_store::max_chunk,
                                                       p.source})
        .answer;
    };
    src.from_name = core_.name_of(up);
    src.what = e.path + " (" + e.sha256 + ")";
    src.chunk = file_store::max_chunk;
    auto size = fetch_chunks(core_, src, have, static_cast<int>(p.window),
                             [&](const serialization::file_chunk_info& c) {
                               if (!file_io::write_at(fd.get(), c.bytes.data(), c.bytes.size(),
                                                      c.offset))
                                 throw fail("cannot write " + part);
                               hash.update(c.bytes.data(), c.bytes.size());
                               out.fetched += c.bytes.size();
                             });
    if (size != e.size)
      throw error(errc::file_error, me,
                  e.path + ": the content is " + std::to_string(size) + " bytes, not "
                    + std::to_string(e.size));
    have = size;
  }
  if (have != e.size || hash.hex() != e.sha256) {
    ::unlink(part.c_str());
    throw error(errc::file_error, me,
                "context '" + me + "': " + e.path + " does not match its sha256 " + e.sha256
                  + " after the transfer (removed)");
  }
  finish_part(fd.get(), e, part);
  out.bytes += e.size;
  return part;
}

expected<serialization::pushed_info> push_service::apply(const serialization::push_info& p) {
  serialization::pushed_info out;
  const auto& me = core_.name();
  // Written first, synced, then renamed: a destination is the old file or
  // the whole new one. One sync per file system for a batch of files.
  struct written {
    std::string part, dst;
    bool own; // a small file's part: this push's alone, never resumed
  };
  std::vector<written> renames;
  std::size_t renamed = 0;
  // On failure the parts of small files not renamed yet go. A fetched
  // file's part stays for the next attempt to resume from.
  auto drop_own_parts = [&] {
    for (auto i = renamed; i < renames.size(); ++i)
      if (renames[i].own)
        ::unlink(renames[i].part.c_str());
  };
  std::map<dev_t, std::pair<std::string, std::string>> filesystems; // a directory, a part there
  dir_cache dirs;
  try {
    for (const auto& e : p.entries) {
      if (e.path.empty() || e.path[0] != '/')
        throw error(errc::file_error, me, "'" + e.path + "': not an absolute path");
      if (e.dir) {
        if (auto why = file_io::make_dirs(e.path, e.mode & 07777); !why.empty())
          throw error(errc::file_error, me, why);
        (void) ::chmod(e.path.c_str(), e.mode & 07777);
        if (root() && (e.uid >= 0 || e.gid >= 0))
          (void) ::chown(e.path.c_str(), static_cast<uid_t>(e.uid), static_cast<gid_t>(e.gid));
        ++out.entries;
        continue;
      }
      const auto dir = dir_of(e.path);
      const auto dev = made_dir(dir, dirs, me);
      renames.push_back({write_part(e, p, out), e.path, e.inline_bytes});
      filesystems.try_emplace(dev, dir, renames.back().part);
    }
    std::vector<router::unique_fd> syncs;
    for (const auto& [dev, where] : filesystems) {
      syncs.push_back(sync_handle(where.first, where.second));
      if (syncs.back().get() < 0 || ::syncfs(syncs.back().get()) != 0)
        throw error(errc::file_error, me, std::string{"cannot sync: "} + std::strerror(errno));
    }
    for (const auto& w : renames) {
      if (::rename(w.part.c_str(), w.dst.c_str()) != 0)
        throw error(errc::file_error, me,
                    "cannot rename " + w.part + " to " + w.dst + ": " + std::strerror(errno));
      ++out.entries;
      ++renamed;
    }
    for (auto& fd : syncs) // the renames
      (void) ::syncfs(fd.get());
  } catch (const error& ex) {
    drop_own_parts();
    return fail(ex.code(), ex.what(), me);
  } catch (const std::exception& ex) {
    drop_own_parts();
    return fail(errc::file_error, ex.what(), me);
  }
  return out;
}

} // namespace mitosis::actors::services
