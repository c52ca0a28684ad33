#include "runtime.hpp"

#include <atomic>
#include <caf/actor_system.hpp>
#include <caf/actor_system_config.hpp>
#include <caf/scoped_actor.hpp>
#include <caf/send.hpp>
#include <csignal>
#include <cstdlib>
#include <string_view>
#include <sys/prctl.h>
#include <spdlog/spdlog.h>

#include "actor_ids.hpp"
#include "actor_registry.hpp"
#include "faces/context_faces.hpp"
#include "faces/router_face.hpp"
#include "services/inline_unit.hpp"
#include "../bootstrap/spawner_actor.hpp"
#include "../bootstrap/ssh_method.hpp"
#include "../policy/policy_actor.hpp"
#include "../serialization/log.hpp"

namespace mitosis::actors {

using serialization::wire_type;

namespace {

std::atomic<runtime*> agent_runtime{nullptr};
std::atomic<runtime*> master_runtime{nullptr};

const auto& lg() {
  static auto l = log::get("actors");
  return l;
}

router::router_config agent_identity(const serialization::boot_info& b) {
  router::router_config c;
  c.self = b.id;
  c.name = b.name;
  c.parent_id = b.parent_id;
  c.has_parent = true;
  c.ancestors.assign(b.ancestors.begin(), b.ancestors.end());
  return c;
}

router::options agent_options(router::options o, const serialization::boot_info& b) {
  if (!b.options.empty()) {
    try {
      o = router::decode_options(b.options);
    } catch (const std::exception& e) {
      lg()->error("[{}] bad options in boot frame, keeping defaults: {}", b.name, e.what());
    }
  }
  o.name = b.name;
  o.log_level = b.log_level;
  if (b.max_frame)
    o.max_frame = b.max_frame; // every context gets the master's limit
  return o;
}

// The master's options with what the environment turns on
// (MITOSIS_TRACE_FRAMES=1: options::trace_frames); they go down to every
// context in its boot frame.
router::options master_options(router::options o) {
  if (auto v = std::getenv("MITOSIS_TRACE_FRAMES"); v && std::string_view{v} == "1")
    o.trace_frames = true;
  return o;
}

policy::rules boot_rules(const serialization::boot_info& b) {
  if (!b.rules.empty()) {
    try {
      return policy::rules::decode(b.rules);
    } catch (const std::exception& e) {
      lg()->error("[{}] bad rules in boot frame, keeping defaults: {}", b.name, e.what());
    }
  }
  return policy::rules::defaults();
}

} // namespace

/// The actor side of a process: the actor system, the policy actor (the
/// writer of the rules), the spawner actor (starts children), the router
/// actor (route events, counters, connection actors) and the context
/// actors (docs/architecture.md, "Actor faces").
struct runtime::caf_part {
  caf::actor_system_config cfg;
  std::unique_ptr<caf::actor_system> sys;
  router::router& routes;
  policy::policy_actor policy;
  bootstrap::spawner_actor spawner;
  router::router_actor router_face;
  std::unique_ptr<faces::context_faces> contexts;

