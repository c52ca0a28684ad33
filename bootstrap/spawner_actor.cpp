#include "spawner_actor.hpp"

#include <caf/actor_system.hpp>
#include <caf/typed_event_based_actor.hpp>
#include <deque>
#include <mutex>

#include "local_method.hpp"
#include "transport.hpp"
#include "../router/router.hpp"

namespace mitosis::bootstrap {

namespace {

using remote_result = std::tuple<std::uint32_t, std::int32_t, bool, std::uint8_t, std::string>;

/// One stage-1 start on a thread of its own: answers once, then quits.
using start_worker = caf::typed_actor<
  caf::replies_to<spawn_atom, remote_atom, std::vector<char>, std::vector<char>,
                  std::int64_t>::with<std::uint32_t, std::int32_t, bool, std::uint8_t,
                                      std::string>>;

/// The spans of the last stage-1 starts, written by the workers.
struct span_log {
  static constexpr std::size_t keep = 64;
  std::mutex mtx;
  std::deque<start_span> spans;

  void add(start_span s) {
    std::lock_guard<std::mutex> guard{mtx};
    spans.push_back(std::move(s));
    if (spans.size() > keep)
      spans.pop_front();
  }
  std::vector<start_span> snapshot() {
    std::lock_guard<std::mutex> guard{mtx};
    return {spans.begin(), spans.end()};
  }
};

std::int64_t now_ns() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(
           std::chrono::steady_clock::now().time_since_epoch())
    .count();
}

remote_result run_remote_start(router::router& r, const std::vector<char>& encoded_spec,
                               const std::vector<char>& encoded_boot, std::int64_t deadline_ns,
                               span_log& log) {
  method_spec spec;
  serialization::boot_info boot;
  try {
    serialization::decode_exact(encoded_spec.data(), encoded_spec.size(), spec);
    serialization::decode_exact(encoded_boot.data(), encoded_boot.size(), boot);
  } catch (const std::exception& e) {
    return {0u, 0, false, static_cast<std::uint8_t>(errc::protocol_error), e.what()};
  }
  start_span span{boot.name, now_ns(), 0};
  std::chrono::steady_clock::time_point deadline{std::chrono::nanoseconds{deadline_ns}};
  remote_result out;
  try {
    auto started = start_remote(spec, boot, r, deadline);
    if (started)
      out = {started->stream, started->pid, started->installed, 0, std::string{}};
    else
      out = {0u, 0, false, static_cast<std::uint8_t>(started.error().code),
             std::move(started).error().reason};
  } catch (const std::exception& e) {
    out = {0u, 0, false, static_cast<std::uint8_t>(errc::spawn_failed), e.what()};
  }
  span.end_ns = now_ns();
  log.add(std::move(span));
  return out;
}

start_worker::behavior_type worker_behavior(start_worker::pointer self, router::router* r,
                                            std::shared_ptr<span_log> log) {
  return {
    [=](spawn_atom, remote_atom, const std::vector<char>& spec, const std::vector<char>& boot,
        std::int64_t deadline_ns) -> remote_result {
      self->quit(); // after this answer: one start per worker
      return run_remote_start(*r, spec, boot, deadline_ns, *log);
    },
  };
}

spawner_actor::behavior_type spawner_behavior(spawner_actor::pointer self, router::router* r) {
  auto log = std::make_shared<span_log>();
  return {
    [=](spawn_atom, const std::vector<char>& encoded, bool pipes)
      -> std::tuple<std::uint32_t, std::int32_t, std::string> {
      // Local children are started here, on this long-lived thread:
      // PR_SET_PDEATHSIG fires when the thread that created the child exits.
      serialization::boot_info boot;
      try {
        serialization::decode_exact(encoded.data(), encoded.size(), boot);
        auto child = start_local(boot, pipes ? local_transport::pipes
                                             : local_transport::socketpair);
        auto sid = attach_child(*r, boot, child.pid, std::move(child.rfd), std::move(child.wfd));
        return {sid, child.pid, std::string{}};
      } catch (const std::exception& e) {
        return {0u, 0, std::string{e.what()}};
      }
    },
    [=](spawn_atom, remote_atom, std::vector<char>& spec, std::vector<char>& boot,
        std::int64_t deadline_ns) {
      // A stage-1 start blocks for as long as the target takes (ssh
      // handshake, sudo prompt, bundle upload): it runs on a detached
      // worker of its own, which answers the requester directly.
      auto worker = self->spawn<caf::detached>(worker_behavior, r, log);
      return self->delegate(worker, spawn_atom::value, remote_atom::value, std::move(spec),
                            std::move(boot), deadline_ns);
    },
    [=](spans_atom) { return log->snapshot(); },
  };
}

} // namespace

spawner_actor spawn_spawner_actor(caf::actor_system& sys, router::router& r) {
  return sys.spawn<caf::detached>(spawner_behavior, &r);
}

} // namespace mitosis::bootstrap
