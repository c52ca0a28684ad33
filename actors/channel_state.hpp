// The untyped state of one receiver: a bounded queue of encoded values, how
// it ended (closed, its sender's context lost, overflow), the contexts whose
// loss ends it, and the waits (select) to tell when a value or the end
// arrives. receiver<T> (actors/channel.hpp) decodes what it takes.
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "../router/routing_table.hpp"
#include "../serialization/archive.hpp"
#include "../serialization/expected.hpp"

namespace mitosis::actors {

class channel_state {
public:
  channel_state(std::uint32_t handle, std::string owner, std::size_t capacity,
                std::optional<router::context_id> respondent)
    : handle_(handle), owner_(std::move(owner)), capacity_(capacity), respondent_(respondent) {}

  std::uint32_t handle() const noexcept {
    return handle_;
  }
  /// The name of the context the receiver lives in.
  const std::string& owner() const noexcept {
    return owner_;
  }
  /// The only context it takes values from, when one was named.
  std::optional<router::context_id> respondent() const noexcept {
    return respondent_;
  }

  /// Queues one encoded value from context `src`. A full queue ends the
  /// receiver with `overflow` (the values queued stay readable); a value
  /// for an ended receiver is dropped. Returns false when dropped.
  bool push(serialization::buffer&& v, router::context_id src, const failure& overflow) {
    hooks_t hooks;
    bool kept = false;
    {
      std::lock_guard<std::mutex> guard{mtx_};
      if (end_)
        return false;
      writers_.insert(src);
      kept = values_.size() < capacity_;
      if (kept)
        values_.push_back(std::move(v));
      else
        end_ = overflow;
      hooks = hooks_;
    }
    cv_.notify_all();
    notify(hooks);
    return kept;
  }

  /// Ends the receiver with `why`, unless it has ended already.
  void end(failure why) {
    hooks_t hooks;
    {
      std::lock_guard<std::mutex> guard{mtx_};
      if (end_)
        return;
      end_ = std::move(why);
      hooks = hooks_;
    }
    cv_.notify_all();
    notify(hooks);
  }

  /// Whether the loss of context `id` ends this receiver: it is the named
  /// respondent, or a context that sent values to it or was handed its
  /// sender in a call argument (watch()).
  bool ends_with_loss_of(router::context_id id) const {
    std::lock_guard<std::mutex> guard{mtx_};
    return respondent_ == id || writers_.count(id) != 0;
  }

  /// Adds `id` to the contexts whose loss ends the receiver.
  void watch(router::context_id id) {
    std::lock_guard<std::mutex> guard{mtx_};
    writers_.insert(id);
  }

  enum class taken { value, ended, timeout };

  /// Takes the oldest value into `out`, waiting until `until`. Returns
  /// ended (the cause in ended_with()) once the end comes and the queue is
  /// empty.
  taken take(serialization::buffer& out, std::chrono::steady_clock::time_point until) {
    std::unique_lock<std::mutex> guard{mtx_};
    if (!cv_.wait_until(guard, until, [this] { return !values_.empty() || end_; }))
      return taken::timeout;
    if (values_.empty())
      return taken::ended;
    out = std::move(values_.front());
    values_.pop_front();
    return taken::value;
  }

  /// How the receiver ended; none while it has not.
  failure ended_with() const {
    std::lock_guard<std::mutex> guard{mtx_};
    return end_ ? *end_ : failure{};
  }

  /// Whether a take() would not wait: a value is queued, or it has ended.
  bool ready() const {
    std::lock_guard<std::mutex> guard{mtx_};
    return !values_.empty() || end_;
  }

  /// Whether the receiver has ended and holds no value: what is left is
  /// its end. One lock, so that a value and the end arriving meanwhile
  /// cannot make a queue that held a value look like a bare end.
  bool only_end_left() const {
    std::lock_guard<std::mutex> guard{mtx_};
    return values_.empty() && end_;
  }

  /// How many select wake-ups a new wait should start with: one per queued
  /// value, plus one for the end.
  std::size_t pending_events() const {
    std::lock_guard<std::mutex> guard{mtx_};
    return values_.size() + (end_ ? 1 : 0);
  }

  /// Calls `f` after every value and at the end (select). Returns an id
  /// for unhook().
  std::uint64_t hook(std::function<void()> f) {
    std::lock_guard<std::mutex> guard{mtx_};
    hooks_.push_back({++next_hook_, std::move(f)});
    return next_hook_;
  }

  void unhook(std::uint64_t id) {
    std::lock_guard<std::mutex> guard{mtx_};
    std::erase_if(hooks_, [id](const auto& h) { return h.first == id; });
  }

private:
  using hooks_t = std::vector<std::pair<std::uint64_t, std::function<void()>>>;

  static void notify(const hooks_t& hooks) {
    for (auto& h : hooks)
      h.second();
  }

  const std::uint32_t handle_;
  const std::string owner_;
  const std::size_t capacity_;
  const std::optional<router::context_id> respondent_;

  mutable std::mutex mtx_;
  std::condition_variable cv_;
  std::deque<serialization::buffer> values_;
  std::optional<failure> end_;
  std::set<router::context_id> writers_;
  hooks_t hooks_;
  std::uint64_t next_hook_ = 0;
};

} // namespace mitosis::actors
