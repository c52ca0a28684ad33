#include "channel.hpp"

#include "runtime.hpp"

namespace mitosis::detail {

namespace {

actors::runtime& here() {
  auto* rt = actors::runtime::current();
  if (!rt)
    throw error(errc::shutting_down, "", "no mitosis runtime in this process: make a master first");
  return *rt;
}

} // namespace

std::shared_ptr<actors::channel_state> open_receiver(std::size_t capacity,
                                                     const context* respondent) {
  std::optional<router::context_id> r;
  if (respondent)
    r = respondent->id();
  return here().channels().open(capacity, r);
}

router::context_id this_context_id() {
  return here().self();
}

serialization::frame_header channel_header(router::context_id dst, std::uint32_t handle,
                                           serialization::wire_type t) {
  return serialization::make_header(t, dst, here().self(), handle, 0);
}

void channel_post(router::context_id dst, serialization::frame_builder&& fb) {
  auto& rt = here();
  send_no_reply(rt, dst, rt.core().name_of(dst), std::move(fb));
}

void sender_encoded(router::context_id ctx, std::uint32_t handle) {
  if (!encoding_for)
    return;
  auto* rt = actors::runtime::current();
  if (!rt)
    return;
  if (rt->self() == ctx) {
    rt->channels().watch(handle, *encoding_for);
    return;
  }
  // Handed on: tell the receiver's context whom to watch. Best effort: a
  // receiver's context that cannot be reached has no use for it.
  serialization::frame_builder fb{channel_header(ctx, handle, serialization::wire_type::channel_data)};
  fb.header().flags |= serialization::frame_flags::channel_watch;
  serialization::plain_put(fb.bytes(), static_cast<std::uint32_t>(*encoding_for));
  rt->routes().send(ctx, fb.finish());
}

void throw_ended(const actors::channel_state& st) {
  auto f = st.ended_with();
  throw_failure(std::move(f), st.owner());
}

void throw_undecodable(const actors::channel_state& st, const serialization::decode_error& e) {
  throw error(e.code(), st.owner(),
              "receiver " + std::to_string(st.handle()) + " in '" + st.owner()
                + "': undecodable value: " + e.what());
}

} // namespace mitosis::detail