  caf_part(router::router& r, policy::rules initial) : routes(r) {
    // Without these, every blocking request pays the work-stealing
    // scheduler's polling sleep (~120 us here; docs/architecture.md, "CAF
    // 0.17 facts this code relies on").
    cfg.set("scheduler.max-threads", std::size_t{2});
    cfg.set("work-stealing.moderate-poll-attempts", std::size_t{0});
    cfg.set("work-stealing.relaxed-sleep-duration", caf::timespan{std::chrono::milliseconds{100}});
    add_error_category(cfg);
    cfg.add_message_type<router::route_event>("mitosis::route_event");
    cfg.add_message_type<router::connection_stats>("mitosis::connection_stats");
    cfg.add_message_type<router::router_stats>("mitosis::router_stats");
    cfg.add_message_type<router::route_entry>("mitosis::route_entry");
    cfg.add_message_type<std::vector<router::route_entry>>("mitosis::route_entries");
    cfg.add_message_type<bootstrap::start_span>("mitosis::start_span");
    cfg.add_message_type<std::vector<bootstrap::start_span>>("mitosis::start_spans");
    actor_registry::instance().configure(cfg);
    sys = std::make_unique<caf::actor_system>(cfg);
    // Before any actor that another context may see exists.
    services::actor_service::use_context_node_id(*sys, r.config().self);
    policy = policy::spawn_policy_actor(
      *sys, [rp = &r](std::shared_ptr<const policy::rules> p) { rp->set_rules(std::move(p)); },
      std::move(initial));
    spawner = bootstrap::spawn_spawner_actor(*sys, r);
    router_face = faces::spawn_router_actor(*sys, r);
    if (!actor_ids_unguessable(*sys))
      lg()->warn("[{}] actor ids are CAF's counter (libcaf_core's next_actor_id won at link "
                 "time): a context that knows one of our actors can find others by counting",
                 r.config().name);
    // Events (not frames) go to the router actor's mailbox.
    r.set_event_hook([a = router_face](router::route_event&& e) { caf::anon_send(a, std::move(e)); });
  }

  ~caf_part() {
    routes.set_event_hook({});
    if (contexts)
      contexts->shutdown();
    for (auto a : {caf::actor_cast<caf::actor>(policy), caf::actor_cast<caf::actor>(spawner),
                   caf::actor_cast<caf::actor>(router_face)})
      caf::anon_send_exit(a, caf::exit_reason::user_shutdown);
    policy = nullptr;
    spawner = nullptr;
    router_face = nullptr;
    contexts.reset();
    sys.reset();
  }

  /// Sets the rules through the policy actor, the only writer of the
  /// snapshot; returns once it has published them (bounded by `timeout`).
  expected<void> set_rules(const policy::rules& r, caf::duration timeout) {
    expected<void> out;
    caf::scoped_actor self{*sys};
    self->request(policy, timeout, policy::set_rules_atom::value, r.encode())
      .receive(
        [&](bool accepted) {
          if (!accepted)
            out = fail(errc::protocol_error, "the policy actor refused the rules");
        },
        [&](caf::error& e) { out = fail(errc::protocol_error, sys->render(e)); });
    return out;
  }

