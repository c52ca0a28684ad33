// Rules down the tree: a context takes new rules only from its parent
// (rules_update frames, handed to the policy actor while the reading thread
// waits, so that they stay in order with the frames around them) and
// passes them on to its children.
#pragma once

#include <functional>

#include "core.hpp"
#include "../../policy/rules.hpp"

namespace mitosis::actors::services {

class rules_service {
public:
  /// Sets this process's rules through the policy actor; the failure says
  /// why they were refused.
  using setter = std::function<expected<void>(const policy::rules&)>;

  rules_service(core& c, setter set);

  /// Replaces this process's rules.
  expected<void> set(const policy::rules& r);

  /// Replaces the rules here and in every context below.
  expected<void> set_subtree(const policy::rules& r);

private:
  void on_update(const serialization::frame& f, policy::direction d);

  core& core_;
  setter set_;
};

} // namespace mitosis::actors::services
