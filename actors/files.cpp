// The user API of files: context::push_file / push_tree, mitosis::push
// (fan-out) and mitosis::serve_files (docs/files.md). The work is in
// services/push_service (targets) and services/blob_service (the content
// by sha256 and the per-hop cache).
#include <algorithm>
#include <cerrno>
#include <cstring>
#include <dirent.h>
#include <fcntl.h>
#include <map>
#include <memory>
#include <mutex>
#include <sys/stat.h>
#include <tuple>

#include "context.hpp"
#include "here.hpp"
#include "runtime.hpp"
#include "services/file_io.hpp"
#include "../serialization/sha256.hpp"

namespace mitosis {

namespace {

using serialization::push_entry_info;
using serialization::push_info;

// Hashes of files pushed before, by path, while they stay the same file
// (device, inode, size, mtime): pushing a file again does not read it again.
std::string cached_sha256(const std::string& path, const struct stat& st) {
  using key = std::tuple<dev_t, ino_t, off_t, long, long>;
  static std::mutex mtx;
  static std::map<std::string, std::pair<key, std::string>> known;
  const key k{st.st_dev, st.st_ino, st.st_size, st.st_mtim.tv_sec, st.st_mtim.tv_nsec};
  {
    std::lock_guard<std::mutex> g{mtx};
    if (auto it = known.find(path); it != known.end() && it->second.first == k)
      return it->second.second;
  }
  std::uint64_t size = 0;
  std::string sha;
  try {
    sha = actors::services::file_io::sha256_of(path, size);
  } catch (const std::exception& e) {
    throw error(errc::file_error, "", e.what());
  }
  std::lock_guard<std::mutex> g{mtx};
  if (known.size() > 4096)
    known.clear();
  known[path] = {k, sha};
  return sha;
}

struct stat stat_or_throw(const std::string& path) {
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0)
    throw error(errc::file_error, "", "cannot push " + path + ": " + std::strerror(errno));
  return st;
}

// The entry for `path` without its content: its sha256 only when `hash`.
push_entry_info entry_for(const std::string& path, const struct stat& st,
                          const std::string& remote, const push_options& opts, bool hash = true) {
  push_entry_info e;
  e.path = remote;
  e.mode = opts.mode.value_or(st.st_mode & 07777);
  e.uid = opts.uid.value_or(st.st_uid);
  e.gid = opts.gid.value_or(st.st_gid);
  if (S_ISDIR(st.st_mode)) {
    e.dir = true;
    return e;
  }
  if (!S_ISREG(st.st_mode))
    throw error(errc::file_error, "", "cannot push " + path + ": not a regular file");
  e.size = static_cast<std::uint64_t>(st.st_size);
  if (hash)
    e.sha256 = cached_sha256(path, st);
  return e;
}

// Adds the file at `path` to `p`: inside the push when small, else offered
// by sha256 for the targets to fetch.
void add_file(actors::runtime& rt, push_info& p, const std::string& path, const struct stat& st,
              const std::string& remote, const push_options& opts) {
  const bool small = S_ISREG(st.st_mode)
                     && static_cast<std::uint64_t>(st.st_size)
                          <= actors::services::push_service::inline_max;
  // A small file is read once: its sha256 is the hash of the bytes sent.
  auto e = entry_for(path, st, remote, opts, !small);
  if (small) {
    std::vector<char> bytes(e.size);
    router::unique_fd fd{::open(path.c_str(), O_RDONLY | O_CLOEXEC)};
    if (fd.get() < 0
        || actors::services::file_io::read_at(fd.get(), bytes.data(), bytes.size(), 0)
             != static_cast<long long>(e.size))
      throw error(errc::file_error, "", "cannot read " + path + ": " + std::strerror(errno));
    serialization::sha256_stream hash;
    hash.update(bytes.data(), bytes.size());
    e.sha256 = hash.hex();
    e.bytes = std::move(bytes);
    e.inline_bytes = true;
  } else if (!e.dir) {
    rt.blobs().offer(e.sha256, path, e.size);
  }
  p.entries.push_back(std::move(e));
}

void walk(actors::runtime& rt, push_info& p, const std::string& dir, const std::string& remote,
          const push_options& opts) {
  auto st = stat_or_throw(dir);
  p.entries.push_back(entry_for(dir, st, remote, opts));
  std::unique_ptr<DIR, int (*)(DIR*)> d{::opendir(dir.c_str()), ::closedir};
  if (!d)
    throw error(errc::file_error, "", "cannot read " + dir + ": " + std::strerror(errno));
  std::vector<std::string> names;
  while (auto* ent = ::readdir(d.get()))
    if (std::strcmp(ent->d_name, ".") != 0 && std::strcmp(ent->d_name, "..") != 0)
      names.emplace_back(ent->d_name);
  std::sort(names.begin(), names.end());
  for (const auto& n : names) {
    auto path = dir + "/" + n;
    auto sub = stat_or_throw(path);
    if (S_ISDIR(sub.st_mode))
      walk(rt, p, path, remote + "/" + n, opts);
    else
      add_file(rt, p, path, sub, remote + "/" + n, opts);
  }
}

push_info new_push(actors::runtime& rt, const push_options& opts) {
  push_info p;
  p.source = rt.self();
  p.window = opts.window;
  return p;
}

push_result send(actors::runtime& rt, const context& target, const push_info& p) {
  auto r = rt.pushes().push(target.id(), p);
  if (!r)
    throw_failure(std::move(r).error(), target.name());
  return *r;
}

// Sends the entries of `p` in pushes of at most `budget` inline bytes each
// (a directory always goes before what is in it: the order is kept).
push_result send_batched(actors::runtime& rt, const context& target, push_info p) {
  const std::uint64_t budget = std::min<std::uint64_t>(rt.options().max_frame / 2, 16u << 20);
  push_result total;
  push_info batch = p;
  batch.entries.clear();
  std::uint64_t inline_bytes = 0;
  auto flush = [&] {
    if (batch.entries.empty())
      return;
    auto r = send(rt, target, batch);
    total.entries += r.entries;
    total.bytes += r.bytes;
    total.fetched += r.fetched;
    total.resumed += r.resumed;
    batch.entries.clear();
    inline_bytes = 0;
  };
  for (auto& e : p.entries) {
    if (inline_bytes + e.bytes.size() > budget)
      flush();
    inline_bytes += e.bytes.size();
    batch.entries.push_back(std::move(e));
  }
  flush();
  return total;
}

} // namespace

