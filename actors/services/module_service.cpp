#include "module_service.hpp"

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <dlfcn.h>
#include <fstream>
#include <iterator>
#include <spdlog/spdlog.h>
#include <unistd.h>

#include "../function_registry.hpp"
#include "../../bootstrap/bundle.hpp"
#include "../../serialization/log.hpp"
#include "../../serialization/sha256.hpp"

namespace mitosis::actors::services {

using serialization::frame;
using serialization::wire_type;

namespace {

// Why module `name` is not served or loaded at context `here`: `rule`.
std::string denied(const std::string& name, const std::string& rule, const std::string& here) {
  return "module '" + name + "' refused by " + rule + " at context '" + here + "'";
}

} // namespace

module_service::module_service(core& c) : core_(c) {
  auto& h = c.routes().handlers();
  h.add(wire_type::module_request, [this](frame&& f, policy::direction, router::stream_id from) {
    auto hdr = f.hdr;
    core_.on_pool_bounded(hdr, from, [this, from, f = std::move(f)]() mutable {
      on_request(std::move(f), from);
    });
  });
  h.add(wire_type::module_push, [this](frame&& f, policy::direction d, router::stream_id) {
    on_push(std::move(f), d);
  });
}

expected<void> module_service::add(const std::string& name, const std::string& path) {
  if (name.empty() || name.find_first_of("|/ \t\n") != std::string::npos)
    return fail(errc::protocol_error,
                "bad plugin module name '" + name + "': empty, or with '|', '/' or blanks");
  std::ifstream f{path, std::ios::binary};
  if (!f)
    return fail(errc::file_error, "cannot read plugin " + path);
  serialization::module_info m;
  m.name = name;
  m.bytes.assign(std::istreambuf_iterator<char>(f), std::istreambuf_iterator<char>());
  m.sha256 = serialization::sha256_hex(m.bytes.data(), m.bytes.size());
  std::lock_guard<std::mutex> guard{mtx_};
  for (const auto& [other, known] : modules_)
    if (other != name && known.sha256 == m.sha256)
      return fail(errc::protocol_error, "plugin " + path + " is already module '" + other + "'");
  modules_[name] = std::move(m);
  return {};
}

expected<serialization::module_info> module_service::bytes(const std::string& name) {
  fetched answer;
  std::promise<expected<serialization::module_info>> mine;
  bool asker = false;
  {
    std::lock_guard<std::mutex> guard{mtx_};
    if (auto i = modules_.find(name); i != modules_.end())
      return i->second;
    if (!core_.routes().config().has_parent)
      return fail(errc::file_error,
                  "no plugin module '" + name + "' at context '" + core_.name() + "'");
    if (auto i = fetching_.find(name); i != fetching_.end()) {
      answer = i->second;
    } else {
      answer = fetching_[name] = mine.get_future().share();
      asker = true;
    }
  }
  if (!asker) {
    // Another thread asks the parent for it: its answer is ours. The asker
    // waits request_timeout at most, and so do we.
    if (answer.wait_until(core_.request_deadline()) != std::future_status::ready)
      return fail(errc::timeout, "no answer from the parent for module '" + name + "'");
    return answer.get();
  }
  auto m = fetch(name);
  {
    std::lock_guard<std::mutex> guard{mtx_};
    if (m)
      m = modules_.try_emplace(name, std::move(*m)).first->second; // a push may have come first
    fetching_.erase(name);
  }
  mine.set_value(m);
  return m;
}

expected<serialization::module_info> module_service::fetch(const std::string& name) {
  auto m = core_.ask<serialization::module_info>(core_.routes().config().parent_id,
                                                 wire_type::module_request, wire_type::module_data,
                                                 core_.request_deadline(), name);
  if (!m) {
    if (m.error().code == errc::timeout)
      return fail(errc::timeout, "no answer from the parent for module '" + name + "'");
    return m;
  }
  if (m->name != name || serialization::sha256_hex(m->bytes.data(), m->bytes.size()) != m->sha256)
    return fail(errc::protocol_error, "module '" + name + "' arrived damaged");
  return m;
}

std::size_t module_service::fetching() const {
  std::lock_guard<std::mutex> guard{mtx_};
  return fetching_.size();
}

expected<void> module_service::load(const std::string& name, bool wait_for_push) {
  if (wait_for_push) {
    std::unique_lock<std::mutex> guard{push_mtx_};
    push_cv_.wait_for(guard, core_.opts().request_timeout,
                      [&] { return !pushes_in_flight_.count(name); });
  }
  auto m = bytes(name);
  if (!m)
    return std::move(m).error();
  std::lock_guard<std::mutex> installing{load_mtx_};
  {
    std::lock_guard<std::mutex> guard{mtx_};
    // Keyed by (name, sha256): a name loaded with other content cannot be
    // replaced (its functions are registered already), and one content
    // under two names would register under the first only.
    for (const auto& [other, sha] : loaded_) {
      if (other == name && sha == m->sha256)
        return {};
      if (other == name)
        return fail(errc::file_error, "module '" + name + "' (sha256 " + m->sha256
                                        + ") cannot replace the module of that name loaded at "
                                          "context '"
                                        + core_.name() + "' (sha256 " + sha + ")");
      if (sha == m->sha256)
        return fail(errc::file_error, "module '" + name + "' is module '" + other
                                        + "' already loaded at context '" + core_.name()
                                        + "' (sha256 " + sha + ")");
    }
  }
  if (auto done = install(*m); !done)
    return done;
  std::lock_guard<std::mutex> guard{mtx_};
  loaded_.emplace(name, m->sha256);
  lg()->debug("[{}] loaded plugin module '{}' ({})", core_.name(), name, m->sha256);
  return {};
}

expected<void> module_service::install(const serialization::module_info& m) {
  std::string dir;
  try {
    dir = bootstrap::private_dir("plugins");
  } catch (const std::exception& e) {
    return fail(errc::file_error, e.what());
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
        return fail(errc::file_error, "cannot write " + tmp);
      }
    }
    if (::rename(tmp.c_str(), path.c_str()) != 0) {
      auto why = std::string{std::strerror(errno)};
      ::unlink(tmp.c_str());
      return fail(errc::file_error, "cannot install " + path + ": " + why);
    }
  }
  function_registry::set_loading_module(&m.name);
  void* handle = ::dlopen(path.c_str(), RTLD_NOW | RTLD_LOCAL);
  function_registry::set_loading_module(nullptr);
  if (!handle)
    return fail(errc::file_error, "cannot load module '" + m.name + "': " + ::dlerror());
  return {};
}

