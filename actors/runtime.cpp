#include "mitosis/actors/runtime.hpp"

#include <algorithm>
#include <caf/actor_system.hpp>
#include <caf/actor_system_config.hpp>
#include <caf/scoped_actor.hpp>
#include <caf/send.hpp>
#include <csignal>
#include <dlfcn.h>
#include <fstream>
#include <iterator>
#include <sys/stat.h>
#include <deque>
#include <fcntl.h>
#include <cstring>
#include <cxxabi.h>
#include <spdlog/sinks/base_sink.h>
#include <spdlog/sinks/dist_sink.h>
#include <spdlog/spdlog.h>
#include <sys/wait.h>
#include <thread>
#include <unistd.h>

#include "mitosis/actors/context.hpp"
#include "mitosis/actors/errors.hpp"
#include "mitosis/actors/function_registry.hpp"
#include "mitosis/bootstrap/bundle.hpp"
#include "mitosis/bootstrap/local_method.hpp"
#include "mitosis/bootstrap/process_method.hpp"
#include "mitosis/bootstrap/spawner_actor.hpp"
#include "mitosis/bootstrap/ssh_method.hpp"
#include "mitosis/bootstrap/stage1.hpp"
#include "mitosis/policy/policy_actor.hpp"
#include "mitosis/serialization/log.hpp"
#include "mitosis/serialization/plain_codec.hpp"
#include "mitosis/serialization/sha256.hpp"

namespace mitosis::actors {

using serialization::frame;
using serialization::frame_header;
using serialization::to_u32;
using serialization::wire_type;

namespace {

const auto& lg() {
  static auto l = log::get("actors");
  return l;
}

std::string demangle(const char* name) {
  int status = 0;
  std::unique_ptr<char, void (*)(void*)> p{abi::__cxa_demangle(name, nullptr, nullptr, &status),
                                           std::free};
  return status == 0 && p ? std::string{p.get()} : std::string{name};
}

router::router_config master_config(const runtime_options& o) {
  router::router_config c;
  c.self = router::master_id;
  c.name = o.name;
  c.max_frame = o.max_frame;
  c.max_violations = o.max_violations;
  c.max_routes_per_child = o.max_routes_per_child;
  return c;
}

router::router_config agent_config(const runtime_options& o, const serialization::boot_info& b) {
  router::router_config c;
  c.self = b.id;
  c.name = b.name;
  c.parent_id = b.parent_id;
  c.has_parent = true;
  c.max_frame = b.max_frame ? b.max_frame : o.max_frame;
  c.max_violations = o.max_violations;
  c.max_routes_per_child = o.max_routes_per_child;
  return c;
}

// Sends every log line of an agent to the master as a log_record frame.
class forward_sink final : public spdlog::sinks::base_sink<std::mutex> {
public:
  explicit forward_sink(runtime& rt) : rt_(rt) {}

protected:
  void sink_it_(const spdlog::details::log_msg& msg) override {
    thread_local bool busy = false;
    if (busy)
      return;
    busy = true;
    serialization::log_info li{rt_.name(), std::string{msg.logger_name.begin(),
                                                       msg.logger_name.end()},
                               static_cast<int>(msg.level),
                               std::string{msg.payload.begin(), msg.payload.end()}};
    auto wire = serialization::frame_builder{serialization::make_header(
                                               wire_type::log_record, router::master_id,
                                               rt_.self())}
                  .add(li)
                  .finish();
    rt_.routes().send(router::master_id, std::move(wire));
    busy = false;
  }
  void flush_() override {}

private:
  runtime& rt_;
};

} // namespace

namespace {
std::atomic<runtime*> agent_runtime{nullptr};
} // namespace

struct runtime::caf_part {
  caf::actor_system_config cfg;
  std::unique_ptr<caf::actor_system> sys;
  policy::policy_actor policy;
  bootstrap::spawner_actor spawner;

  caf_part() {
    // See shared/notes/caf-0.17.md: without these, every blocking request
    // pays the work-stealing scheduler's ~120 us polling sleep.
    cfg.set("scheduler.max-threads", std::size_t{2});
    cfg.set("work-stealing.moderate-poll-attempts", std::size_t{0});
    cfg.set("work-stealing.relaxed-sleep-duration",
            caf::timespan{std::chrono::milliseconds{100}});
    sys = std::make_unique<caf::actor_system>(cfg);
  }

