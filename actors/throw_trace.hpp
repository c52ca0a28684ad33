// Backtraces of the throw site for remote exceptions (call_error). While a
// throw_trace::scope lives on a thread (the call service opens one around a
// called function), every `throw` on that thread records the raw return
// addresses of its stack (glibc backtrace(), no symbols, no allocation);
// take() turns the last record into text at the catch point.
#pragma once

#include <string>

namespace mitosis::actors::throw_trace {

/// Records the stack of every throw on this thread while it lives.
class scope {
public:
  scope() noexcept;
  ~scope();
  scope(const scope&) = delete;
  scope& operator=(const scope&) = delete;

private:
  bool outer_;
};

/// Loads what the first backtrace() needs (glibc dlopens libgcc_s, the
/// unwinder reads the objects' frame tables). Once per process, on the
/// first scope; a fork server calls it before it serves, so that no child
/// it forks pays for it on its first call.
void warm() noexcept;

/// Returns the backtrace of the last throw recorded on this thread, one
/// frame a line ("#1 fail_with(...)+0x3c in prog"), innermost first and
/// cut below the call service; "" when none was recorded. Clears it.
std::string take();

} // namespace mitosis::actors::throw_trace
