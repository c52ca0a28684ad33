#include "mitosis/actors/dispatcher.hpp"

namespace mitosis::actors {

dispatcher::dispatcher(std::size_t threads) {
  if (threads == 0)
    threads = 1;
  workers_.reserve(threads);
  for (std::size_t i = 0; i < threads; ++i)
    workers_.emplace_back([this] { work(); });
}

dispatcher::~dispatcher() {
  stop();
}

bool dispatcher::submit(std::function<void()> job) {
  {
    std::lock_guard<std::mutex> guard{mtx_};
    if (stopping_)
      return false;
    jobs_.push_back(std::move(job));
  }
  cv_.notify_one();
  return true;
}

void dispatcher::stop() {
  {
    std::lock_guard<std::mutex> guard{mtx_};
    if (stopping_ && workers_.empty())
      return;
    stopping_ = true;
    jobs_.clear();
  }
  cv_.notify_all();
  for (auto& w : workers_)
    if (w.joinable())
      w.join();
  workers_.clear();
}

void dispatcher::work() {
  for (;;) {
    std::function<void()> job;
    {
      std::unique_lock<std::mutex> guard{mtx_};
      cv_.wait(guard, [this] { return stopping_ || !jobs_.empty(); });
      if (stopping_)
        return;
      job = std::move(jobs_.front());
      jobs_.pop_front();
    }
    job();
  }
}

} // namespace mitosis::actors