  ~caf_part() {
    caf::anon_send_exit(policy, caf::exit_reason::user_shutdown);
    caf::anon_send_exit(spawner, caf::exit_reason::user_shutdown);
    policy = nullptr;
    spawner = nullptr;
    sys.reset();
  }
};

runtime::runtime(runtime_options opts) : opts_(std::move(opts)), router_(master_config(opts_), *this) {
  blocks_.emplace(opts_.id_block, 1);
  ids_.refill(*blocks_->next());
  init_common(policy::rules::defaults());
}

runtime::runtime(runtime_options opts, const serialization::boot_info& boot, router::unique_fd in,
                 router::unique_fd out)
  : opts_(std::move(opts)), router_(agent_config(opts_, boot), *this) {
  opts_.name = boot.name;
  opts_.log_level = boot.log_level;
  opts_.max_frame = router_.config().max_frame; // children get the same limit
  auto fwd = std::make_shared<forward_sink>(*this);
  log::sink()->set_sinks({fwd});
  router::stream_options so;
  so.peer_name = "parent";
  so.peer_id = boot.parent_id;
  so.is_parent = true;
  so.expect_hello = false;
  router_.add_stream(std::move(in), std::move(out), std::move(so));
  agent_runtime = this;
  policy::rules granted = policy::rules::defaults();
  try {
    if (!boot.rules.empty())
      granted = policy::rules::decode(boot.rules);
  } catch (const std::exception& e) {
    lg()->error("[{}] bad rules in boot frame, keeping defaults: {}", boot.name, e.what());
  }
  init_common(std::move(granted));
}

void runtime::init_common(policy::rules initial) {
  std::signal(SIGPIPE, SIG_IGN);
  log::set_level(opts_.log_level);
  if (router_.config().has_parent) {
    // In an agent, the program's own spdlog calls go to the master too.
    auto def = std::make_shared<spdlog::logger>("", log::sink());
    def->set_level(static_cast<spdlog::level::level_enum>(opts_.log_level));
    spdlog::set_default_logger(def);
  }
  caf_ = std::make_unique<caf_part>();
  caf_->policy = policy::spawn_policy_actor(
    *caf_->sys, [r = &router_](std::shared_ptr<const policy::rules> p) { r->set_rules(std::move(p)); },
    std::move(initial));
  caf_->spawner = bootstrap::spawn_spawner_actor(*caf_->sys, router_);
  pool_ = std::make_unique<dispatcher>(opts_.pool_threads);
  router_.start();
  if (router_.config().has_parent)
    pool_->set_idle_reader([this](const std::function<bool()>& has_work, int wake_fd) {
      return router_.read_until(router::parent_stream, has_work, wake_fd,
                                std::chrono::steady_clock::now() + std::chrono::seconds{1});
    });
}

runtime::~runtime() {
  shutdown();
  runtime* self_ptr = this;
  agent_runtime.compare_exchange_strong(self_ptr, nullptr);
}

runtime* runtime::agent() noexcept {
  return agent_runtime.load();
}

std::future<frame> runtime::request(router::context_id dst, std::uint32_t handle,
                                    serialization::outgoing&& wire) {
  auto fut = pending_.expect(handle, dst);
  if (auto reason = lost_reason(dst)) {
    pending_.complete(handle, make_dead(errc::context_lost, *reason));
    return fut;
  }
  if (auto err = router_.send(dst, std::move(wire)); err != errc::none)
    pending_.complete(handle, make_dead(err, std::string{to_string(err)} + " (context "
                                               + std::to_string(dst) + ")"));
  return fut;
}

router::context_id runtime::allocate_id(std::chrono::steady_clock::time_point deadline) {
  std::lock_guard<std::mutex> guard{id_mtx_};
  if (auto id = ids_.next())
    return *id;
  if (blocks_) {
    auto b = blocks_->next();
    if (!b)
      throw connect_error("?", "context id space exhausted");
    ids_.refill(*b);
    return *ids_.next();
  }
  // Ask the master for a block: one round trip per block, not per child.
  auto h = pending_.next_handle();
  auto wire = serialization::frame_builder{serialization::make_header(
                                             wire_type::id_request, router::master_id, self(),
                                             0, h)}
                .add(serialization::id_block_info{0, opts_.id_block})
                .finish();
  auto fut = request(router::master_id, h, std::move(wire));
  if (fut.wait_until(deadline) != std::future_status::ready) {
    pending_.forget(h);
    throw connect_error(name(), "no id block from the master in time");
  }
  auto f = fut.get();
  if (f.hdr.type != serialization::to_u32(wire_type::id_grant))
    throw connect_error(name(), "the master refused an id block");
  serialization::id_block_info b;
  try {
    serialization::decode_exact(f.payload.data(), f.payload.size(), b);
  } catch (const serialization::decode_error& e) {
    throw connect_error(name(), std::string{"bad id block from the master: "} + e.what());
  }
  ids_.refill({b.first, b.count});
  auto id = ids_.next();
  if (!id)
    throw connect_error(name(), "empty id block");
  return *id;
}

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

child_info runtime::start(const bootstrap::method_spec& spec, std::chrono::milliseconds timeout) {
  using bootstrap::method_kind;
  auto deadline = std::chrono::steady_clock::now() + timeout;
  auto id = allocate_id(deadline);
  serialization::boot_info boot;
  boot.id = id;
  boot.parent_id = self();
  boot.name = spec.name.empty() ? default_name(spec, id) : spec.name;
  boot.max_frame = opts_.max_frame;
  boot.log_level = opts_.log_level;
  boot.rules = router_.rules()->encode();
  std::future<std::string> hs;
  {
    std::lock_guard<std::mutex> guard{mtx_};
    hs = handshakes_[id].get_future();
    names_[id] = boot.name;
  }
  auto forget_handshake = [&] {
    std::lock_guard<std::mutex> guard{mtx_};
    handshakes_.erase(id);
  };
  std::uint32_t sid = 0;
  std::int32_t pid = 0;
  if (spec.kind == method_kind::local) {
    std::vector<char> encoded;
    serialization::encode_into(encoded, boot);
    std::string err;
    {
      caf::scoped_actor self_actor{*caf_->sys};
      self_actor->request(caf_->spawner, caf::infinite, bootstrap::spawn_atom::value, encoded,
                          spec.pipes)
        .receive(
          [&](std::uint32_t s, std::int32_t p, std::string& e) {
            sid = s;
            pid = p;
            err = std::move(e);
          },
          [&](caf::error& e) { err = caf_->sys->render(e); });
    }
    if (!err.empty()) {
      forget_handshake();
      throw connect_error(boot.name, err);
    }
  } else {
    try {
      auto [s, p] = start_stage1(spec, boot, deadline);
      sid = s;
      pid = p;
    } catch (const bootstrap::method_error& e) {
      forget_handshake();
      throw_connect_error(e.code(), boot.name, e.what());
    } catch (const std::exception& e) {
      forget_handshake();
      throw connect_error(boot.name, e.what());
    }
  }
  if (pid) {
    std::lock_guard<std::mutex> guard{mtx_};
    child_pids_.push_back(pid);
  }
  auto left = std::max(std::chrono::milliseconds{1},
                       std::chrono::duration_cast<std::chrono::milliseconds>(
                         deadline - std::chrono::steady_clock::now()));
  if (hs.wait_for(left) != std::future_status::ready) {
    forget_handshake();
    if (pid) {
      ::kill(pid, SIGKILL);
      ::waitpid(pid, nullptr, 0);
    }
    router_.close_stream(sid, "no hello in time");
    throw connect_error(boot.name, "no hello within " + std::to_string(timeout.count()) + " ms"
                                     + (pid ? " (pid " + std::to_string(pid) + ")" : ""),
                        errc::timeout);
  }
  if (auto e = hs.get(); !e.empty())
    throw connect_error(boot.name, e, errc::handshake_failed);
  lg()->debug("[{}] started {} context '{}' id {} pid {}", name(), bootstrap::to_string(spec.kind),
              boot.name, id, pid);
  return {id, boot.name, pid};
}

std::pair<std::uint32_t, std::int32_t> runtime::start_stage1(const bootstrap::method_spec& spec,
                                                            const serialization::boot_info& boot,
                                                            std::chrono::steady_clock::time_point deadline) {
  using bootstrap::method_kind;
  const auto& b = bootstrap::own_bundle();
  bool quiet = spec.kind == method_kind::su;
  auto script = bootstrap::stage1_script(b, spec.cache_dir, "mitosis:" + boot.name, quiet);
  bootstrap::transport t =
    spec.kind == method_kind::ssh
      ? bootstrap::start_ssh(spec, "/bin/sh -c " + bootstrap::sh_quote(script), deadline)
      : bootstrap::start_process(spec, script);
  int wfd = t.wfd.get() >= 0 ? t.wfd.get() : t.rfd.get();
  auto stop_program = [&t] {
    if (t.pid) {
      ::kill(t.pid, SIGKILL);
      ::waitpid(t.pid, nullptr, 0);
    }
  };
  auto r = bootstrap::run_stage1(t.rfd.get(), wfd, b, t.prompts, deadline, t.stderr_text);
  if (r.code != errc::none) {
    stop_program();
    throw bootstrap::method_error(r.code, r.reason);
  }
  if (r.installed) {
    ++bundles_sent_;
    lg()->info("[{}] installed bundle {} ({} bytes) for '{}'", name(), b.sha256.substr(0, 12),
               b.size, boot.name);
  }
  try {
    bootstrap::send_boot(wfd, boot);
  } catch (const std::exception& e) {
    // Stage-1 said MXOK but the agent is not there: it could not be
    // executed (a noexec cache, a broken loader); its shell said why.
    std::this_thread::sleep_for(std::chrono::milliseconds{20});
    auto said = t.stderr_text ? t.stderr_text() : std::string{};
    stop_program();
    throw bootstrap::method_error(errc::bootstrap_failed,
                                  std::string{"the agent did not start ("} + e.what() + ")"
                                    + (said.empty() ? "" : ": " + said));
  }
  bootstrap::drain_lines(std::move(t.tty), boot.name);
  auto sid = bootstrap::attach_child(router_, boot, t.pid, std::move(t.rfd), std::move(t.wfd),
                                     std::move(t.driver));
  return {sid, t.pid};
}

child_info runtime::start_via(router::context_id via, const std::string& via_name,
                              const bootstrap::method_spec& spec,
                              std::chrono::milliseconds timeout) {
  auto h = pending_.next_handle();
  serialization::spawn_info si{spec.name, static_cast<std::uint32_t>(timeout.count()), spec.pipes, {}};
  if (spec.kind != bootstrap::method_kind::local)
    serialization::encode_into(si.spec, spec);
  auto wire = serialization::frame_builder{serialization::make_header(
                                             wire_type::spawn_request, via, self(), 0, h)}
                .add(si)
                .finish();
  auto fut = request(via, h, std::move(wire));
  auto wanted = spec.name.empty() ? bootstrap::describe(spec) : spec.name;
  auto label = wanted + " via " + via_name;
  if (fut.wait_for(timeout + std::chrono::seconds{1}) != std::future_status::ready) {
    pending_.forget(h);
    throw connect_error(label, "no answer from '" + via_name + "' in time", errc::timeout);
  }
  auto f = fut.get();
  try {
    if (f.hdr.type == to_u32(wire_type::spawn_reply)) {
      serialization::spawned_info si;
      serialization::decode_exact(f.payload.data(), f.payload.size(), si);
      std::lock_guard<std::mutex> guard{mtx_};
      names_[si.id] = si.name;
      chains_[si.id] = si.name + " via " + chain_of_locked(via, via_name);
      return {si.id, si.name, si.pid};
    }
    serialization::dead_info d;
    if (f.hdr.type == to_u32(wire_type::dead))
      serialization::decode_exact(f.payload.data(), f.payload.size(), d);
    std::string chain;
    {
      std::lock_guard<std::mutex> guard{mtx_};
      chain = chain_of_locked(via, via_name);
    }
    label = wanted + " via " + chain;
    throw_connect_error(static_cast<errc>(d.code), label,
                        d.reason.empty() ? "unexpected reply" : d.reason);
  } catch (const serialization::decode_error& e) {
    throw connect_error(label, std::string{"undecodable answer from '"} + via_name + "': " + e.what());
  }
}

std::string runtime::chain_of_locked(router::context_id id, const std::string& fallback) const {
  auto i = chains_.find(id);
  return i == chains_.end() ? fallback : i->second;
}

std::optional<std::string> runtime::lost_reason(router::context_id id) const {
  std::lock_guard<std::mutex> guard{mtx_};
  auto i = lost_.find(id);
  if (i == lost_.end())
    return std::nullopt;
  return i->second;
}

std::string runtime::name_of(router::context_id id) const {
  if (id == self())
    return name();
  std::lock_guard<std::mutex> guard{mtx_};
  auto i = names_.find(id);
  return i == names_.end() ? "context " + std::to_string(id) : i->second;
}

void runtime::set_rules(const policy::rules& r) {
  caf::scoped_actor self_actor{*caf_->sys};
  self_actor->request(caf_->policy, caf::infinite, policy::set_rules_atom::value, r.encode())
    .receive([](bool) {}, [](caf::error&) {});
}

void runtime::set_subtree_rules(const policy::rules& r) {
  set_rules(r);
  send_to_children(wire_type::rules_update, r.encode());
}

template <class... Ts>
void runtime::send_to_children(wire_type t, const Ts&... payload) {
  for (auto sid : router_.child_streams())
    if (auto info = router_.stream_info(sid)) {
      serialization::frame_builder fb{serialization::make_header(t, info->peer_id, self())};
      if constexpr (sizeof...(Ts) > 0)
        fb.add(payload...);
      router_.send_on(sid, fb.finish());
    }
}

void runtime::apply_rules_update(const frame& f) {
  std::vector<char> encoded;
  std::shared_ptr<const policy::rules> r;
  try {
    serialization::decode_exact(f.payload.data(), f.payload.size(), encoded);
    r = std::make_shared<const policy::rules>(policy::rules::decode(encoded));
  } catch (const serialization::decode_error& e) {
    lg()->warn("[{}] undecodable rules_update from context {}: {}", name(), f.hdr.src, e.what());
    return;
  }
  // Publish here, on the reading thread, so the frames after this one are
  // judged by the new rules. (Not through the policy actor: its publish
  // would come later and could put back older rules after a newer update.)
  router_.set_rules(r);
  send_to_children(wire_type::rules_update, encoded);
}

void runtime::reply(const frame_header& req, wire_type t, serialization::buffer&& wire) {
  auto h = serialization::make_header(t, req.src, self(), req.reply_to);
  h.length = static_cast<std::uint32_t>(wire.size() - frame_header::size);
  serialization::encode(h, reinterpret_cast<std::byte*>(wire.data()));
  if (auto err = router_.send(req.src, std::move(wire)); err == errc::frame_too_large)
    router_.reply_dead(req, err, serialization::type_registry::name(to_u32(t)).data()
                                   + std::string{" larger than the maximum frame size"});
}

void runtime::on_pool(const frame_header& req, std::function<void()> job) {
  if (!pool_->submit(std::move(job)))
    router_.reply_dead(req, errc::shutting_down, "context is shutting down");
}

template <class T>
bool runtime::decode_or_refuse(const frame& f, T& x) {
  try {
    serialization::decode_exact(f.payload.data(), f.payload.size(), x);
    return true;
  } catch (const serialization::decode_error& e) {
    router_.reply_dead(f.hdr, e.code(), e.what());
    return false;
  }
}

void runtime::deliver(frame&& f, policy::direction d, router::stream_id from) {
  switch (static_cast<wire_type>(f.hdr.type)) {
    case wire_type::call_request: {
      auto hdr = f.hdr;
      on_pool(hdr, [this, d, from, f = std::move(f)]() mutable { run_call(std::move(f), d, from); });
      return;
    }
    case wire_type::call_reply:
    case wire_type::call_error:
    case wire_type::dead:
    case wire_type::id_grant:
    case wire_type::file_chunk:
    case wire_type::module_data:
    case wire_type::spawn_reply: {
      auto handle = f.hdr.handle;
      if (f.hdr.type == to_u32(wire_type::dead) && from != 0) {
        // Any hop on the way may answer dead, but only a hop on the way:
        // a dead reply must come in on the stream the request went out on.
        auto dst = pending_.destination(handle);
        if (dst && f.hdr.src != *dst && router_.next_hop(*dst) != from) {
          lg()->warn("[{}] ignored a dead reply for handle {} from context {}: not on the "
                     "path to context {}",
                     name(), handle, f.hdr.src, *dst);
          return;
        }
      }
      if (!pending_.complete(handle, std::move(f)))
        lg()->debug("[{}] reply for handle {} nobody waits for", name(), handle);
      return;
    }
    case wire_type::log_record:
      handle_log(f);
      return;
    case wire_type::id_request:
      handle_id_request(f);
      return;
    case wire_type::spawn_request:
    {
      auto hdr = f.hdr;
      on_pool(hdr, [this, f = std::move(f)]() mutable { run_spawn_request(std::move(f)); });
      return;
    }
    case wire_type::shutdown:
      if (d == policy::direction::from_parent && f.hdr.src == router_.config().parent_id)
        request_shutdown();
      return;
    case wire_type::file_request: {
      auto hdr = f.hdr;
      on_pool(hdr, [this, f = std::move(f)]() mutable { run_file_request(std::move(f)); });
      return;
    }
    case wire_type::module_request: {
      auto hdr = f.hdr;
      on_pool(hdr, [this, f = std::move(f)]() mutable { run_module_request(std::move(f)); });
      return;
    }
    case wire_type::module_push: {
      // Only the parent itself, not whatever reaches us from its side.
      if (d != policy::direction::from_parent || f.hdr.src != router_.config().parent_id) {
        router_.reply_dead(f.hdr, errc::protocol_error, "module_push only from the parent");
        return;
      }
      serialization::module_info m;
      if (!decode_or_refuse(f, m))
        return;
      // Known before any later call is handled, so that a call right after
      // a preload waits for it instead of fetching (see load_module).
      {
        std::lock_guard<std::mutex> guard{push_mtx_};
        pushes_in_flight_.insert(m.name);
      }
      auto hdr = f.hdr;
      on_pool(hdr, [this, hdr, m = std::move(m)]() mutable { run_module_push(hdr, std::move(m)); });
      return;
    }
    case wire_type::rules_update:
      if (d == policy::direction::from_parent && f.hdr.src == router_.config().parent_id)
        apply_rules_update(f);
      return;
    default:
      lg()->warn("[{}] unexpected {} frame from context {}", name(),
                 serialization::type_registry::name(f.hdr.type), f.hdr.src);
      router_.reply_dead(f.hdr, errc::protocol_error, "unexpected message type");
  }
}

void runtime::run_call(frame&& f, policy::direction d, router::stream_id from) {
  const auto& h = f.hdr;
  const bool want_reply = h.reply_to != 0 && !(h.flags & serialization::frame_flags::no_reply);
  std::string fn;
  try {
    // With a blob first: [blob][name][other arguments][u64 blob length].
    call_args args;
    const char* p = f.payload.data();
    std::size_t n = f.payload.size();
    if (h.flags & serialization::frame_flags::blob_first) {
      std::uint64_t blob = 0;
      if (n < sizeof(blob))
        throw serialization::decode_error(errc::truncated_payload, "blob length");
      std::memcpy(&blob, p + n - sizeof(blob), sizeof(blob));
      if (blob > n - sizeof(blob))
        throw serialization::decode_error(errc::count_exceeds_payload, "blob length");
      args.blob_payload = &f.payload;
      args.blob_len = static_cast<std::size_t>(blob);
      p += blob;
      n -= blob + sizeof(blob);
    }
    serialization::plain_reader in{p, n};
    in.get(fn);
    if (!router_.rules()->allows_call(d, h.src, fn)) {
      auto detail = "call to '" + fn + "' from " + policy::to_string(d) + " "
                    + std::to_string(h.src) + " not allowed by policy";
      if (from != 0)
        router_.report_violation(from, errc::call_not_allowed, h, detail);
      else
        router_.reply_dead(h, errc::call_not_allowed, detail);
      return;
    }
    auto* entry = function_registry::instance().find(fn);
    if (!entry && fn.find('|') != std::string::npos) {
      // A plugin function we lack: fetch its module from our parent.
      auto module = fn.substr(0, fn.find('|'));
      if (auto err = load_module(module); err.first != errc::none) {
        router_.reply_dead(h, err.first, err.second);
        return;
      }
      entry = function_registry::instance().find(fn);
    }
    if (!entry) {
      router_.reply_dead(h, errc::unknown_function, "function '" + fn + "' is not registered");
      return;
    }
    serialization::buffer out(frame_header::size);
    std::string ex_type, ex_what;
    try {
      args.data = in.position();
      args.size = in.remaining();
      entry->invoke(args, out);
    } catch (const serialization::decode_error&) {
      throw;
    } catch (const std::exception& e) {
      ex_type = demangle(typeid(e).name());
      ex_what = e.what();
    } catch (...) {
      ex_type = "unknown exception";
      ex_what = "(not a std::exception)";
    }
    if (!ex_type.empty()) {
      if (!want_reply) {
        lg()->warn("[{}] {} threw {}: {}", name(), fn, ex_type, ex_what);
        return;
      }
      serialization::buffer err(frame_header::size);
      serialization::encode_into(err, serialization::call_error_info{ex_type, ex_what, name()});
      reply(h, wire_type::call_error, std::move(err));
      return;
    }
    if (want_reply)
      reply(h, wire_type::call_reply, std::move(out));
  } catch (const serialization::decode_error& e) {
    lg()->warn("[{}] undecodable call{} from context {}: {}", name(),
               fn.empty() ? "" : " to '" + fn + "'", h.src, e.what());
    router_.reply_dead(h, e.code(), e.what());
  }
}

void runtime::run_spawn_request(frame&& f) {
  serialization::spawn_info si;
  try {
    serialization::decode_exact(f.payload.data(), f.payload.size(), si);
    auto timeout = si.timeout_ms ? std::chrono::milliseconds{si.timeout_ms} : opts_.connect_timeout;
    bootstrap::method_spec spec;
    spec.name = si.name;
    spec.pipes = si.pipes;
    if (!si.spec.empty()) {
      serialization::decode_exact(si.spec.data(), si.spec.size(), spec);
      if (auto bad = bootstrap::validate(spec); !bad.empty())
        throw serialization::decode_error(errc::protocol_error, bad);
    }
    auto child = start(spec, timeout);
    serialization::buffer out(frame_header::size);
    serialization::encode_into(out, serialization::spawned_info{child.id, child.name, child.pid});
    reply(f.hdr, wire_type::spawn_reply, std::move(out));
  } catch (const connect_error& e) {
    // The asker names the hop chain; the reason is the cause alone.
    router_.reply_dead(f.hdr, e.code(), e.reason());
  } catch (const error& e) {
    router_.reply_dead(f.hdr, e.code(), e.what());
  } catch (const std::exception& e) {
    router_.reply_dead(f.hdr, errc::spawn_failed, e.what());
  }
}

void runtime::run_file_request(frame&& f) {
  serialization::file_request_info req;
  if (!decode_or_refuse(f, req))
    return;
  auto r = files_.read(req.path, req.offset, req.max);
  if (r.code != errc::none) {
    lg()->warn("[{}] refused file {} to context {}: {}", name(), req.path, f.hdr.src, r.reason);
    router_.reply_dead(f.hdr, r.code, r.reason);
    return;
  }
  serialization::buffer out(frame_header::size);
  serialization::encode_into(out, r.chunk);
  reply(f.hdr, wire_type::file_chunk, std::move(out));
}

void runtime::fetch_file(router::context_id from, const std::string& from_name,
                         const std::string& remote, const std::string& local, int window) {
  auto ask = [&](std::uint64_t offset) {
    auto h = pending_.next_handle();
    auto wire = serialization::frame_builder{serialization::make_header(
                                               wire_type::file_request, from, self(), 0, h)}
                  .add(serialization::file_request_info{remote, offset, file_service::max_chunk})
                  .finish();
    return request(from, h, std::move(wire));
  };
  auto take = [&](std::future<frame> fut) {
    if (fut.wait_for(opts_.connect_timeout) != std::future_status::ready)
      throw timeout_error(from_name, "no chunk of " + remote + " within "
                                       + std::to_string(opts_.connect_timeout.count()) + " ms");
    auto f = fut.get();
    if (f.hdr.type != to_u32(wire_type::file_chunk))
      mitosis::detail::throw_reply(f, from_name); // policy_error, context_lost, error
    serialization::file_chunk_info c;
    serialization::decode_exact(f.payload.data(), f.payload.size(), c);
    return c;
  };
  auto tmp = local + ".mitosis-part";
  router::unique_fd out{::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600)};
  if (out.get() < 0)
    throw error(errc::file_error, name(), "cannot write " + tmp + ": " + std::strerror(errno));
  auto write_chunk = [&](const serialization::file_chunk_info& c) {
    std::size_t done = 0;
    while (done < c.bytes.size()) {
      auto n = ::pwrite(out.get(), c.bytes.data() + done, c.bytes.size() - done,
                        static_cast<off_t>(c.offset + done));
      if (n <= 0 && errno != EINTR)
        throw error(errc::file_error, name(), "cannot write " + tmp + ": " + std::strerror(errno));
      if (n > 0)
        done += static_cast<std::size_t>(n);
    }
  };
  try {
    auto first = take(ask(0));
    write_chunk(first);
    const auto size = first.size;
    // Keep `window` chunk requests in flight: the server never has more
    // than that many chunks queued for us (flow control by credit).
    std::deque<std::future<frame>> inflight;
    window = std::max(window, 1);
    std::uint64_t next = first.bytes.size();
    while (next < size || !inflight.empty()) {
      while (next < size && static_cast<int>(inflight.size()) < window) {
        inflight.push_back(ask(next));
        next += file_service::max_chunk;
      }
      auto c = take(std::move(inflight.front()));
      inflight.pop_front();
      if (c.size != size)
        throw error(errc::file_error, from_name, remote + " changed size while being fetched");
      write_chunk(c);
    }
  } catch (...) {
    ::unlink(tmp.c_str());
    throw;
  }
  out.reset();
  if (::rename(tmp.c_str(), local.c_str()) != 0)
    throw error(errc::file_error, name(), "cannot rename " + tmp + ": " + std::strerror(errno));
}

