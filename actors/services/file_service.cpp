#include "file_service.hpp"

#include <atomic>
#include <cerrno>
#include <cstring>
#include <fcntl.h>
#include <spdlog/spdlog.h>
#include <unistd.h>

#include "chunk_fetch.hpp"
#include "file_io.hpp"
#include "../errors.hpp"
#include "../../router/fd.hpp"
#include "../../serialization/log.hpp"

namespace mitosis::actors::services {

using serialization::frame;
using serialization::wire_type;

file_service::file_service(core& c) : core_(c) {
  c.routes().handlers().add(wire_type::file_request,
                            [this](frame&& f, policy::direction, router::stream_id from) {
                              auto hdr = f.hdr;
                              core_.on_pool_bounded(hdr, from,
                                                    [this, from, f = std::move(f)]() mutable {
                                                      on_request(std::move(f), from);
                                                    });
                            });
}

void file_service::on_request(frame&& f, router::stream_id from) {
  serialization::file_request_info req;
  if (!core_.decode_or_refuse(f, req, from))
    return;
  auto chunk = store_.read(req.path, req.offset, req.max, f.hdr.src);
  if (!chunk) {
    lg()->warn("[{}] refused file {} to context {}: {}", core_.name(), req.path,
                             f.hdr.src, chunk.error().reason);
    core_.routes().refuse(from, f.hdr, chunk.error().code, chunk.error().reason);
    return;
  }
  serialization::buffer out(serialization::frame_header::size);
  serialization::encode_into(out, *chunk);
  core_.routes().reply(f.hdr, wire_type::file_chunk, std::move(out));
}

void file_service::fetch(router::context_id from, const std::string& from_name,
                         const std::string& remote, const std::string& local, int window) {
  chunk_source src;
  src.ask = [&](std::uint64_t offset) {
    return core_
      .send_request(from, wire_type::file_request,
                    serialization::file_request_info{remote, offset, file_store::max_chunk})
      .answer;
  };
  src.from_name = from_name;
  src.what = remote;
  src.chunk = file_store::max_chunk;
  const auto& me = core_.name();
  // A part file of our own: created here (O_EXCL), never through a link
  // someone left under its name (O_NOFOLLOW), under a name of this fetch.
  static std::atomic<unsigned> fetches{0};
  std::string tmp;
  router::unique_fd out;
  for (int tries = 0; out.get() < 0; ++tries) {
    tmp = local + ".mitosis-part." + std::to_string(::getpid()) + "." + std::to_string(++fetches);
    out.reset(::open(tmp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600));
    if (out.get() < 0 && (errno != EEXIST || tries == 8))
      throw error(errc::file_error, me, "cannot write " + tmp + ": " + std::strerror(errno));
  }
  try {
    fetch_chunks(core_, src, 0, window, [&](const serialization::file_chunk_info& c) {
      if (!file_io::write_at(out.get(), c.bytes.data(), c.bytes.size(), c.offset))
        throw error(errc::file_error, me, "cannot write " + tmp + ": " + std::strerror(errno));
    });
  } catch (...) {
    ::unlink(tmp.c_str());
    throw;
  }
  out.reset();
  if (::rename(tmp.c_str(), local.c_str()) != 0) {
    auto why = std::string{std::strerror(errno)};
    ::unlink(tmp.c_str());
    throw error(errc::file_error, me, "cannot rename " + tmp + ": " + why);
  }
}

} // namespace mitosis::actors::services
