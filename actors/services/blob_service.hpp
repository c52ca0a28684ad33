// Pushed content by sha256 across the tree (blob_request / file_chunk):
// the pusher offers a file under its sha256; every hop between it and a
// target keeps what passes through it in a per-context cache file and
// serves its own subtree from there, so the bytes cross each link once.
// A hop asked for content it does not have fetches it from its own
// upstream once, shared by every request, and answers each chunk request
// as soon as the bytes are on its disk (no wait for the whole file).
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <unordered_map>
#include <vector>

#include "core.hpp"

namespace mitosis::actors::services {

class blob_service {
public:
  explicit blob_service(core& c);
  /// Removes the cache directory and what is in it.
  ~blob_service();

  blob_service(const blob_service&) = delete;
  blob_service& operator=(const blob_service&) = delete;

  /// Serves the file at `path` as the content `sha256` of `size` bytes to
  /// the pushes this context makes (until it exits).
  void offer(const std::string& sha256, const std::string& path, std::uint64_t size);

  /// The context to ask for content pushed by `source`: the parent when
  /// `source` is an ancestor (its cache is on the way), else `source`.
  router::context_id upstream(router::context_id source) const;

  /// The cache directory ("" until content first passed through here).
  std::string cache_dir() const;

  /// Bytes this context fetched from upstream into its cache.
  std::uint64_t cached_bytes() const noexcept {
    return cached_bytes_.load(std::memory_order_relaxed);
  }

  /// Most chunk requests that may wait here for one content.
  static constexpr std::size_t max_waiters = 4096;
  /// Chunk requests in flight upstream per content being fetched.
  static constexpr int window = 8;

private:
  struct waiter {
    serialization::frame_header hdr;
    std::uint64_t offset = 0;
    std::uint32_t max = 0;
  };
  struct entry {
    std::string path;
    std::uint64_t size = 0;
    bool size_known = false;
    std::uint64_t have = 0;
    bool cached = false; // a file of the cache (else the pusher's own)
    std::vector<waiter> waiters;
  };

  void on_request(serialization::frame&& f, router::stream_id from);
  /// Fetches `sha256` from upstream into `e`'s cache file, answering the
  /// waiters as the bytes arrive; on a failure answers them dead.
  void fill(const std::shared_ptr<entry>& e, const std::string& sha256,
            router::context_id source);
  /// Answers `w` from the file at `path`, of `size` bytes (the bytes it
  /// asks for are there).
  void answer(const std::string& path, std::uint64_t size, const waiter& w);
  static bool ready(const entry& e, const waiter& w);
  /// Creates the cache directory on first use; "" when it cannot.
  std::string ensure_dir();

  core& core_;
  mutable std::mutex mtx_;
  std::unordered_map<std::string, std::shared_ptr<entry>> entries_;
  std::string dir_;
  std::atomic<std::uint64_t> cached_bytes_{0};
};

} // namespace mitosis::actors::services