void runtime::add_module(const std::string& name, const std::string& path) {
  if (name.empty() || name.find_first_of("|/ \t\n") != std::string::npos)
    throw error(errc::protocol_error, this->name(),
                "bad plugin module name '" + name + "': empty, or with '|', '/' or blanks");
  std::ifstream f{path, std::ios::binary};
  if (!f)
    throw error(errc::file_error, this->name(), "cannot read plugin " + path);
  serialization::module_info m;
  m.name = name;
  m.bytes.assign(std::istreambuf_iterator<char>(f), std::istreambuf_iterator<char>());
  m.sha256 = serialization::sha256_hex(m.bytes.data(), m.bytes.size());
  std::lock_guard<std::mutex> guard{modules_mtx_};
  for (const auto& [other, known] : modules_)
    if (other != name && known.sha256 == m.sha256)
      throw error(errc::protocol_error, this->name(),
                  "plugin " + path + " is already module '" + other + "'");
  modules_[name] = std::move(m);
}

std::pair<errc, std::string> runtime::module_bytes(const std::string& name,
                                                   serialization::module_info& out) {
  // Called with modules_mtx_ held.
  if (auto i = modules_.find(name); i != modules_.end()) {
    out = i->second;
    return {errc::none, {}};
  }
  if (!router_.config().has_parent)
    return {errc::file_error, "no plugin module '" + name + "' at context '" + this->name() + "'"};
  auto h = pending_.next_handle();
  auto parent = router_.config().parent_id;
  auto wire = serialization::frame_builder{serialization::make_header(
                                             wire_type::module_request, parent, self(), 0, h)}
                .add(name)
                .finish();
  auto fut = request(parent, h, std::move(wire));
  if (fut.wait_for(opts_.connect_timeout) != std::future_status::ready) {
    pending_.forget(h);
    return {errc::timeout, "no answer from the parent for module '" + name + "'"};
  }
  auto f = fut.get();
  try {
    if (f.hdr.type != to_u32(wire_type::module_data)) {
      serialization::dead_info d;
      serialization::decode_exact(f.payload.data(), f.payload.size(), d);
      return {static_cast<errc>(d.code), d.reason};
    }
    serialization::module_info m;
    serialization::decode_exact(f.payload.data(), f.payload.size(), m);
    if (m.name != name || serialization::sha256_hex(m.bytes.data(), m.bytes.size()) != m.sha256)
      return {errc::protocol_error, "module '" + name + "' arrived damaged"};
    out = modules_[name] = std::move(m);
    return {errc::none, {}};
  } catch (const serialization::decode_error& e) {
    return {e.code(), std::string{"module '"} + name + "': " + e.what()};
  }
}