push_result context::push_file(const std::string& local_path, const std::string& remote_path,
                               const push_options& opts) const {
  auto p = new_push(*rt_, opts);
  add_file(*rt_, p, local_path, stat_or_throw(local_path), remote_path, opts);
  if (p.entries.back().dir)
    throw error(errc::file_error, name_, "cannot push " + local_path
                                           + ": a directory (push_tree pushes a tree)");
  return send(*rt_, *this, p);
}

push_result context::push_tree(const std::string& local_dir, const std::string& remote_dir,
                               const push_options& opts) const {
  auto p = new_push(*rt_, opts);
  walk(*rt_, p, local_dir, remote_dir, opts);
  return send_batched(*rt_, *this, std::move(p));
}

void serve_files(const std::string& path, const std::vector<context>& peers) {
  detail::serve_files(detail::current_runtime(), path, peers);
}

std::vector<std::future<push_result>> push(const std::vector<context>& targets,
                                           const std::string& local_path,
                                           const std::string& remote_path,
                                           const push_options& opts) {
  return detail::push(detail::current_runtime(), targets, local_path, remote_path, opts);
}

namespace detail {

void serve_files(actors::runtime& rt, const std::string& path, const std::vector<context>& peers) {
  std::vector<std::uint32_t> ids;
  for (const auto& p : peers)
    ids.push_back(p.id());
  rt.files().store().serve(path, ids);
}

std::vector<std::future<push_result>> push(actors::runtime& rt, const std::vector<context>& targets,
                                           const std::string& local_path,
                                           const std::string& remote_path,
                                           const push_options& opts) {
  // Hashed (and offered) once; every target then fetches through its
  // parent, whose cache serves the siblings.
  auto p = std::make_shared<push_info>(new_push(rt, opts));
  add_file(rt, *p, local_path, stat_or_throw(local_path), remote_path, opts);
  std::vector<std::future<push_result>> out;
  const auto at = remote_path.find("{id}");
  for (const auto& t : targets) {
    auto mine = p;
    if (at != std::string::npos) { // a destination of its own for each target
      mine = std::make_shared<push_info>(*p);
      mine->entries[0].path.replace(at, 4, std::to_string(t.id()));
    }
    out.push_back(std::async(std::launch::async, [&rt, t, mine] { return send(rt, t, *mine); }));
  }
  return out;
}

} // namespace detail

} // namespace mitosis
