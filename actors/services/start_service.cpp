#include "start_service.hpp"

#include <algorithm>
#include <iterator>
#include <spdlog/spdlog.h>
#include <sys/wait.h>
#include <thread>

#include "../../bootstrap/transport.hpp"
#include "../../serialization/log.hpp"

namespace mitosis::actors::services {

using serialization::frame;
using serialization::wire_type;

namespace {

std::string default_name(const bootstrap::method_spec& spec, router::context_id id) {
  using bootstrap::method_kind;
  switch (spec.kind) {
    case method_kind::local:
      return "local." + std::to_string(id);
    case method_kind::ssh:
      return "ssh:" + spec.ssh.host + "." + std::to_string(id);
    default:
      return bootstrap::describe(spec) + "." + std::to_string(id);
  }
}

} // namespace

start_service::start_service(core& c, id_service& ids, rules_service& rules,
                             starter start_child)
  : core_(c), ids_(ids), rules_(rules), start_child_(std::move(start_child)) {
  c.on_lost([this](const std::vector<router::context_id>& ids, const std::string&) {
    forget(ids);
  });
  // A start waits for its child's hello, seconds through ssh: not on the
  // call pool, whose few threads would then hold calls up behind at most
  // pool_threads starts at a time.
  c.routes().handlers().add(wire_type::spawn_request,
                            [this](frame&& f, policy::direction, router::stream_id) {
                              auto hdr = f.hdr;
                              auto* pool = start_pool();
                              if (!pool || !pool->submit([this, f = std::move(f)]() mutable {
                                    on_spawn_request(std::move(f));
                                  }))
                                core_.routes().reply_dead(hdr, errc::shutting_down,
                                                          "context is shutting down");
                            });
}

dispatcher* start_service::start_pool() {
  std::lock_guard<std::mutex> guard{mtx_};
  if (stopped_)
    return nullptr;
  if (!start_pool_)
    start_pool_ = std::make_unique<dispatcher>(dispatcher::on_demand{parallel_starts});
  return start_pool_.get();
}

void start_service::stop() {
  std::unique_ptr<dispatcher> pool;
  {
    std::lock_guard<std::mutex> guard{mtx_};
    stopped_ = true;
    reap_cv_.notify_all();
    pool = std::move(start_pool_);
    for (auto& [id, hello] : handshakes_)
      hello.set_value(fail(errc::shutting_down, "context is shutting down"));
    handshakes_.clear();
  }
  if (pool)
    pool->stop();
}

expected<child_info> start_service::start(const bootstrap::method_spec& spec,
                                          std::chrono::milliseconds timeout) {
  auto deadline = clock::now() + timeout;
  auto id = ids_.allocate(deadline);
  if (!id) {
    auto f = std::move(id).error();
    f.context = spec.name.empty() ? bootstrap::describe(spec) : spec.name;
    return f;
  }
  serialization::boot_info boot;
  boot.id = *id;
  boot.parent_id = core_.self();
  boot.name = spec.name.empty() ? default_name(spec, *id) : spec.name;
  boot.max_frame = core_.opts().max_frame;
  boot.log_level = core_.opts().log_level;
  auto rules = rules_.for_boot();
  boot.rules = std::move(rules.encoded);
  boot.options = router::encode(core_.opts());
  boot.ancestors = core_.routes().config().ancestors;
  boot.ancestors.push_back(core_.self());
  std::future<expected<void>> hello;
  {
    std::lock_guard<std::mutex> guard{mtx_};
    if (stopped_)
      return fail(errc::shutting_down, "context is shutting down", boot.name);
    hello = handshakes_[*id].get_future();
  }
  core_.remember(*id, boot.name);
  auto refuse = [&](failure f) {
    {
      std::lock_guard<std::mutex> guard{mtx_};
      handshakes_.erase(*id);
    }
    f.context = boot.name;
    return f;
  };
  auto child = start_child_(spec, boot, deadline);
  if (!child)
    return refuse(std::move(child).error());
  // A subtree update between the boot frame and the registration did not
  // reach the child: it gets the rules now, ahead of anything else.
  rules_.catch_up(child->stream, *id, rules.updates);
  if (child->installed)
    ++bundles_sent_;
  if (child->pid) {
    std::lock_guard<std::mutex> guard{mtx_};
    child_pids_.push_back(child->pid);
  }
  if (hello.wait_until(deadline) != std::future_status::ready) {
    bootstrap::stop_program(child->pid); // killed and reaped
    if (child->pid) {
      std::lock_guard<std::mutex> guard{mtx_};
      std::erase(child_pids_, child->pid);
    }
    core_.routes().close_stream(child->stream, "no hello in time");
    return refuse(fail(errc::timeout,
                       "no hello within " + std::to_string(timeout.count()) + " ms"
                         + (child->pid ? " (pid " + std::to_string(child->pid) + ")" : "")));
  }
  if (auto said = hello.get(); !said) {
    // Lost before its hello: it never joins children_, so forget() will
    // not reap it; it is dead or dying.
    if (child->pid)
      reap(child->pid);
    auto f = std::move(said).error();
    f.context = boot.name;
    return f;
  }
  lg()->debug("[{}] started {} context '{}' id {} pid {}", core_.name(),
              bootstrap::to_string(spec.kind), boot.name, *id, child->pid);
  child_info started{*id, boot.name, child->pid, true};
  std::lock_guard<std::mutex> guard{mtx_};
  children_.push_back(started);
  return started;
}

expected<child_info> start_service::start_via(router::context_id via, const std::string& via_name,
                                              const bootstrap::method_spec& spec,
                                              std::chrono::milliseconds timeout) {
  serialization::spawn_info si{spec.name, static_cast<std::uint32_t>(timeout.count()), spec.pipes,
                               {}};
  if (spec.kind != bootstrap::method_kind::local)
    serialization::encode_into(si.spec, spec);
  auto wanted = spec.name.empty() ? bootstrap::describe(spec) : spec.name;
  // The hop answers within `timeout` itself; a second more for the way back.
  auto done = core_.ask<serialization::spawned_info>(via, wire_type::spawn_request,
                                                     wire_type::spawn_reply,
                                                     clock::now() + timeout + std::chrono::seconds{1},
                                                     si);
  if (!done) {
    auto f = std::move(done).error();
    if (f.code == errc::timeout)
      f.reason = "no answer from '" + via_name + "' in time";
    f.context = wanted + " via " + core_.chain_of(via, via_name);
    return f;
  }
  core_.remember(done->id, done->name, done->name + " via " + core_.chain_of(via, via_name), via);
  child_info started{done->id, done->name, done->pid};
  std::lock_guard<std::mutex> guard{mtx_};
  children_.push_back(started);
  return started;
}

void start_service::on_spawn_request(frame&& f) {
  auto& r = core_.routes();
  serialization::spawn_info si;
  if (!core_.decode_or_refuse(f, si))
    return;
  auto timeout = si.timeout_ms ? std::chrono::milliseconds{si.timeout_ms}
                               : core_.opts().connect_timeout;
  bootstrap::method_spec spec;
  spec.name = si.name;
  spec.pipes = si.pipes;
  if (!si.spec.empty()) {
    try {
      serialization::decode_exact(si.spec.data(), si.spec.size(), spec);
    } catch (const serialization::decode_error& e) {
      r.reply_dead(f.hdr, e.code(), e.what());
      return;
    }
    if (auto bad = bootstrap::validate(spec); !bad.empty()) {
      r.reply_dead(f.hdr, errc::protocol_error, bad);
      return;
    }
  }
  auto child = start(spec, timeout);
  if (!child) {
    // The asker names the hop chain; the reason is the cause alone.
    r.reply_dead(f.hdr, child.error().code, child.error().reason);
    return;
  }
  serialization::buffer out(serialization::frame_header::size);
  serialization::encode_into(out, serialization::spawned_info{child->id, child->name, child->pid});
  r.reply(f.hdr, wire_type::spawn_reply, std::move(out));
}

void start_service::handshake_done(router::context_id peer, const std::string& error) {
  std::lock_guard<std::mutex> guard{mtx_};
  auto i = handshakes_.find(peer);
  if (i == handshakes_.end())
    return;
  if (error.empty())
    i->second.set_value({});
  else
    i->second.set_value(fail(errc::handshake_failed, error));
  handshakes_.erase(i);
}

void start_service::forget(const std::vector<router::context_id>& ids) {
  std::vector<int> pids;
  {
    std::lock_guard<std::mutex> guard{mtx_};
    std::erase_if(children_, [&](const child_info& c) {
      if (std::find(ids.begin(), ids.end(), c.id) == ids.end())
        return false;
      if (c.direct && c.pid)
        pids.push_back(c.pid);
      return true;
    });
  }
  for (int pid : pids)
    reap(pid);
}

void start_service::reap(int pid) {
  bool start_reaper = false;
  {
    std::lock_guard<std::mutex> guard{mtx_};
    // Its pid stays for stop_children while it is not reaped. The router
    // tries once when the stream closes, but a killed process closes its
    // fds before it is a zombie: then reap_lost reaps it.
    if (::waitpid(pid, nullptr, WNOHANG) != 0) {
      std::erase(child_pids_, pid);
      return;
    }
    unreaped_.push_back(pid);
    start_reaper = !reaping_ && !stopped_;
    reaping_ = reaping_ || start_reaper;
  }
  if (!start_reaper)
    return;
  auto* pool = start_pool();
  if (!pool || !pool->submit([this] { reap_lost(); })) {
    std::lock_guard<std::mutex> guard{mtx_};
    reaping_ = false;
  }
}

void start_service::reap_lost() {
  auto pause = std::chrono::milliseconds{1};
  std::unique_lock<std::mutex> guard{mtx_};
  while (!stopped_ && !unreaped_.empty()) {
    reap_cv_.wait_for(guard, pause, [this] { return stopped_; });
    // -1 (ECHILD) too: reaped elsewhere (the router, stop_children).
    std::erase_if(unreaped_, [this](int pid) {
      if (::waitpid(pid, nullptr, WNOHANG) == 0)
        return false;
      std::erase(child_pids_, pid);
      return true;
    });
    pause = std::min(pause * 2, std::chrono::milliseconds{100});
  }
  reaping_ = false;
}

std::vector<child_info> start_service::children() {
  std::lock_guard<std::mutex> guard{mtx_};
  std::erase_if(children_, [this](const child_info& c) { return core_.lost_reason(c.id).has_value(); });
  return children_;
}

void start_service::detached(router::context_id id) {
  std::lock_guard<std::mutex> guard{mtx_};
  detached_.insert(id);
  for (auto& c : children_)
    if (c.id == id && c.pid)
      std::erase(child_pids_, c.pid);
}

std::string start_service::reuse_key(const bootstrap::method_spec& spec, router::context_id via) {
  if (spec.kind == bootstrap::method_kind::local && spec.name.empty())
    return {};
  std::vector<char> key;
  serialization::encode_into(key, spec);
  auto v = std::to_string(via) + ":";
  key.insert(key.begin(), v.begin(), v.end());
  return {key.begin(), key.end()};
}

expected<child_info> start_service::reuse(const std::string& key,
                                          const std::function<expected<child_info>()>& start) {
  if (key.empty())
    return start();
  std::promise<expected<child_info>> mine;
  std::shared_future<expected<child_info>> running;
  {
    std::lock_guard<std::mutex> guard{mtx_};
    if (auto i = reusable_.find(key); i != reusable_.end()) {
      auto& f = i->second;
      bool done = f.wait_for(std::chrono::seconds{0}) == std::future_status::ready;
      if (!done || (f.get() && !core_.lost_reason(f.get()->id)))
        running = f;
    }
    if (!running.valid()) {
      // Forget the starts that failed and the contexts that are lost: the
      // table holds running contexts, not every spec ever started.
      for (auto i = reusable_.begin(); i != reusable_.end();) {
        auto& f = i->second;
        bool gone = f.wait_for(std::chrono::seconds{0}) == std::future_status::ready
                    && (!f.get() || core_.lost_reason(f.get()->id));
        i = gone ? reusable_.erase(i) : std::next(i);
      }
      reusable_[key] = mine.get_future().share();
    }
  }
  if (running.valid())
    return running.get(); // the running context, or the start under way
  auto started = start();
  mine.set_value(started);
  return started;
}

void start_service::stop_children(std::chrono::milliseconds grace) {
  auto& r = core_.routes();
  std::set<router::context_id> keep;
  std::vector<int> pids;
  {
    std::lock_guard<std::mutex> guard{mtx_};
    pids.swap(child_pids_);
    keep = detached_;
  }
  // Every direct child but the detached ones is asked to stop its subtree.
  for (auto sid : r.child_streams())
    if (auto info = r.stream_info(sid); info && !keep.count(info->peer_id))
      r.send_on(sid, serialization::frame_builder{
                       serialization::make_header(wire_type::shutdown, info->peer_id, core_.self())}
                       .finish());
  auto deadline = clock::now() + grace;
  while (!pids.empty() && clock::now() < deadline) {
    std::erase_if(pids, [](int pid) { return ::waitpid(pid, nullptr, WNOHANG) != 0; });
    if (!pids.empty())
      std::this_thread::sleep_for(std::chrono::milliseconds{1});
  }
  for (int pid : pids) {
    lg()->warn("[{}] child pid {} did not stop in time: killing it", core_.name(), pid);
    bootstrap::stop_program(pid);
  }
}

} // namespace mitosis::actors::services
