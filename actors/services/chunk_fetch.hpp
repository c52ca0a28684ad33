// The windowed chunk loop that every fetch shares (a served path by
// file_request, pushed content by blob_request): keep `window` chunk
// requests in flight, check each chunk against its request, hand the
// chunks on in order. Bounded memory: at most `window` chunks in flight.
#pragma once

#include <cstdint>
#include <functional>
#include <future>
#include <string>

#include "core.hpp"

namespace mitosis::actors::services {

/// Where chunks come from: `ask(offset)` sends the request for the chunk
/// at `offset` (up to `chunk` bytes); `from_name` and `what` name the
/// serving context and the file in errors.
struct chunk_source {
  std::function<std::future<serialization::frame>(std::uint64_t offset)> ask;
  std::string from_name;
  std::string what;
  std::uint32_t chunk = 256 * 1024;
};

/// Fetches the content from `start` to its end, handing each chunk to
/// `sink` in order, and returns the size the server gave. Each chunk must
/// come within options::request_timeout (timeout_error); a dead reply
/// throws its typed exception (policy_error, context_lost, error); a
/// chunk that is not the one asked for, or a size that changes, throws
/// error (protocol_error, file_error).
std::uint64_t fetch_chunks(core& c, const chunk_source& src, std::uint64_t start, int window,
                           const std::function<void(const serialization::file_chunk_info&)>& sink);

} // namespace mitosis::actors::services