std::pair<errc, std::string> runtime::load_module(const std::string& name, bool wait_for_push) {
  if (wait_for_push) {
    std::unique_lock<std::mutex> guard{push_mtx_};
    push_cv_.wait_for(guard, opts_.connect_timeout, [&] { return !pushes_in_flight_.count(name); });
  }
  std::lock_guard<std::mutex> guard{modules_mtx_};
  if (loaded_modules_.count(name))
    return {errc::none, {}};
  serialization::module_info m;
  if (auto err = module_bytes(name, m); err.first != errc::none)
    return err;
  std::string dir;
  try {
    dir = bootstrap::private_dir("plugins");
  } catch (const std::exception& e) {
    return {errc::file_error, e.what()};
  }
  // Stored and loaded by content hash; written under a temporary name and
  // renamed, so a half-written file is never loaded.
  auto path = dir + "/" + m.sha256 + ".so";
  std::ifstream existing{path, std::ios::binary};
  std::vector<char> have{std::istreambuf_iterator<char>(existing), std::istreambuf_iterator<char>()};
  if (serialization::sha256_hex(have.data(), have.size()) != m.sha256) {
    auto tmp = path + ".tmp." + std::to_string(::getpid());
    {
      std::ofstream out{tmp, std::ios::binary | std::ios::trunc};
      out.write(m.bytes.data(), static_cast<std::streamsize>(m.bytes.size()));
      if (!out) {
        ::unlink(tmp.c_str());
        return {errc::file_error, "cannot write " + tmp};
      }
    }
    if (::rename(tmp.c_str(), path.c_str()) != 0) {
      auto why = std::string{std::strerror(errno)};
      ::unlink(tmp.c_str());
      return {errc::file_error, "cannot install " + path + ": " + why};
    }
  }
  actors::function_registry::set_loading_module(&name);
  void* handle = ::dlopen(path.c_str(), RTLD_NOW | RTLD_LOCAL);
  actors::function_registry::set_loading_module(nullptr);
  if (!handle)
    return {errc::file_error, std::string{"cannot load module '"} + name + "': " + ::dlerror()};
  loaded_modules_.insert(name);
  lg()->debug("[{}] loaded plugin module '{}' ({})", this->name(), name, m.sha256);
  return {errc::none, {}};
}

