// The exceptions of the user API. Each what() names the context and cause.
#pragma once

#include <stdexcept>
#include <string>

#include "../serialization/expected.hpp"
#include "../serialization/fwd.hpp"

namespace mitosis {

/// Base of every mitosis exception.
class error : public std::runtime_error {
public:
  error(errc code, std::string context, const std::string& what);
  errc code() const noexcept {
    return code_;
  }
  /// Returns the name of the context the failure concerns.
  const std::string& context() const noexcept {
    return context_;
  }

private:
  errc code_;
  std::string context_;
};

/// A remote function threw: carries the remote exception's type and message.
class call_error : public error {
public:
  call_error(std::string context, std::string remote_type, std::string remote_message,
             std::string remote_backtrace = {});
  const std::string& remote_type() const noexcept {
    return remote_type_;
  }
  const std::string& remote_message() const noexcept {
    return remote_message_;
  }
  /// The stack where the remote exception was thrown, innermost frame
  /// first, one a line ("#1 fail_with(...)+0x3c in prog"); names need the
  /// program's symbols exported (-rdynamic). Empty when the exception did
  /// not come from a `throw` inside the called function.
  const std::string& remote_backtrace() const noexcept {
    return remote_backtrace_;
  }

private:
  std::string remote_type_;
  std::string remote_message_;
  std::string remote_backtrace_;
};

/// The context (or a hop on the way to it) is gone.
class context_lost : public error {
public:
  context_lost(std::string context, const std::string& reason);
};

/// A receiver's sender closed it (sender::close), and every value sent
/// before the close has been taken. context() names the closing context.
class channel_closed : public error {
public:
  channel_closed(std::string context, const std::string& reason);
};

/// A call's deadline passed before its reply arrived.
class timeout_error : public error {
public:
  timeout_error(std::string context, const std::string& what);
};

/// The peer's policy refused the call or message.
class policy_error : public error {
public:
  policy_error(errc code, std::string context, const std::string& reason);
};

/// A plugin module was refused by the import policy of the context asked
/// for it; what() names the module and the rule.
class module_denied : public policy_error {
public:
  module_denied(std::string context, const std::string& reason);
};

/// A context could not be started or handshaken. context() names the hop
/// chain ("ssh:h4 via ssh:h1"); code() tells the cause (spawn_failed,
/// timeout, unreachable, bootstrap_failed, ...).
class connect_error : public error {
public:
  connect_error(std::string context, const std::string& reason,
                errc code = errc::spawn_failed);
  /// The cause alone, without "cannot start context '...'".
  const std::string& reason() const noexcept {
    return reason_;
  }

private:
  std::string reason_;
};

/// The target's host key is unknown or changed (known_hosts check); what()
/// names host, port and the key's SHA-256 fingerprint.
class host_key_error : public connect_error {
public:
  host_key_error(std::string context, const std::string& reason);
};

/// Authentication was refused: wrong password, no accepted key, or (code
/// become_denied) the user may not become the target user.
class auth_error : public connect_error {
public:
  auth_error(std::string context, const std::string& reason, errc code = errc::auth_failed);
};

/// An actor could not be spawned in a context: its type is not registered
/// there (unknown_actor), the handle's interface does not match the type's
/// (actor_interface_mismatch), or the arguments do not match its parameters
/// (bad_actor_arguments). what() names the actor type and the context.
class spawn_error : public error {
public:
  spawn_error(errc code, std::string context, std::string actor_type, const std::string& reason);
  const std::string& actor_type() const noexcept {
    return actor_type_;
  }

private:
  std::string actor_type_;
};

/// Throws the connect_error subclass that matches `code`.
[[noreturn]] void throw_connect_error(errc code, std::string context, const std::string& reason);

/// Throws the exception the failure `f` stands for, about `context` (or
/// f.context when set): context_lost, timeout_error, module_denied,
/// policy_error, or error.
[[noreturn]] void throw_failure(failure f, const std::string& context);

namespace detail {
/// Throws the exception a call_error or dead reply frame stands for.
[[noreturn]] void throw_reply(const serialization::frame& f, const std::string& context);
} // namespace detail

} // namespace mitosis
