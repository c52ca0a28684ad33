#include "errors.hpp"

#include "../serialization/frame.hpp"
#include "../serialization/messages.hpp"

namespace mitosis {

error::error(errc code, std::string context, const std::string& what)
  : std::runtime_error(what), code_(code), context_(std::move(context)) {
}

call_error::call_error(std::string context, std::string remote_type, std::string remote_message,
                       std::string remote_backtrace)
  : error(errc::remote_exception, context,
          "call in context '" + context + "' threw " + remote_type + ": " + remote_message),
    remote_type_(std::move(remote_type)),
    remote_message_(std::move(remote_message)),
    remote_backtrace_(std::move(remote_backtrace)) {
}

context_lost::context_lost(std::string context, const std::string& reason)
  : error(errc::context_lost, context, "context '" + context + "' lost: " + reason) {
}

channel_closed::channel_closed(std::string context, const std::string& reason)
  : error(errc::channel_closed, context, "context '" + context + "': " + reason) {
}

timeout_error::timeout_error(std::string context, const std::string& what)
  : error(errc::timeout, context, "context '" + context + "': " + what) {
}

policy_error::policy_error(errc code, std::string context, const std::string& reason)
  : error(code, context, "context '" + context + "' refused: " + reason) {
}

module_denied::module_denied(std::string context, const std::string& reason)
  : policy_error(errc::module_denied, std::move(context), reason) {
}

connect_error::connect_error(std::string context, const std::string& reason, errc code)
  : error(code, context, "cannot start context '" + context + "': " + reason), reason_(reason) {
}

host_key_error::host_key_error(std::string context, const std::string& reason)
  : connect_error(std::move(context), reason, errc::host_key_rejected) {
}

auth_error::auth_error(std::string context, const std::string& reason, errc code)
  : connect_error(std::move(context), reason, code) {
}

spawn_error::spawn_error(errc code, std::string context, std::string actor_type,
                         const std::string& reason)
  : error(code, context,
          "cannot spawn actor '" + actor_type + "' in context '" + context + "': " + reason),
    actor_type_(std::move(actor_type)) {
}

void throw_connect_error(errc code, std::string context, const std::string& reason) {
  switch (code) {
    case errc::host_key_rejected:
      throw host_key_error(std::move(context), reason);
    case errc::auth_failed:
    case errc::become_denied:
      throw auth_error(std::move(context), reason, code);
    case errc::timeout:
    case errc::unreachable:
    case errc::bootstrap_failed:
    case errc::handshake_mismatch:
    case errc::handshake_failed:
    case errc::context_lost:
      throw connect_error(std::move(context), reason, code);
    default:
      throw connect_error(std::move(context), reason);
  }
}

void throw_failure(failure f, const std::string& context) {
  auto who = f.context.empty() ? context : f.context;
  switch (f.code) {
    case errc::context_lost:
    case errc::shutting_down:
      throw context_lost(std::move(who), f.reason);
    case errc::timeout:
      throw timeout_error(std::move(who), f.reason);
    case errc::channel_closed:
      throw channel_closed(std::move(who), f.reason);
    case errc::module_denied:
      throw module_denied(std::move(who), f.reason);
    case errc::call_not_allowed:
    case errc::routing_not_allowed:
    case errc::file_not_allowed:
    case errc::type_not_allowed:
    case errc::source_mismatch:
      throw policy_error(f.code, std::move(who), f.reason);
    default: {
      auto what = "context '" + who + "': " + f.reason;
      throw error(f.code, std::move(who), what);
    }
  }
}

namespace detail {

namespace {

// Decodes the payload of reply `f` into `x`; an undecodable reply is an
// error naming the context.
template <class T>
void decode_reply(const serialization::frame& f, const std::string& context, T& x) {
  try {
    serialization::decode_exact(f.payload.data(), f.payload.size(), x);
  } catch (const serialization::decode_error& e) {
    throw error(e.code(), context,
                "undecodable " + std::string{serialization::type_registry::name(f.hdr.type)}
                  + " from '" + context + "': " + e.what());
  }
}

} // namespace

[[noreturn]] void throw_reply(const serialization::frame& f, const std::string& context) {
  using serialization::wire_type;
  if (f.hdr.type == serialization::to_u32(wire_type::call_error)) {
    serialization::call_error_info ce;
    decode_reply(f, context, ce);
    throw call_error(ce.context.empty() ? context : ce.context, ce.type, ce.message,
                     std::move(ce.backtrace));
  }
  if (f.hdr.type == serialization::to_u32(wire_type::dead)) {
    serialization::dead_info d;
    decode_reply(f, context, d);
    auto code = static_cast<errc>(d.code);
    switch (code) {
      case errc::context_lost:
      case errc::shutting_down:
      case errc::module_denied:
      case errc::call_not_allowed:
      case errc::routing_not_allowed:
      case errc::file_not_allowed:
      case errc::type_not_allowed:
      case errc::source_mismatch:
        throw_failure(fail(code, d.reason), context); // their own exception types
      default:
        throw error(code, context, "call to '" + context + "' failed: " + d.reason);
    }
  }
  throw error(errc::protocol_error, context,
              "unexpected " + std::string{serialization::type_registry::name(f.hdr.type)}
                + " reply from '" + context + "'");
}

} // namespace detail

} // namespace mitosis