void runtime::run_module_request(frame&& f) {
  std::string name;
  if (!decode_or_refuse(f, name))
    return;
  if (auto rule = router_.rules()->import_refusal(name); !rule.empty()) {
    auto reason = "module '" + name + "' refused by " + rule + " at context '" + this->name() + "'";
    lg()->warn("[{}] {} (asked by context {})", this->name(), reason, f.hdr.src);
    router_.reply_dead(f.hdr, errc::module_denied, reason);
    return;
  }
  serialization::module_info m;
  std::pair<errc, std::string> err;
  {
    std::lock_guard<std::mutex> guard{modules_mtx_};
    err = module_bytes(name, m);
  }
  if (err.first != errc::none) {
    router_.reply_dead(f.hdr, err.first, err.second);
    return;
  }
  ++modules_served_;
  serialization::buffer out(frame_header::size);
  serialization::encode_into(out, m);
  reply(f.hdr, wire_type::module_data, std::move(out));
}

void runtime::push_module(router::context_id to, const std::string& name) {
  auto children = router_.known_contexts();
  if (std::find(children.begin(), children.end(), to) == children.end())
    throw error(errc::no_route, name_of(to),
                "preload_plugin needs a direct child; its subtree gets the module from it");
  serialization::module_info m;
  {
    std::lock_guard<std::mutex> guard{modules_mtx_};
    auto i = modules_.find(name);
    if (i == modules_.end())
      throw error(errc::file_error, this->name(), "no plugin module '" + name + "' to push");
    m = i->second;
  }
  // A request: `to` answers once it has loaded the module and passed it
  // on, so calls made after preload_plugin returns find it in place.
  auto h = pending_.next_handle();
  auto wire = serialization::frame_builder{serialization::make_header(wire_type::module_push, to,
                                                                      self(), 0, h)}
                .add(m)
                .finish();
  auto fut = request(to, h, std::move(wire));
  if (fut.wait_for(opts_.connect_timeout) != std::future_status::ready) {
    pending_.forget(h);
    throw timeout_error(name_of(to), "no answer to the preload of module '" + name + "'");
  }
  auto f = fut.get();
  if (f.hdr.type != to_u32(wire_type::call_reply))
    mitosis::detail::throw_reply(f, name_of(to));
}

