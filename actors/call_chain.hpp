// Pipelined call chains (Mitogen's CallChain(pipelined=True)): the calls of
// a chain go out without waiting and run in order in the callee; once one
// throws, the chain's later calls do not run, and its next replying call
// fails with that exception, until reset(). See docs/channels.md.
#pragma once

#include <cstdint>
#include <utility>

#include "context.hpp"

namespace mitosis {

namespace detail {
/// A chain id unique in this process.
std::uint32_t next_chain_id() noexcept;
} // namespace detail

class call_chain {
public:
  explicit call_chain(const context& ctx) : ctx_(ctx), id_(detail::next_chain_id()) {}

  /// reset(): the callee forgets the chain's exception (errors ignored).
  ~call_chain();
  call_chain(const call_chain&) = delete;
  call_chain& operator=(const call_chain&) = delete;

  /// Sends `fn(args...)` without waiting. If it throws, the chain's later
  /// calls are not run and its next call() or call_async() fails with a
  /// call_error carrying the exception. Throws context_lost at once when
  /// the context is known to be lost.
  template <class R, class... Ps, class... As>
  void call_no_reply(R (*fn)(Ps...), As&&... args) {
    auto fb = ctx_.make_call(fn, std::forward<As>(args)...);
    fb.header().reply_to = 0;
    fb.header().flags |= serialization::frame_flags::no_reply;
    send_no_reply(std::move(fb));
  }

  /// Sends `fn(args...)`; its future yields the result, or throws the
  /// exception of an earlier call of the chain (call_error).
  template <class R, class... Ps, class... As>
  future<R> call_async(R (*fn)(Ps...), As&&... args) {
    auto fb = ctx_.make_call(fn, std::forward<As>(args)...);
    mark(fb);
    auto handle = fb.header().reply_to;
    return future<R>{detail::send_call(*ctx_.rt_, ctx_.id_, std::move(fb)), ctx_.rt_, handle,
                     ctx_.name_, ctx_.id_};
  }

  /// Calls `fn(args...)` and returns its result: one round trip for it and
  /// every no-reply call sent before it.
  template <class R, class... Ps, class... As>
  R call(R (*fn)(Ps...), As&&... args) {
    return call_async(fn, std::forward<As>(args)...).get();
  }

  /// Makes the callee forget the chain's exception: later calls run again.
  void reset();

  std::uint32_t id() const noexcept {
    return id_;
  }
  const context& target() const noexcept {
    return ctx_;
  }

private:
  void mark(serialization::frame_builder& fb) const {
    fb.header().flags |= serialization::frame_flags::chained;
    fb.header().handle = id_;
  }
  void send_no_reply(serialization::frame_builder&& fb) const;

  context ctx_;
  std::uint32_t id_;
};

} // namespace mitosis
