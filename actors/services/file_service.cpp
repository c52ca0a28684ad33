#include "file_service.hpp"

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstring>
#include <deque>
#include <fcntl.h>
#include <optional>
#include <spdlog/spdlog.h>
#include <unistd.h>

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
  auto chunk = store_.read(req.path, req.offset, req.max);
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
  const auto wait = core_.opts().request_timeout;
  auto ask = [&](std::uint64_t offset) {
    return core_
      .send_request(from, wire_type::file_request,
                    serialization::file_request_info{remote, offset, file_store::max_chunk})
      .answer;
  };
  // A chunk must be the one asked for: its offset, and as many bytes as
  // the file (of the size the first chunk gave) has there, up to a chunk.
  auto take = [&](std::future<frame> fut, std::uint64_t offset, std::optional<std::uint64_t> size) {
    if (fut.wait_for(wait) != std::future_status::ready)
      throw timeout_error(from_name, "no chunk of " + remote + " within "
                                       + std::to_string(wait.count()) + " ms");
    auto f = fut.get();
    if (f.hdr.type != serialization::to_u32(wire_type::file_chunk))
      mitosis::detail::throw_reply(f, from_name); // policy_error, context_lost, error
    serialization::file_chunk_info c;
    serialization::decode_exact(f.payload.data(), f.payload.size(), c);
    if (size && c.size != *size)
      throw error(errc::file_error, from_name, remote + " changed size while being fetched");
    const auto want = c.size > offset ? std::min<std::uint64_t>(c.size - offset, file_store::max_chunk)
                                      : 0;
    if (c.offset != offset || c.bytes.size() != want)
      throw error(errc::protocol_error, from_name,
                  "bad chunk of " + remote + ": " + std::to_string(c.bytes.size())
                    + " bytes at offset " + std::to_string(c.offset) + " for a request of "
                    + std::to_string(want) + " at " + std::to_string(offset) + " (file size "
                    + std::to_string(c.size) + ")");
    return c;
  };
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
  auto write_chunk = [&](const serialization::file_chunk_info& c) {
    std::size_t done = 0;
    while (done < c.bytes.size()) {
      auto n = ::pwrite(out.get(), c.bytes.data() + done, c.bytes.size() - done,
                        static_cast<off_t>(c.offset + done));
      if (n <= 0 && errno != EINTR)
        throw error(errc::file_error, me, "cannot write " + tmp + ": " + std::strerror(errno));
      if (n > 0)
        done += static_cast<std::size_t>(n);
    }
  };
  try {
    auto first = take(ask(0), 0, std::nullopt);
    write_chunk(first);
    const auto size = first.size;
    // Keep `window` chunk requests in flight: the server never has more
    // than that many chunks queued for us (flow control by credit).
    std::deque<std::pair<std::uint64_t, std::future<frame>>> inflight;
    window = std::max(window, 1);
    std::uint64_t next = first.bytes.size();
    while (next < size || !inflight.empty()) {
      while (next < size && static_cast<int>(inflight.size()) < window) {
        inflight.emplace_back(next, ask(next));
        next += file_store::max_chunk;
      }
      auto [offset, fut] = std::move(inflight.front());
      inflight.pop_front();
      write_chunk(take(std::move(fut), offset, size));
    }
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