void runtime::run_module_push(const frame_header& req, serialization::module_info m) {
  auto finish = [&](errc code, const std::string& reason) {
    {
      std::lock_guard<std::mutex> guard{push_mtx_};
      pushes_in_flight_.erase(m.name);
    }
    push_cv_.notify_all();
    if (code != errc::none) {
      lg()->warn("[{}] preload of module '{}' failed: {}", this->name(), m.name, reason);
      router_.reply_dead(req, code, reason);
    } else if (req.reply_to != 0) {
      reply(req, wire_type::call_reply, serialization::buffer(frame_header::size));
    }
  };
  if (serialization::sha256_hex(m.bytes.data(), m.bytes.size()) != m.sha256)
    return finish(errc::protocol_error, "module '" + m.name + "' arrived damaged");
  // A pushed module is loaded under the same import policy as a fetched one.
  if (auto rule = router_.rules()->import_refusal(m.name); !rule.empty())
    return finish(errc::module_denied, "module '" + m.name + "' refused by " + rule
                                         + " at context '" + this->name() + "'");
  {
    std::lock_guard<std::mutex> guard{modules_mtx_};
    modules_[m.name] = m;
  }
  if (auto err = load_module(m.name, false); err.first != errc::none)
    return finish(err.first, err.second);
  // Down the subtree, ahead of anything we forward to a child afterwards.
  send_to_children(wire_type::module_push, m);
  finish(errc::none, {});
}

