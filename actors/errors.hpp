// The exceptions of the user API. Each what() names the context and cause.
#pragma once

#include <stdexcept>
#include <string>

#include "mitosis/serialization/errc.hpp"

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
  call_error(std::string context, std::string remote_type, std::string remote_message);
  const std::string& remote_type() const noexcept {
    return remote_type_;
  }
  const std::string& remote_message() const noexcept {
    return remote_message_;
  }

private:
  std::string remote_type_;
  std::string remote_message_;
};

/// The context (or a hop on the way to it) is gone.
class context_lost : public error {
public:
  context_lost(std::string context, const std::string& reason);
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

/// A context could not be started or handshaken.
class connect_error : public error {
public:
  connect_error(std::string context, const std::string& reason);
};

} // namespace mitosis
