// Receivers and senders (Mitogen's Receiver and Sender): a receiver<T> is
// made in one context; its sender<T>, passed as a call argument or in an
// actor message to any context, streams values into it from there. The
// receiver ends with channel_closed (sender::close), context_lost (a
// context that writes to it, or was handed its sender in a call, is lost),
// or an overflow (its queue was full). See docs/channels.md.
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>

#include <boost/serialization/split_member.hpp>
#include <caf/meta/type_name.hpp>

#include "channel_state.hpp"
#include "context.hpp"

namespace mitosis {

template <class T>
class sender;

namespace detail {

/// Makes a receiver in this process (runtime::current()); throws
/// mitosis::error when there is none. `respondent` may be null.
std::shared_ptr<actors::channel_state> open_receiver(std::size_t capacity,
                                                     const context* respondent);

/// The id of this process's context.
router::context_id this_context_id();

/// A header for a channel frame of type `t` to the receiver `handle` of
/// context `dst`, from this process.
serialization::frame_header channel_header(router::context_id dst, std::uint32_t handle,
                                           serialization::wire_type t);

/// Sends a channel frame; throws context_lost or error when it cannot go.
void channel_post(router::context_id dst, serialization::frame_builder&& fb);

/// A sender of the receiver `handle` of `ctx` is being encoded: when the
/// receiver lives here and the encoding is for a call (encoding_for), the
/// receiver watches the called context.
void sender_encoded(router::context_id ctx, std::uint32_t handle);

/// Throws the exception the end of `st` stands for.
[[noreturn]] void throw_ended(const actors::channel_state& st);

/// Throws the decode error of a value taken from `st` as mitosis::error.
[[noreturn]] void throw_undecodable(const actors::channel_state& st,
                                    const serialization::decode_error& e);

} // namespace detail

/// Where values of type T arrive. Not copyable; movable. Values are encoded
/// as call arguments are (plain codec or Boost). At most `capacity` values
/// wait in its queue: a value that finds it full ends the receiver with an
/// error of code channel_overflow (the values queued before it are still
/// taken first).
template <class T>
class receiver {
public:
  static constexpr std::size_t default_capacity = 4096;

  /// A receiver in this process that takes values from any context.
  explicit receiver(std::size_t capacity = default_capacity)
    : st_(detail::open_receiver(capacity, nullptr)), self_(detail::this_context_id()) {}

  /// A receiver that takes values from `respondent` only, and ends with
  /// context_lost when it is lost (even before it sent anything).
  explicit receiver(const context& respondent, std::size_t capacity = default_capacity)
    : st_(detail::open_receiver(capacity, &respondent)), self_(detail::this_context_id()) {}

  receiver(receiver&&) noexcept = default;
  receiver& operator=(receiver&&) noexcept = default;

  /// A sender for this receiver, to pass to any context.
  sender<T> to_sender() const {
    return sender<T>{self_, st_->handle()};
  }

  /// Waits for the next value. Throws channel_closed once its sender
  /// closed it and every value is taken, context_lost when a context that
  /// writes to it is lost, error (channel_overflow, shutting_down).
  T get() {
    return take(std::chrono::steady_clock::time_point::max()).value();
  }

  /// Like get(), but throws timeout_error once `d` has passed.
  template <class Rep, class Period>
  T get_for(std::chrono::duration<Rep, Period> d) {
    auto until = std::chrono::steady_clock::now()
                 + std::chrono::duration_cast<std::chrono::steady_clock::duration>(d);
    if (auto v = take(until))
      return std::move(*v);
    throw timeout_error(st_->owner(),
                        "receiver " + std::to_string(st_->handle()) + ": no value within "
                          + std::to_string(
                            std::chrono::duration_cast<std::chrono::milliseconds>(d).count())
                          + " ms");
  }

  /// The next value, or nullopt once the receiver was closed (for loops:
  /// `while (auto v = rx.next())`). Throws what get() throws otherwise.
  std::optional<T> next() {
    try {
      return get();
    } catch (const channel_closed&) {
      return std::nullopt;
    }
  }

  /// A value if one is queued, else nullopt, without waiting. Throws what
  /// get() throws once the receiver has ended and is empty.
  std::optional<T> try_get() {
    return take(std::chrono::steady_clock::time_point::min());
  }

  /// Whether get() would not wait (a value is queued, or it has ended).
  bool ready() const {
    return st_->ready();
  }

  std::uint32_t handle() const noexcept {
    return st_->handle();
  }

  /// The shared state (mitosis::select waits on it).
  const std::shared_ptr<actors::channel_state>& state() const noexcept {
    return st_;
  }

private:
  std::optional<T> take(std::chrono::steady_clock::time_point until) {
    serialization::buffer b;
    switch (st_->take(b, until)) {
      case actors::channel_state::taken::timeout:
        return std::nullopt;
      case actors::channel_state::taken::ended:
        detail::throw_ended(*st_);
      case actors::channel_state::taken::value:
        break;
    }
    T v{};
    try {
      serialization::get_values(b.data(), b.size(), v);
    } catch (const serialization::decode_error& e) {
      detail::throw_undecodable(*st_, e);
    }
    return v;
  }

  std::shared_ptr<actors::channel_state> st_;
  router::context_id self_;
};

/// Sends values to one receiver, from any context: (context id, receiver
/// handle). Encodable as a call argument (Boost) and in an actor message
/// (CAF inspect; register it with MITOSIS_ACTOR_MESSAGE_TYPE).
template <class T>
class sender {
public:
  sender() = default;
  sender(router::context_id ctx, std::uint32_t handle) : ctx_(ctx), handle_(handle) {}

  /// Sends `v` to the receiver without waiting. Throws context_lost when
  /// the receiver's context is lost (error when it cannot be reached). A
  /// value for a receiver that has ended or is gone is dropped there.
  void send(const T& v) const {
    serialization::frame_builder fb{
      detail::channel_header(ctx_, handle_, serialization::wire_type::channel_data)};
    serialization::put_values(fb.bytes(), v);
    detail::channel_post(ctx_, std::move(fb));
  }

  /// Ends the receiver with channel_closed once it has taken the values
  /// sent before.
  void close() const {
    detail::channel_post(ctx_, serialization::frame_builder{detail::channel_header(
                                 ctx_, handle_, serialization::wire_type::channel_close)});
  }

  router::context_id context_id() const noexcept {
    return ctx_;
  }
  std::uint32_t handle() const noexcept {
    return handle_;
  }

  template <class Ar>
  void save(Ar& ar, unsigned) const {
    detail::sender_encoded(ctx_, handle_);
    ar& ctx_& handle_;
  }
  template <class Ar>
  void load(Ar& ar, unsigned) {
    ar& ctx_& handle_;
  }
  BOOST_SERIALIZATION_SPLIT_MEMBER()

  template <class Inspector>
  friend typename Inspector::result_type inspect(Inspector& f, sender& x) {
    return f(caf::meta::type_name("mitosis::sender"), x.ctx_, x.handle_);
  }

private:
  router::context_id ctx_ = 0;
  std::uint32_t handle_ = 0;
};

} // namespace mitosis