void runtime::handle_id_request(const frame& f) {
  if (!blocks_) {
    router_.reply_dead(f.hdr, errc::protocol_error, "only the master hands out id blocks");
    return;
  }
  serialization::id_block_info want;
  if (!decode_or_refuse(f, want))
    return;
  // At most one block per request: a child cannot take the id space in a few requests.
  auto b = blocks_->next(std::min(want.count == 0 ? opts_.id_block : want.count, opts_.id_block));
  if (!b) {
    router_.reply_dead(f.hdr, errc::spawn_failed, "context id space exhausted");
    return;
  }
  serialization::buffer out(frame_header::size);
  serialization::encode_into(out, serialization::id_block_info{b->first, b->count});
  reply(f.hdr, wire_type::id_grant, std::move(out));
}

void runtime::handle_log(const frame& f) {
  serialization::log_info li;
  try {
    serialization::decode_exact(f.payload.data(), f.payload.size(), li);
  } catch (const serialization::decode_error& e) {
    lg()->warn("[{}] undecodable log record from context {}: {}", name(), f.hdr.src, e.what());
    return;
  }
  auto logger = log::get_named(name_of(f.hdr.src) + (li.logger.empty() ? "" : ":" + li.logger));
  auto level = static_cast<spdlog::level::level_enum>(
    std::clamp(li.level, 0, static_cast<int>(spdlog::level::critical)));
  logger->log(level, "{}", li.text);
}

