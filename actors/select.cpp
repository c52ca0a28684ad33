#include "select.hpp"

#include <condition_variable>
#include <deque>
#include <mutex>
#include <vector>

namespace mitosis {

struct select::state {
  struct source {
    std::shared_ptr<actors::channel_state> rx; // null: a future
    std::uint64_t hook = 0;
    bool done = false;
  };

  std::mutex mtx;
  std::condition_variable cv;
  std::deque<std::size_t> ready; // in the order they became ready
  std::vector<source> sources;
  std::size_t live = 0;

  void push(std::size_t i) {
    {
      std::lock_guard<std::mutex> guard{mtx};
      ready.push_back(i);
    }
    cv.notify_all();
  }
};

select::select() : st_(std::make_shared<state>()) {}

select::~select() {
  std::vector<state::source> all;
  {
    std::lock_guard<std::mutex> guard{st_->mtx};
    all = st_->sources;
  }
  for (auto& s : all)
    if (s.rx && !s.done)
      s.rx->unhook(s.hook);
}

std::function<void()> select::notifier(std::size_t index) const {
  return [w = std::weak_ptr<state>{st_}, index] {
    if (auto st = w.lock())
      st->push(index);
  };
}

std::size_t select::add_future() {
  std::lock_guard<std::mutex> guard{st_->mtx};
  st_->sources.push_back({});
  ++st_->live;
  return st_->sources.size() - 1;
}

std::size_t select::add_receiver(const std::shared_ptr<actors::channel_state>& rx) {
  std::size_t i;
  {
    std::lock_guard<std::mutex> guard{st_->mtx};
    st_->sources.push_back({rx, 0, false});
    ++st_->live;
    i = st_->sources.size() - 1;
  }
  // Hook first, then count what is queued: a value that arrives in between
  // is counted twice, and the second wake-up is dropped as stale.
  auto hook = rx->hook(notifier(i));
  {
    std::lock_guard<std::mutex> guard{st_->mtx};
    st_->sources[i].hook = hook;
    for (auto n = rx->pending_events(); n > 0; --n)
      st_->ready.push_back(i);
  }
  st_->cv.notify_all();
  return i;
}

std::size_t select::wait() {
  return wait_until(std::chrono::steady_clock::time_point::max(), -1);
}

std::size_t select::size() const {
  std::lock_guard<std::mutex> guard{st_->mtx};
  return st_->live;
}

std::size_t select::wait_until(std::chrono::steady_clock::time_point until, long long ms) {
  for (;;) {
    std::size_t i;
    std::uint64_t hook = 0;
    std::shared_ptr<actors::channel_state> rx;
    {
      std::unique_lock<std::mutex> guard{st_->mtx};
      if (st_->live == 0)
        throw error(errc::channel_closed, "",
                    "select: nothing left to wait for (every future returned, every receiver "
                    "ended)");
      if (!st_->cv.wait_until(guard, until, [this] { return !st_->ready.empty(); }))
        throw timeout_error("select", "nothing ready within " + std::to_string(ms) + " ms");
      i = st_->ready.front();
      st_->ready.pop_front();
      auto& s = st_->sources[i];
      if (s.done)
        continue;
      if (!s.rx) {
        s.done = true;
        --st_->live;
        return i;
      }
      rx = s.rx;
      hook = s.hook;
    }
    // A receiver: stale when what woke us was taken already; done once it
    // has ended and is empty (asked in one step: asked in two, a value
    // and the end arriving in between made a receiver that still held a
    // value look done, and its last value and its end were never returned).
    if (!rx->ready())
      continue;
    if (rx->only_end_left()) {
      rx->unhook(hook);
      std::lock_guard<std::mutex> guard{st_->mtx};
      if (!st_->sources[i].done) {
        st_->sources[i].done = true;
        --st_->live;
      }
    }
    return i;
  }
}

} // namespace mitosis
