// Channels: the receivers of this process (actors/channel.hpp) by handle,
// the channel_data and channel_close frames that feed and close them, and
// the losses that end them (a context that writes to a receiver, or was
// handed its sender in a call, is lost: the receiver ends with
// context_lost).
#pragma once

#include <memory>
#include <optional>
#include <unordered_map>

#include "core.hpp"
#include "../channel_state.hpp"

namespace mitosis::actors::services {

class channel_service {
public:
  /// Registers the channel_data and channel_close handlers and listens to
  /// losses.
  explicit channel_service(core& c);

  /// Makes a receiver of at most `capacity` queued values; with a
  /// `respondent`, it takes values from that context only and ends when
  /// that context is lost.
  std::shared_ptr<channel_state> open(std::size_t capacity,
                                      std::optional<router::context_id> respondent);

  /// Ends every receiver with shutting_down (this process stops).
  void shutdown();

  /// Ends the receiver `handle` when context `id` is lost (its sender was
  /// handed to `id`); at once if `id` is lost already.
  void watch(std::uint32_t handle, router::context_id id);

  core& owner() noexcept {
    return core_;
  }

private:
  std::shared_ptr<channel_state> find(std::uint32_t handle);
  std::vector<std::shared_ptr<channel_state>> all();
  void on_data(serialization::frame&& f);
  void on_close(const serialization::frame& f);
  void on_lost(const std::vector<router::context_id>& ids, const std::string& reason);

  core& core_;
  mutable std::mutex mtx_;
  std::uint32_t next_ = 0; // counted, then permuted into an id (open())
  // Held by the receiver<T>s only: a value for a receiver that is gone is
  // dropped, and its entry swept.
  std::unordered_map<std::uint32_t, std::weak_ptr<channel_state>> open_;
};

} // namespace mitosis::actors::services
