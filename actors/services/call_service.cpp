#include "call_service.hpp"

#include <cstring>
#include <cxxabi.h>
#include <memory>
#include <spdlog/spdlog.h>

#include "../function_registry.hpp"
#include "../throw_trace.hpp"
#include "../../serialization/log.hpp"
#include "../../serialization/plain_codec.hpp"

namespace mitosis::actors::services {

using serialization::frame;
using serialization::frame_header;
using serialization::wire_type;

namespace {

std::string demangle(const char* name) {
  int status = 0;
  std::unique_ptr<char, void (*)(void*)> p{abi::__cxa_demangle(name, nullptr, nullptr, &status),
                                           std::free};
  return status == 0 && p ? std::string{p.get()} : std::string{name};
}

} // namespace

call_service::call_service(core& c, module_service& modules)
  : core_(c),
    modules_(modules),
    chains_(c, [this](frame&& f, policy::direction d, router::stream_id from) {
      return run(std::move(f), d, from);
    }) {
  c.routes().handlers().add(wire_type::call_request,
                            [this](frame&& f, policy::direction d, router::stream_id from) {
                              namespace flags = serialization::frame_flags;
                              const bool chained = f.hdr.flags & flags::chained;
                              std::shared_ptr<void> admitted;
                              // A chain_reset is never refused: it only
                              // clears a chain's error.
                              if (!(chained && (f.hdr.flags & flags::chain_reset))
                                  && !core_.admit_call(f.hdr, from,
                                                       d == policy::direction::from_child,
                                                       admitted)) {
                                if (chained)
                                  chains_.refused(f.hdr, d, from, over_limit());
                                return;
                              }
                              if (chained) {
                                chains_.submit(std::move(f), d, from, std::move(admitted));
                                return;
                              }
                              auto hdr = f.hdr;
                              core_.on_pool(hdr, [this, d, from, f = std::move(f),
                                                  admitted = std::move(admitted)]() mutable {
                                run(std::move(f), d, from);
                              });
                            });
}

serialization::call_error_info call_service::over_limit() const {
  return {"mitosis::error(" + std::string{to_string(errc::limit_exceeded)} + ")",
          "call_request refused: the calls from this stream queued or running here reached "
          "max_pending_calls or max_pending_bytes",
          core_.name(), {}};
}

std::optional<serialization::call_error_info> call_service::run(frame&& f, policy::direction d,
                                                               router::stream_id from) {
  auto& r = core_.routes();
  const auto& h = f.hdr;
  // Counted for context::stats (relaxed: two uncontended atomics a call).
  struct counted {
    call_service& s;
    explicit counted(call_service& c) : s(c) {
      s.running_.fetch_add(1, std::memory_order_relaxed);
    }
    ~counted() {
      s.running_.fetch_sub(1, std::memory_order_relaxed);
      s.served_.fetch_add(1, std::memory_order_relaxed);
    }
  } count{*this};
  const bool want_reply = h.reply_to != 0 && !(h.flags & serialization::frame_flags::no_reply);
  const bool chained = h.flags & serialization::frame_flags::chained;
  auto refused = [&](errc code, const std::string& why) {
    return serialization::call_error_info{"mitosis::error(" + std::string{to_string(code)} + ")",
                                          why, core_.name(), {}};
  };
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
    auto pol = r.rules();
    // The neighbour's own call rights bound what comes through it (looked
    // up only when some context has rights of its own).
    auto peer = h.src;
    if (from != 0 && !pol->callable_by_context.empty())
      peer = r.peer_of(from).value_or(h.src);
    if (!pol->allows_call(d, h.src, peer, fn)) {
      auto detail = "call to '" + fn + "' from " + policy::to_string(d) + " "
                    + std::to_string(h.src) + " not allowed by policy";
      if (from != 0)
        r.report_violation(from, errc::call_not_allowed, h, detail);
      else
        r.reply_dead(h, errc::call_not_allowed, detail);
      return refused(errc::call_not_allowed, detail);
    }
    auto* entry = function_registry::instance().find(fn);
    if (!entry && fn.find('|') != std::string::npos) {
      // A plugin function we lack: fetch its module from our parent.
      if (auto loaded = modules_.load(fn.substr(0, fn.find('|'))); !loaded) {
        r.refuse(from, h, loaded.error().code, loaded.error().reason);
        return refused(loaded.error().code, loaded.error().reason);
      }
      entry = function_registry::instance().find(fn);
    }
    if (!entry) {
      r.refuse(from, h, errc::unknown_function, "function '" + fn + "' is not registered");
      return refused(errc::unknown_function, "function '" + fn + "' is not registered");
    }
    serialization::buffer out(frame_header::size);
    std::string ex_type, ex_what, ex_trace;
    try {
      throw_trace::scope traced;
      args.data = in.position();
      args.size = in.remaining();
      entry->invoke(args, out);
    } catch (const serialization::decode_error&) {
      throw;
    } catch (const std::exception& e) {
      ex_type = demangle(typeid(e).name());
      ex_what = e.what();
      ex_trace = throw_trace::take();
    } catch (...) {
      ex_type = "unknown exception";
      ex_what = "(not a std::exception)";
      ex_trace = throw_trace::take();
    }
    if (!ex_type.empty()) {
      serialization::call_error_info info{ex_type, ex_what, core_.name(), std::move(ex_trace)};
      if (want_reply) {
        serialization::buffer err(frame_header::size);
        serialization::encode_into(err, info);
        r.reply(h, wire_type::call_error, std::move(err));
      } else if (!chained) { // a chain reports it to its next call
        lg()->warn("[{}] {} threw {}: {}", core_.name(), fn, ex_type, ex_what);
      }
      return info;
    }
    if (want_reply)
      r.reply(h, wire_type::call_reply, std::move(out));
    return std::nullopt;
  } catch (const serialization::decode_error& e) {
    lg()->warn("[{}] undecodable call{} from context {}: {}", core_.name(),
                             fn.empty() ? "" : " to '" + fn + "'", h.src, e.what());
    r.refuse(from, h, e.code(), e.what());
    return refused(e.code(), e.what());
  }
}

} // namespace mitosis::actors::services