void module_service::on_request(frame&& f, router::stream_id from) {
  auto& r = core_.routes();
  std::string name;
  if (!core_.decode_or_refuse(f, name, from))
    return;
  // Per peer too: the asking context's entry, and its neighbour's (the
  // child this request came through), when they have one.
  const auto peer = r.peer_of(from).value_or(f.hdr.src);
  if (auto rule = r.rules()->import_refusal(name, f.hdr.src, peer); !rule.empty()) {
    auto reason = denied(name, rule, core_.name());
    lg()->warn("[{}] {} (asked by context {})", core_.name(), reason, f.hdr.src);
    r.refuse(from, f.hdr, errc::module_denied, reason);
    return;
  }
  auto m = bytes(name);
  if (!m) {
    r.refuse(from, f.hdr, m.error().code, m.error().reason);
    return;
  }
  ++served_;
  serialization::buffer out(serialization::frame_header::size);
  serialization::encode_into(out, *m);
  r.reply(f.hdr, wire_type::module_data, std::move(out));
}

expected<void> module_service::push(router::context_id to, const std::string& name) {
  auto children = core_.routes().known_contexts();
  if (std::find(children.begin(), children.end(), to) == children.end())
    return fail(errc::no_route,
                "preload_plugin needs a direct child; its subtree gets the module from it");
  // What the child could not fetch from here, it is not pushed either.
  if (auto rule = core_.routes().rules()->import_refusal(name, to, to); !rule.empty())
    return fail(errc::module_denied, denied(name, rule, core_.name()));
  serialization::module_info m;
  {
    std::lock_guard<std::mutex> guard{mtx_};
    auto i = modules_.find(name);
    if (i == modules_.end())
      return fail(errc::file_error,
                  "no plugin module '" + name + "' to push at context '" + core_.name() + "'");
    m = i->second;
  }
  // A request: `to` answers once it has loaded the module and passed it
  // on, so calls made after the push returns find it in place.
  auto done = core_.ask<void>(to, wire_type::module_push, wire_type::call_reply,
                              core_.request_deadline(), m);
  if (!done && done.error().code == errc::timeout)
    return fail(errc::timeout, "no answer to the preload of module '" + name + "'");
  return done;
}

void module_service::on_push(frame&& f, policy::direction d) {
  // Only the parent itself, not whatever reaches us from its side.
  if (d != policy::direction::from_parent || f.hdr.src != core_.routes().config().parent_id) {
    core_.routes().reply_dead(f.hdr, errc::protocol_error, "module_push only from the parent");
    return;
  }
  serialization::module_info m;
  if (!core_.decode_or_refuse(f, m))
    return;
  // Known before any later call is handled, so that a call right after a
  // preload waits for it instead of fetching (see load).
  {
    std::lock_guard<std::mutex> guard{push_mtx_};
    pushes_in_flight_.insert(m.name);
  }
  auto hdr = f.hdr;
  auto name = m.name;
  if (!core_.on_service_pool(hdr, [this, hdr, m = std::move(m)]() mutable {
        run_push(hdr, std::move(m));
      })) {
    // Shutting down: nobody will load it, so nobody may wait for it.
    {
      std::lock_guard<std::mutex> guard{push_mtx_};
      pushes_in_flight_.erase(name);
    }
    push_cv_.notify_all();
  }
}

void module_service::run_push(const serialization::frame_header& req, serialization::module_info m) {
  auto& r = core_.routes();
  auto finish = [&](const expected<void>& done) {
    {
      std::lock_guard<std::mutex> guard{push_mtx_};
      pushes_in_flight_.erase(m.name);
    }
    push_cv_.notify_all();
    if (!done) {
      lg()->warn("[{}] preload of module '{}' failed: {}", core_.name(), m.name,
                 done.error().reason);
      r.reply_dead(req, done.error().code, done.error().reason);
    } else if (req.reply_to != 0) {
      r.reply(req, wire_type::call_reply, serialization::buffer(serialization::frame_header::size));
    }
  };
  if (serialization::sha256_hex(m.bytes.data(), m.bytes.size()) != m.sha256)
    return finish(fail(errc::protocol_error, "module '" + m.name + "' arrived damaged"));
  // A pushed module is loaded under the same import policy as a fetched one.
  if (auto rule = r.rules()->import_refusal(m.name); !rule.empty())
    return finish(fail(errc::module_denied, denied(m.name, rule, core_.name())));
  {
    std::lock_guard<std::mutex> guard{mtx_};
    modules_[m.name] = m;
  }
  if (auto done = load(m.name, false); !done)
    return finish(done);
  // Down the subtree, ahead of anything we forward to a child afterwards.
  r.send_to_children(wire_type::module_push, m);
  finish({});
}

} // namespace mitosis::actors::services
