#include "channel_functions.hpp"

#include <mutex>
#include <optional>
#include <stdexcept>
#include <thread>

#include <caf/event_based_actor.hpp>

#include "mitosis/actors/remote_actor.hpp"
#include "mitosis/mitosis.hpp"
#include "test_functions.hpp"

int stream_numbers(mitosis::sender<int> s, int n, bool close) {
  for (int i = 0; i < n; ++i)
    s.send(i);
  if (close)
    s.close();
  return n;
}
MITOSIS_REMOTE(stream_numbers);

int stream_lines(mitosis::sender<std::string> s, int n, int then_ms) {
  for (int i = 0; i < n; ++i)
    s.send("line " + std::to_string(i));
  std::this_thread::sleep_for(std::chrono::milliseconds{then_ms});
  return n;
}
MITOSIS_REMOTE(stream_lines);

int relay_stream(mitosis::sender<int> s, int n) {
  auto gc = mitosis::start_local({.name = "relay.child"});
  gc.call_no_reply(stream_numbers, s, n, true);
  return gc.call(my_pid);
}
MITOSIS_REMOTE(relay_stream);

int relay_and_hang(mitosis::sender<std::string> s) {
  auto gc = mitosis::start_local({.name = "relay.silent"});
  gc.call_no_reply(stream_lines, s, 0, 60000);
  return gc.call(my_pid);
}
MITOSIS_REMOTE(relay_and_hang);

int sum_from_child(int n) {
  mitosis::receiver<int> rx;
  auto c = mitosis::start_local({.name = "sum.child"});
  c.call_no_reply(stream_numbers, rx.to_sender(), n, true);
  int sum = 0;
  while (auto v = rx.next())
    sum += *v;
  return sum;
}
MITOSIS_REMOTE(sum_from_child);

namespace {
std::mutex log_mtx;
std::vector<int> log_of_steps;
} // namespace

void chain_step(int i) {
  std::lock_guard<std::mutex> guard{log_mtx};
  log_of_steps.push_back(i);
}
MITOSIS_REMOTE(chain_step);

std::vector<int> chain_log() {
  std::lock_guard<std::mutex> guard{log_mtx};
  return log_of_steps;
}
MITOSIS_REMOTE(chain_log);

void chain_throw(std::string what) {
  throw std::runtime_error(what);
}
MITOSIS_REMOTE(chain_throw);

// "test.streamer": given a sender and n, sends 0..n-1 into it, closes it
// and answers n.
caf::behavior streamer_actor(caf::event_based_actor*) {
  return {
    [](const mitosis::sender<int>& s, int n) { return stream_numbers(s, n, true); },
  };
}
MITOSIS_ACTOR_MESSAGE_TYPE(mitosis::sender<int>);
MITOSIS_ACTOR("test.streamer", streamer_actor);

namespace {
std::optional<mitosis::receiver<int>> kept;
} // namespace

mitosis::sender<int> open_kept_receiver() {
  kept.emplace();
  return kept->to_sender();
}
MITOSIS_REMOTE(open_kept_receiver);

int drain_kept_receiver(int wait_ms) {
  int n = 0;
  try {
    for (;;) {
      kept->get_for(std::chrono::milliseconds{wait_ms});
      ++n;
    }
  } catch (const mitosis::timeout_error&) {
  } catch (const mitosis::channel_closed&) {
  }
  kept.reset();
  return n;
}
MITOSIS_REMOTE(drain_kept_receiver);
