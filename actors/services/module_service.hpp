// Plugin modules: shared objects of MITOSIS_REMOTE functions that a context
// fetches from its parent on first use (module_request / module_data), or
// that the master pushes down a subtree ahead of use (module_push), each
// verified by its sha256 and loaded under the import policy.
#pragma once

#include <atomic>
#include <condition_variable>
#include <future>
#include <map>
#include <mutex>
#include <set>
#include <string>

#include "core.hpp"

namespace mitosis::actors::services {

class module_service {
public:
  explicit module_service(core& c);

  /// Makes the module in the shared object at `path` available to the
  /// contexts below (they fetch it on first use, by content hash).
  expected<void> add(const std::string& name, const std::string& path);

  /// Sends module `name` to the direct child `to`, which loads it and passes
  /// it on to its own children; returns once `to` has.
  expected<void> push(router::context_id to, const std::string& name);

  /// Loads module `name` here, fetching it from the parent when needed
  /// (after any push of it already read has been loaded).
  expected<void> load(const std::string& name) {
    return load(name, true);
  }

  /// How many module requests this context has answered with the module.
  int served() const noexcept {
    return served_.load();
  }

  /// How many module fetches from the parent are under way.
  std::size_t fetching() const;

private:
  using fetched = std::shared_future<expected<serialization::module_info>>;

  expected<void> load(const std::string& name, bool wait_for_push);
  /// The module's bytes, from here or from the parent. No lock is held
  /// while the parent answers; one fetch per name at a time, whose answer
  /// every asker of that name shares.
  expected<serialization::module_info> bytes(const std::string& name);
  expected<serialization::module_info> fetch(const std::string& name);
  /// Writes the module to the plugin directory (by sha256) and dlopens it.
  expected<void> install(const serialization::module_info& m);
  /// Answers a module_request read on stream `from`.
  void on_request(serialization::frame&& f, router::stream_id from);
  void on_push(serialization::frame&& f, policy::direction d);
  void run_push(const serialization::frame_header& req, serialization::module_info m);

  core& core_;
  mutable std::mutex mtx_; // guards modules_, fetching_, loaded_; never held while waiting
  std::map<std::string, serialization::module_info> modules_;
  std::map<std::string, fetched> fetching_;
  // Loaded here: name -> sha256. A name stands for one content per
  // process: its functions are registered once.
  std::map<std::string, std::string> loaded_;
  std::mutex load_mtx_; // one install and dlopen at a time
  std::atomic<int> served_{0};
  // Modules whose push has been read but not yet loaded.
  std::mutex push_mtx_;
  std::condition_variable push_cv_;
  std::set<std::string> pushes_in_flight_;
};

} // namespace mitosis::actors::services