void runtime::lost(const std::vector<router::context_id>& ids, const std::string& reason) {
  {
    std::lock_guard<std::mutex> guard{mtx_};
    for (auto id : ids)
      lost_.emplace(id, reason);
  }
  pending_.fail(ids, reason);
}

void runtime::parent_lost(const std::string& reason) {
  lg()->debug("[{}] parent lost: {}", name(), reason);
  request_shutdown();
}

void runtime::handshake_done(router::stream_id, router::context_id peer, const std::string& error) {
  std::lock_guard<std::mutex> guard{mtx_};
  auto i = handshakes_.find(peer);
  if (i == handshakes_.end())
    return;
  i->second.set_value(error);
  handshakes_.erase(i);
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
  stop_cv_.wait(guard, [this] { return stop_requested_; });
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
  // Ask every direct child to stop its subtree and exit.
  send_to_children(wire_type::shutdown);
  std::vector<int> pids;
  {
    std::lock_guard<std::mutex> guard{mtx_};
    pids.swap(child_pids_);
  }
  auto deadline = std::chrono::steady_clock::now() + opts_.shutdown_grace;
  while (!pids.empty() && std::chrono::steady_clock::now() < deadline) {
    std::erase_if(pids, [](int pid) { return ::waitpid(pid, nullptr, WNOHANG) != 0; });
    if (!pids.empty())
      std::this_thread::sleep_for(std::chrono::milliseconds{1});
  }
  for (int pid : pids) {
    lg()->warn("[{}] child pid {} did not stop in time: killing it", name(), pid);
    ::kill(pid, SIGKILL);
    ::waitpid(pid, nullptr, 0);
  }
  router_.stop();
  // The ssh pump closes the sessions of the streams just dropped; wait for
  // it, so that no session is torn down while the process exits.
  bootstrap::ssh_wait_idle(opts_.shutdown_grace);
  pending_.fail_all("context '" + name() + "' is shutting down");
  if (pool_)
    pool_->stop();
  caf_.reset();
}

} // namespace mitosis::actors
