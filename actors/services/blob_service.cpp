#include "blob_service.hpp"

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <dirent.h>
#include <fcntl.h>
#include <spdlog/spdlog.h>
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

blob_service::blob_service(core& c) : core_(c) {
  c.routes().handlers().add(wire_type::blob_request,
                            [this](frame&& f, policy::direction, router::stream_id from) {
                              auto hdr = f.hdr;
                              core_.on_pool_bounded(hdr, from,
                                                    [this, from, f = std::move(f)]() mutable {
                                                      on_request(std::move(f), from);
                                                    });
                            });
}

blob_service::~blob_service() {
  if (dir_.empty())
    return;
  if (auto* d = ::opendir(dir_.c_str())) {
    while (auto* ent = ::readdir(d))
      if (std::strcmp(ent->d_name, ".") != 0 && std::strcmp(ent->d_name, "..") != 0)
        ::unlink((dir_ + "/" + ent->d_name).c_str());
    ::closedir(d);
  }
  ::rmdir(dir_.c_str());
}

void blob_service::offer(const std::string& sha256, const std::string& path, std::uint64_t size) {
  auto e = std::make_shared<entry>();
  e->path = path;
  e->size = e->have = size;
  e->size_known = true;
  std::lock_guard<std::mutex> g{mtx_};
  entries_[sha256] = std::move(e);
}

router::context_id blob_service::upstream(router::context_id source) const {
  const auto& cfg = core_.routes().config();
  if (cfg.has_parent
      && std::find(cfg.ancestors.begin(), cfg.ancestors.end(), source) != cfg.ancestors.end())
    return cfg.parent_id;
  return source;
}

std::string blob_service::cache_dir() const {
  std::lock_guard<std::mutex> g{mtx_};
  return dir_;
}

std::string blob_service::ensure_dir() {
  if (!dir_.empty())
    return dir_;
  const char* tmp = std::getenv("TMPDIR");
  std::string tpl = std::string{tmp && *tmp ? tmp : "/tmp"} + "/mitosis-cache-"
                    + std::to_string(::getpid()) + "-XXXXXX";
  if (::mkdtemp(tpl.data()))
    dir_ = tpl;
  return dir_;
}

bool blob_service::ready(const entry& e, const waiter& w) {
  return e.size_known && (w.offset >= e.size || e.have >= std::min(e.size, w.offset + w.max));
}

void blob_service::answer(const std::string& path, std::uint64_t size, const waiter& w) {
  serialization::file_chunk_info c;
  c.size = size;
  c.offset = w.offset;
  if (w.offset < size) {
    router::unique_fd fd{::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NONBLOCK)};
    c.bytes.resize(static_cast<std::size_t>(std::min<std::uint64_t>(w.max, size - w.offset)));
    auto n = fd.get() < 0 ? -1 : file_io::read_at(fd.get(), c.bytes.data(), c.bytes.size(), w.offset);
    if (n != static_cast<long long>(c.bytes.size())) {
      core_.routes().refuse(0, w.hdr, errc::file_error,
                            "cannot read " + path + ": "
                              + (n < 0 ? std::strerror(errno) : "shorter than announced"));
      return;
    }
  }
  serialization::buffer out(serialization::frame_header::size);
  serialization::encode_into(out, c);
  core_.routes().reply(w.hdr, wire_type::file_chunk, std::move(out));
}

