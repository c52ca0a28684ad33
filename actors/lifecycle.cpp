// The lifecycle of one context through its handle (shutdown, disconnect,
// loss callbacks, detach), and detaching the process this code runs in.
#include "context.hpp"
#include "here.hpp"
#include "runtime.hpp"

namespace mitosis {

namespace detail {

namespace {

actors::runtime& runtime_of(actors::runtime* rt, const std::string& context) {
  if (!rt)
    throw error(errc::no_route, context, "an empty context handle");
  return *rt;
}

} // namespace

/// What context::detach runs in the context it detaches.
bool detach_context() {
  mitosis::detach();
  return true;
}

} // namespace detail

MITOSIS_REMOTE(detail::detach_context);

void context::shutdown(bool wait, std::chrono::milliseconds timeout) const {
  auto& rt = detail::runtime_of(rt_, name_);
  std::optional<std::chrono::steady_clock::time_point> until;
  if (wait) {
    auto t = timeout.count() ? timeout : rt.options().shutdown_grace + rt.options().request_timeout;
    until = std::chrono::steady_clock::now() + t;
  }
  if (auto done = rt.lifecycle().shutdown(id_, name_, until); !done)
    throw_failure(std::move(done).error(), name_);
}

void context::disconnect() const {
  auto& rt = detail::runtime_of(rt_, name_);
  if (auto done = rt.lifecycle().disconnect(id_, name_); !done)
    throw_failure(std::move(done).error(), name_);
}

void context::on_lost(std::function<void(const std::string& reason)> fn) const {
  detail::runtime_of(rt_, name_).core().on_lost(id_, std::move(fn));
}

void context::detach() const {
  call(&detail::detach_context);
}

void detach() {
  auto& rt = detail::current_runtime();
  if (auto done = rt.lifecycle().detach(); !done)
    throw_failure(std::move(done).error(), rt.name());
}

} // namespace mitosis
