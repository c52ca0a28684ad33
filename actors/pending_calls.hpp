// Calls in flight from this process: reply handle -> waiting future.
#pragma once

#include <cstdint>
#include <functional>
#include <future>
#include <mutex>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

#include "../router/routing_table.hpp"
#include "../serialization/frame.hpp"

namespace mitosis::actors {

class pending_calls {
public:
  /// Returns a fresh reply handle: not 0, not one waited for, and not
  /// found by counting from another (id_permutation.hpp).
  std::uint32_t next_handle() noexcept;

  /// Registers a wait for the reply to `handle` from `dst`.
  std::future<serialization::frame> expect(std::uint32_t handle, router::context_id dst);

  /// Completes `handle` with `f`. Returns false if nobody waits, or if `f`
  /// is an answer (not a dead reply, which any hop may send) from another
  /// context than the one the request went to.
  bool complete(std::uint32_t handle, serialization::frame&& f);

  /// Returns the context the request with `handle` went to, if it waits.
  std::optional<router::context_id> destination(std::uint32_t handle) const;

  /// Runs `done` once the wait for `handle` ends (answered, failed or
  /// dropped: on the thread that ends it, after the future is ready).
  /// Returns false, without keeping `done`, when nobody waits for `handle`
  /// any more: its future is ready already (or about to be).
  bool on_done(std::uint32_t handle, std::function<void()> done);

  /// Drops the wait for `handle` (deadline passed).
  void forget(std::uint32_t handle);

  /// Fails every wait on a context in `ids` with a context_lost dead reply.
  void fail(const std::vector<router::context_id>& ids, const std::string& reason);

  /// Fails every wait (shutdown).
  void fail_all(const std::string& reason);

  /// Returns the reply handles of the calls waiting on `dst`.
  std::vector<std::uint32_t> waiting_on(router::context_id dst) const;

  std::size_t size() const;

private:
  struct entry {
    router::context_id dst;
    std::promise<serialization::frame> promise;
    std::function<void()> done;
  };

  mutable std::mutex mtx_;
  std::uint32_t next_ = 0; // counted, then permuted (next_handle)
  std::unordered_map<std::uint32_t, entry> waits_;
};

/// Returns a dead frame carrying `code` and `reason`.
serialization::frame make_dead(errc code, const std::string& reason);

} // namespace mitosis::actors
