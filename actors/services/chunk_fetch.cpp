#include "chunk_fetch.hpp"

#include <algorithm>
#include <deque>
#include <optional>

#include "../errors.hpp"

namespace mitosis::actors::services {

using serialization::frame;

std::uint64_t fetch_chunks(core& c, const chunk_source& src, std::uint64_t start, int window,
                           const std::function<void(const serialization::file_chunk_info&)>& sink) {
  const auto wait = c.opts().request_timeout;
  const auto& who = src.from_name;
  // A chunk must be the one asked for: its offset, and as many bytes as
  // the file (of the size the first chunk gave) has there, up to a chunk.
  auto take = [&](std::future<frame> fut, std::uint64_t offset, std::optional<std::uint64_t> size) {
    if (fut.wait_for(wait) != std::future_status::ready)
      throw timeout_error(who, "no chunk of " + src.what + " within "
                                 + std::to_string(wait.count()) + " ms");
    auto f = fut.get();
    if (f.hdr.type != serialization::to_u32(serialization::wire_type::file_chunk))
      mitosis::detail::throw_reply(f, who); // policy_error, context_lost, error
    serialization::file_chunk_info ch;
    serialization::decode_exact(f.payload.data(), f.payload.size(), ch);
    if (size && ch.size != *size)
      throw error(errc::file_error, who, src.what + " changed size while being fetched");
    const auto want =
      ch.size > offset ? std::min<std::uint64_t>(ch.size - offset, src.chunk) : 0;
    if (ch.offset != offset || ch.bytes.size() != want)
      throw error(errc::protocol_error, who,
                  "bad chunk of " + src.what + ": " + std::to_string(ch.bytes.size())
                    + " bytes at offset " + std::to_string(ch.offset) + " for a request of "
                    + std::to_string(want) + " at " + std::to_string(offset) + " (file size "
                    + std::to_string(ch.size) + ")");
    return ch;
  };
  auto first = take(src.ask(start), start, std::nullopt);
  sink(first);
  const auto size = first.size;
  // Keep `window` chunk requests in flight: the server never has more
  // than that many chunks queued for us (flow control by credit).
  std::deque<std::pair<std::uint64_t, std::future<frame>>> inflight;
  window = std::max(window, 1);
  std::uint64_t next = start + first.bytes.size();
  while (next < size || !inflight.empty()) {
    while (next < size && static_cast<int>(inflight.size()) < window) {
      inflight.emplace_back(next, src.ask(next));
      next += src.chunk;
    }
    auto [offset, fut] = std::move(inflight.front());
    inflight.pop_front();
    sink(take(std::move(fut), offset, size));
  }
  return size;
}

} // namespace mitosis::actors::services
