// Waiting on many futures and receivers at once (Mitogen's Select): add()
// them, then wait() returns the index of one that is ready, in the order
// they became ready. See docs/channels.md.
#pragma once

#include <chrono>
#include <cstddef>
#include <functional>
#include <memory>

#include "channel.hpp"
#include "context.hpp"

namespace mitosis {

class select {
public:
  select();
  /// Stops listening to the receivers (futures only notify a dead state).
  ~select();
  select(const select&) = delete;
  select& operator=(const select&) = delete;

  /// Adds `f` (kept by the caller until it is returned: its get() does not
  /// wait then). Returns its index. It is returned by wait() once.
  template <class R>
  std::size_t add(future<R>& f) {
    auto i = add_future();
    f.on_ready(notifier(i));
    return i;
  }

  /// Adds `r`. Returns its index: wait() returns it once per value it
  /// receives (take it with try_get() or get()) and once when it ends (get()
  /// then throws why), after which it is dropped from the select.
  template <class T>
  std::size_t add(receiver<T>& r) {
    return add_receiver(r.state());
  }

  /// Waits for the next ready future or receiver and returns its index.
  /// Throws mitosis::error (channel_closed) when nothing is left to wait
  /// for: every future returned, every receiver ended.
  std::size_t wait();

  /// Like wait(), but throws timeout_error once `d` has passed.
  template <class Rep, class Period>
  std::size_t wait_for(std::chrono::duration<Rep, Period> d) {
    return wait_until(std::chrono::steady_clock::now()
                        + std::chrono::duration_cast<std::chrono::steady_clock::duration>(d),
                      std::chrono::duration_cast<std::chrono::milliseconds>(d).count());
  }

  /// How many futures and receivers may still be returned.
  std::size_t size() const;
  bool empty() const {
    return size() == 0;
  }

private:
  struct state;

  std::size_t add_future();
  std::size_t add_receiver(const std::shared_ptr<actors::channel_state>& st);
  std::function<void()> notifier(std::size_t index) const;
  std::size_t wait_until(std::chrono::steady_clock::time_point until, long long ms);

  std::shared_ptr<state> st_;
};

} // namespace mitosis
