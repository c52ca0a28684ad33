// Files across the tree: serves chunks of the paths this context serves
// (file_request / file_chunk), and fetches a file another context serves,
// with a window of chunk requests in flight.
#pragma once

#include <string>

#include "core.hpp"
#include "file_store.hpp"

namespace mitosis::actors::services {

class file_service {
public:
  explicit file_service(core& c);

  /// The paths this context serves to others (file rights).
  file_store& store() noexcept {
    return store_;
  }

  /// Copies the file `remote` that context `from` serves to `local`, in
  /// chunks of file_store::max_chunk with a window of `window` requests in
  /// flight (flow control). Each chunk must come within
  /// options::request_timeout. Throws policy_error when the path is not
  /// served there, timeout_error, context_lost, error for other failures.
  void fetch(router::context_id from, const std::string& from_name, const std::string& remote,
             const std::string& local, int window = 4);

private:
  /// Answers a file_request read on stream `from`.
  void on_request(serialization::frame&& f, router::stream_id from);

  core& core_;
  file_store store_;
};

} // namespace mitosis::actors::services