void blob_service::on_request(frame&& f, router::stream_id from) {
  serialization::blob_request_info req;
  if (!core_.decode_or_refuse(f, req, from))
    return;
  waiter w{f.hdr, req.offset,
           req.max == 0 ? file_store::max_chunk : std::min(req.max, file_store::max_chunk)};
  std::shared_ptr<entry> e;
  bool start = false;
  std::uint64_t size = 0; // of the content, when w is answered now
  {
    std::lock_guard<std::mutex> g{mtx_};
    auto it = entries_.find(req.sha256);
    if (it == entries_.end()) {
      if (req.source == core_.self() || req.sha256.size() != 64
          || req.sha256.find_first_not_of("0123456789abcdef") != std::string::npos) {
        core_.routes().refuse(from, f.hdr, errc::file_not_allowed,
                              "content " + req.sha256 + " is not pushed from context '"
                                + core_.name() + "'");
        return;
      }
      auto dir = ensure_dir();
      if (dir.empty()) {
        core_.routes().refuse(0, f.hdr, errc::file_error,
                              "no cache directory in context '" + core_.name()
                                + "': " + std::strerror(errno));
        return;
      }
      e = std::make_shared<entry>();
      e->path = dir + "/" + req.sha256;
      e->cached = true;
      entries_.emplace(req.sha256, e);
      start = true;
    } else {
      e = it->second;
    }
    if (!ready(*e, w)) {
      if (e->waiters.size() >= max_waiters) {
        core_.routes().refuse(from, f.hdr, errc::limit_exceeded,
                              "too many chunk requests waiting for " + req.sha256);
        return;
      }
      e->waiters.push_back(w);
      w.max = 0; // answered later
    }
    size = e->size;
  }
  if (start && !core_.submit([this, e, sha = req.sha256, src = req.source] { fill(e, sha, src); }))
    fill(e, req.sha256, req.source); // the pool is stopping: fails at once
  if (w.max != 0)
    answer(e->path, size, w);
}

void blob_service::fill(const std::shared_ptr<entry>& e, const std::string& sha256,
                        router::context_id source) {
  const auto up = upstream(source);
  const auto up_name = core_.name_of(up);
  try {
    router::unique_fd fd{
      ::open(e->path.c_str(), O_RDWR | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC, 0600)};
    if (fd.get() < 0)
      throw error(errc::file_error, core_.name(),
                  "cannot write " + e->path + ": " + std::strerror(errno));
    chunk_source src;
    src.ask = [&](std::uint64_t offset) {
      return core_
        .send_request(up, wire_type::blob_request,
                      serialization::blob_request_info{sha256, offset, file_store::max_chunk,
                                                       source})
        .answer;
    };
    src.from_name = up_name;
    src.what = "content " + sha256;
    src.chunk = file_store::max_chunk;
    serialization::sha256_stream hash;
    fetch_chunks(core_, src, 0, window, [&](const serialization::file_chunk_info& c) {
      if (!file_io::write_at(fd.get(), c.bytes.data(), c.bytes.size(), c.offset))
        throw error(errc::file_error, core_.name(),
                    "cannot write " + e->path + ": " + std::strerror(errno));
      hash.update(c.bytes.data(), c.bytes.size());
      cached_bytes_.fetch_add(c.bytes.size(), std::memory_order_relaxed);
      std::vector<waiter> now;
      {
        std::lock_guard<std::mutex> g{mtx_};
        e->size = c.size;
        e->size_known = true;
        e->have = c.offset + c.bytes.size();
        auto keep = std::partition(e->waiters.begin(), e->waiters.end(),
                                   [&](const waiter& w) { return !ready(*e, w); });
        now.assign(keep, e->waiters.end());
        e->waiters.erase(keep, e->waiters.end());
      }
      for (const auto& w : now)
        answer(e->path, c.size, w);
    });
    if (hash.hex() != sha256)
      throw error(errc::file_error, up_name,
                  "content " + sha256 + " from '" + up_name + "' does not match its sha256");
  } catch (const std::exception& ex) {
    auto code = errc::file_error;
    if (auto* me = dynamic_cast<const error*>(&ex))
      code = me->code();
    std::vector<waiter> failed;
    {
      std::lock_guard<std::mutex> g{mtx_};
      auto it = entries_.find(sha256);
      if (it != entries_.end() && it->second == e)
        entries_.erase(it);
      failed.swap(e->waiters);
    }
    ::unlink(e->path.c_str());
    lg()->warn("[{}] could not fetch {} from '{}': {}", core_.name(), sha256, up_name, ex.what());
    for (const auto& w : failed)
      core_.routes().refuse(0, w.hdr, code,
                            "context '" + core_.name() + "' could not fetch " + sha256 + ": "
                              + ex.what());
  }
}

} // namespace mitosis::actors::services