  /// Starts a child through the spawner actor, by any method.
  expected<services::local_child> start(const bootstrap::method_spec& spec,
                                        const serialization::boot_info& boot,
                                        services::clock::time_point deadline) {
    std::vector<char> encoded;
    serialization::encode_into(encoded, boot);
    expected<services::local_child> out = fail(errc::spawn_failed, "no answer from the spawner");
    auto on_error = [&](caf::error& e) { out = fail(errc::spawn_failed, sys->render(e)); };
    caf::scoped_actor self{*sys};
    if (spec.kind == bootstrap::method_kind::local) {
      self->request(spawner, caf::infinite, bootstrap::spawn_atom::value, encoded, spec.pipes)
        .receive(
          [&](std::uint32_t sid, std::int32_t pid, std::string& err) {
            if (err.empty())
              out = services::local_child{sid, pid, false};
            else
              out = fail(errc::spawn_failed, std::move(err));
          },
          on_error);
      return out;
    }
    std::vector<char> encoded_spec;
    serialization::encode_into(encoded_spec, spec);
    const std::int64_t until = std::chrono::duration_cast<std::chrono::nanoseconds>(
                                 deadline.time_since_epoch())
                                 .count();
    // The worker honours the deadline itself, and always answers.
    self->request(spawner, caf::infinite, bootstrap::spawn_atom::value,
                  bootstrap::remote_atom::value, encoded_spec, encoded, until)
      .receive(
        [&](std::uint32_t sid, std::int32_t pid, bool installed, std::uint8_t code,
            std::string& err) {
          if (code == 0)
            out = services::local_child{sid, pid, installed};
          else
            out = fail(static_cast<errc>(code), std::move(err));
        },
        on_error);
    return out;
  }
};

runtime::runtime(router::router_config who, router::options opts, policy::rules initial)
  : router_(std::move(who), opts, *this),
    // One worker (the one that parks on the parent stream in an agent),
    // more as calls overlap, up to pool_threads.
    pool_(dispatcher::on_demand{opts.pool_threads, 1}),
    caf_(std::make_unique<caf_part>(router_, std::move(initial))),
    core_(router_, pending_, pool_),
    ids_(core_),
    logs_(core_),
    rules_(core_,
           [this](const policy::rules& r) {
             return caf_->set_rules(r, caf::duration{router_.opts().request_timeout});
           }),
    modules_(core_),
    calls_(core_, modules_),
    stats_(core_, calls_),
    files_(core_),
    blobs_(core_),
    pushes_(core_, blobs_),
    starts_(core_, ids_, rules_,
            [this](const bootstrap::method_spec& spec, const serialization::boot_info& b,
                   services::clock::time_point deadline) -> expected<services::local_child> {
              if (shutting_down())
                return fail(errc::shutting_down, "'" + name() + "' is shutting down");
              return caf_->start(spec, b, deadline);
            }),
    actors_(core_, *caf_->sys),
    channels_(core_),
    lifecycle_(core_, starts_, [this] { request_shutdown(); },
               [this] {
                 std::unique_lock<std::mutex> guard{stop_mtx_};
                 detach_step_ = 1;
                 stop_cv_.notify_all();
                 stop_cv_.wait(guard, [this] { return detach_step_ == 2 || stop_requested_; });
               }),
    async_(std::make_unique<async_spawner>(*caf_->sys)) {
  caf_->contexts = std::make_unique<faces::context_faces>(*caf_->sys, router_, caf_->router_face,
                                                          core_);
  actors_.set_module_loader([this](const std::string& name) { return modules_.load(name); });
  std::signal(SIGPIPE, SIG_IGN);
}

runtime::runtime(router::options opts)
  : runtime(router::router_config{router::master_id, opts.name, router::master_id, false, {}},
            master_options(opts), policy::rules::defaults()) {
  runtime* none = nullptr;
  master_runtime.compare_exchange_strong(none, this);
  router_.start();
}

runtime::runtime(router::options opts, const serialization::boot_info& boot, router::unique_fd in,
                 router::unique_fd out)
  : runtime(agent_identity(boot), agent_options(std::move(opts), boot), boot_rules(boot)) {
  // Before the first call can run and print.
  logs_.capture_output();
  serve_parent(std::move(in), std::move(out));
}

void runtime::serve_parent(router::unique_fd in, router::unique_fd out) {
  router::stream_options so;
  so.peer_name = "parent";
  so.peer_id = router_.config().parent_id;
  so.is_parent = true;
  so.expect_hello = false;
  router_.add_stream(std::move(in), std::move(out), std::move(so));
  agent_runtime = this;
  router_.start();
  // An idle worker reads the parent stream itself, so a call read there runs
  // on the thread that read it: no hand-over from the I/O thread.
  pool_.set_idle_reader([this](const std::function<bool()>& has_work, int wake_fd) {
    // An actor message read here runs on this worker too (inline_unit.hpp).
    services::reading_scope scope{actors_.pool_host()};
    return router_.read_when_free(router::parent_stream, has_work, wake_fd,
                                  std::chrono::steady_clock::now() + std::chrono::seconds{1},
                                  false, true);
  });
}

runtime::~runtime() {
  shutdown();
  runtime* self_ptr = this;
  agent_runtime.compare_exchange_strong(self_ptr, nullptr);
  self_ptr = this;
  master_runtime.compare_exchange_strong(self_ptr, nullptr);
}

runtime* runtime::agent() noexcept {
  return agent_runtime.load();
}

runtime* runtime::current() noexcept {
  if (auto* a = agent_runtime.load())
    return a;
  return master_runtime.load();
}

caf::actor_system& runtime::system() noexcept {
  return *caf_->sys;
}

router::router_actor runtime::router_actor() const {
  return caf_->router_face;
}

policy::policy_actor runtime::policy_actor() const {
  return caf_->policy;
}

bootstrap::spawner_actor runtime::spawner_actor() const {
  return caf_->spawner;
}

context_actor runtime::context_actor_of(router::context_id id, const std::string& name) {
  return caf_->contexts->of(id, name);
}

void runtime::lost(const std::vector<router::context_id>& ids, const std::string& reason) {
  core_.mark_lost(ids, reason);
  actors_.lost(ids, reason);
  if (caf_ && caf_->contexts)
    caf_->contexts->lost(ids, reason);
}

void runtime::parent_lost(const std::string& reason) {
  lg()->debug("[{}] parent lost: {}", name(), reason);
  if (!lifecycle_.detached()) {
    request_shutdown();
    return;
  }
  // Detached: the calls running here finish first, then the agent stops
  // (and its children with it). Nobody reads the parent stream any more.
  pool_.set_idle_reader({});
  std::lock_guard<std::mutex> guard{stop_mtx_};
  if (!shut_down_ && !idle_stop_.joinable())
    idle_stop_ = std::thread{[this] {
      pool_.wait_idle();
      request_shutdown();
    }};
}

bool runtime::shutting_down() noexcept {
  std::lock_guard<std::mutex> guard{stop_mtx_};
  return shut_down_;
}

void runtime::handshake_done(router::stream_id, router::context_id peer, const std::string& error) {
  starts_.handshake_done(peer, error);
}

void runtime::request_shutdown() {
  {
    std::lock_guard<std::mutex> guard{stop_mtx_};
    stop_requested_ = true;
  }
  stop_cv_.notify_all();
}

void runtime::wait_for_shutdown() {
  std::unique_lock<std::mutex> guard{stop_mtx_};
  for (;;) {
    stop_cv_.wait(guard, [this] { return stop_requested_ || detach_step_ == 1; });
    if (stop_requested_)
      return;
    // PR_SET_PDEATHSIG is per thread: this one armed it at boot.
    ::prctl(PR_SET_PDEATHSIG, 0);
    detach_step_ = 2;
    stop_cv_.notify_all();
  }
}

void runtime::shutdown() {
  {
    std::lock_guard<std::mutex> guard{stop_mtx_};
    if (shut_down_)
      return;
    shut_down_ = true;
    stop_requested_ = true;
  }
  stop_cv_.notify_all();
  // The last lines printed here still go up while the parent is there.
  logs_.stop_capture();
  // Every direct child is asked to stop its subtree and exit.
  starts_.stop_children(router_.opts().shutdown_grace);
  auto below = router_.routes();
  router_.stop();
  // The starts other contexts asked for end: no hello can come now.
  starts_.stop();
  // The ssh pump closes the sessions of the streams just dropped; wait for
  // it, so that no session is torn down while the process exits.
  bootstrap::ssh_wait_idle(router_.opts().shutdown_grace);
  // Whatever was reachable from here is lost now, once: its loss callbacks
  // run, later calls to it fail with context_lost.
  const auto why = "context '" + name() + "' is shutting down";
  std::vector<router::context_id> ids;
  for (auto& e : below)
    if (!router_.config().has_parent || e.via != router::parent_stream)
      ids.push_back(e.id);
  core_.mark_lost(ids, why);
  core_.lose_all(why);
  pending_.fail_all(why);
  channels_.shutdown();
  pool_.stop();
  core_.stop_service_pool();
  if (idle_stop_.joinable() && idle_stop_.get_id() != std::this_thread::get_id())
    idle_stop_.join();
  async_->stop();
  actors_.shutdown();
  caf_.reset();
}

} // namespace mitosis::actors
