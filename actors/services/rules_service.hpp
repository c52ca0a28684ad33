// Rules down the tree: a context takes new rules only from its parent
// (rules_update frames, handed to the policy actor while the reading thread
// waits, so that they stay in order with the frames around them) and
// passes them on to its children.
#pragma once

#include <cstdint>
#include <functional>
#include <mutex>
#include <vector>

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

  /// The rules a child started now boots with (this process's, encoded),
  /// and the count of subtree updates they include.
  struct boot_rules {
    std::vector<char> encoded;
    std::uint64_t updates = 0;
  };
  boot_rules for_boot();

  /// After child `id` was registered with the router as stream `s` (its
  /// boot frame, with rules from for_boot(), written): when a subtree
  /// update came in between, the child missed it (it was no child of the
  /// router's yet), so it is sent the rules as they are now.
  void catch_up(router::stream_id s, router::context_id id, std::uint64_t updates_at_boot);

private:
  void on_update(const serialization::frame& f, policy::direction d);

  core& core_;
  setter set_;
  // Serialises subtree updates (set, count, send to the children) with
  // the boot snapshots and catch-ups of new children.
  std::mutex subtree_mtx_;
  std::uint64_t updates_ = 0; // guarded by subtree_mtx_
};

} // namespace mitosis::actors::services
